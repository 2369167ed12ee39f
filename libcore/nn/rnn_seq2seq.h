// "rnn": RNN encoder-decoder with additive attention (Bahdanau et al. 2015, "Neural Machine
// Translation by Jointly Learning to Align and Translate"), a seq2seq Model.
//
// Encoder:  x_s = dropout(src_emb[src_s])                                   (B, S, emb_dim)
//           M, h_n = (bi)GRU or LSTM stack over x with src != pad_id         M (B, S, E), E = dirs*enc_hidden
// Bridge:   s_0 = tanh(bridge([h_n of the top layer's forward; reverse direction]))   (B, dec_hidden)
//           (LSTM decoder: c_0 = 0)
// Decoder step t = 0 .. T-1 (teacher forcing: y_{t-1} = tgt_in[:, t]):
//           ctx_t, α_t = attn(query = s_{t-1}, keys = values = M, key mask = src != pad_id)
//           s_t = cell([dropout(tgt_emb[y_{t-1}]); ctx_t], s_{t-1})          (B, dec_hidden)
//           logits_t = out(dropout([s_t; ctx_t]))                           (B, tgt_vocab)
// Loss:     cross-entropy (label smoothing optional) over targets tgt_out != pad_id.
//
// The attention query is the previous decoder state and the context enters the recurrent cell,
// as in Bahdanau's model; the output layer is one linear map over [s_t; ctx_t] (Bahdanau's
// deep-output maxout layer is left out). Decoder steps are not masked: targets after the end
// are ignored by the loss, so their (padding-input) steps contribute no gradient.
//
// Parameters (PyTorch names and shapes, state_dict order; D = 2 if bidirectional else 1,
// G = 3 for gru, 4 for lstm; the PyTorch twin is scripts/torch/rnn_seq2seq.py):
//   src_emb.weight (src_vocab, emb_dim)              tgt_emb.weight (tgt_vocab, emb_dim)
//   encoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}[_reverse]   nn.GRU / nn.LSTM layout
//   bridge.weight (dec_hidden, E)   bridge.bias (dec_hidden)
//   attn.w_q.weight (attn_dim, dec_hidden)   attn.w_k.weight (attn_dim, E)   attn.w_k.bias (attn_dim)
//   attn.v (attn_dim)
//   decoder.weight_ih (G*dec_hidden, emb_dim + E)  decoder.weight_hh (G*dec_hidden, dec_hidden)
//   decoder.bias_ih, decoder.bias_hh (G*dec_hidden)               nn.GRUCell / nn.LSTMCell layout
//   out.weight (tgt_vocab, dec_hidden + E)   out.bias (tgt_vocab)
#pragma once
#include <cstdint>
#include <vector>

#include "nn/additive_attention.h"
#include "nn/model.h"
#include "nn/rnn.h"

namespace qkv::nn {

class RnnSeq2Seq : public Model {
 public:
  // Config keys (defaults): src_vocab, tgt_vocab (required), pad_id (0), cell (gru|lstm),
  // emb_dim (128), enc_hidden (128), enc_layers (1), bidirectional (1), dec_hidden (256),
  // attn_dim (dec_hidden), dropout (0.1), label_smoothing (0.0).
  RnnSeq2Seq(const Config& config, uint64_t seed);

  Task task() const override { return Task::seq2seq; }
  void check_batch(const Batch& b) const override;
  Stats forward(const Batch& b, bool training) override;
  void backward(float scale = 1.0f) override;
  const float* logits() const override { return logits_.data(); }
  std::vector<std::vector<int32_t>> greedy_decode(const Batch& b, int64_t max_len, int32_t bos,
                                                  int32_t eos) override;

  // Attention weights (B, T, S) of the last forward() or greedy_decode() (T = decoded steps),
  // each row summing to 1 over the real source positions.
  const std::vector<float>& attention_weights() const { return alpha_; }
  int64_t attention_steps() const { return alpha_T_; }

  int64_t src_vocab() const { return Vs_; }
  int64_t tgt_vocab() const { return Vt_; }
  int32_t pad_id() const { return pad_; }

 private:
  void encode(const Batch& b, bool training);
  // One decoder step for all B rows: input token ids (B), state in/out; fills step caches at t.
  void decoder_step(int64_t t, const int32_t* ids, int64_t ids_stride, bool training);
  void alloc_decoder(int64_t B, int64_t S, int64_t T);

  // hyperparameters
  int64_t Vs_ = 0, Vt_ = 0, emb_ = 0, He_ = 0, L_ = 1, Hd_ = 0, A_ = 0;
  bool bidir_ = true;
  int32_t pad_ = 0;
  RnnCell cell_ = RnnCell::gru;
  float dropout_ = 0.0f, smoothing_ = 0.0f;
  RnnStackShape enc_shape_;
  int64_t E_ = 0;  // encoder output width

  // parameters
  ParamId src_emb_ = -1, tgt_emb_ = -1, bridge_w_ = -1, bridge_b_ = -1;
  ParamId att_wq_ = -1, att_wk_ = -1, att_bk_ = -1, att_v_ = -1;
  ParamId dec_wih_ = -1, dec_whh_ = -1, dec_bih_ = -1, dec_bhh_ = -1, out_w_ = -1, out_b_ = -1;
  std::vector<ParamId> enc_ids_;  // 4 per layer*direction: w_ih, w_hh, b_ih, b_hh
  std::vector<RnnWeights> enc_weights() const;
  std::vector<RnnGrads> enc_grads();
  RnnWeights dec_weights() const;

  // forward state kept for backward
  int64_t B_ = 0, S_ = 0, T_ = 0;
  bool training_ = false;
  std::vector<int32_t> src_, tgt_in_, tgt_out_;
  std::vector<uint8_t> src_mask_;            // (B, S)
  std::vector<float> src_x_;                 // (B, S, emb) after dropout
  std::vector<uint8_t> src_drop_;            // (B, S, emb)
  RnnStackCache enc_cache_;
  std::vector<float> mem_;                   // (B, S, E) encoder outputs = attention keys/values
  std::vector<float> enc_hn_, enc_cn_;       // (L*D, B, He)
  std::vector<float> bridge_in_;             // (B, E)
  std::vector<float> kp_;                    // (B, S, A)
  // decoder, step-major caches
  std::vector<float> state_;                 // (T+1, B, Hd): s_0 .. s_T
  std::vector<float> cstate_;                // (T+1, B, Hd): LSTM cells
  std::vector<float> dec_x_;                 // (T, B, emb + E): [embedding; context] per step
  std::vector<uint8_t> tgt_drop_;            // (T, B, emb)
  std::vector<float> dec_cache_;             // (T, B, cache_width)
  std::vector<float> ctx_;                   // (T, B, E)
  std::vector<float> alpha_;                 // (B, T, S)
  int64_t alpha_T_ = 0;
  std::vector<float> gx_, gh_scratch_;       // (B, G*Hd)
  std::vector<float> feat_;                  // (B, T, Hd + E): [s_t; ctx_t] after dropout
  std::vector<uint8_t> feat_drop_;           // (B, T, Hd + E)
  std::vector<float> logits_, probs_;        // (B, T, V)
  std::vector<float> attn_scratch_;
  double ce_count_ = 0;
  Stats last_;
};

}  // namespace qkv::nn
