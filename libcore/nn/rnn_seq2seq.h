// "rnn": RNN encoder-decoder with additive attention (Bahdanau et al. 2015, "Neural Machine
// Translation by Jointly Learning to Align and Translate"), a seq2seq Model.
//
// Hyperparameters (config keys, defaults): src_vocab_size (1000), tgt_vocab_size (1000),
// pad_id (0), cell (gru | lstm), n_layer (1), d_emb (128), d_hidden (256), d_attn (d_hidden),
// bidirectional (1), dropout (0.1), tie_weights (0), label_smoothing (0).
// Widths: the decoder state is d_hidden; the encoder's output E = d_hidden too, i.e. each
// encoder direction has d_hidden / 2 units when bidirectional (OpenNMT's convention), so
// d_hidden must be even then.
//
// Encoder:  x = dropout(src_emb[src])                                       (B, S, d_emb)
//           M, h_n = n_layer (bi)GRU/LSTM stack over x, steps with src == pad_id skipped,
//                    dropout between layers                                (B, S, E)
// Bridge:   decoder layer l starts at s^l_0 = tanh(bridge([h_n fwd; h_n rev] of encoder layer l))
//           (one bridge shared by the layers; an LSTM decoder's cells start at 0)
// Decoder step t = 0 .. T-1 (teacher forcing: y_{t-1} = tgt_in[:, t]):
//           ctx_t, α_t = attn(query = s^top_{t-1}, keys = values = M, key mask = src != pad_id)
//           s^0_t = cell_0([dropout(tgt_emb[y_{t-1}]); ctx_t], s^0_{t-1})
//           s^l_t = cell_l(dropout(s^{l-1}_t), s^l_{t-1})                     l = 1 .. n_layer-1
//           f_t = dropout([s^top_t; ctx_t])                                  (B, d_hidden + E)
//           logits_t = out(f_t), or with tie_weights: tgt_emb.weight @ out_proj(f_t) + out.bias
// Loss:     cross-entropy (label smoothing optional) over targets tgt_out != pad_id.
//
// As in Bahdanau's model, the attention query is the previous decoder state and the context
// enters the recurrent cell; the output layer is one linear map over [s_t; ctx_t] (Bahdanau's
// deep-output maxout layer is left out). Decoder steps are not masked: targets after the end
// are ignored by the loss, so those steps get no gradient.
//
// Parameters (PyTorch names and shapes, state_dict order; D = 2 if bidirectional else 1,
// He = d_hidden / D, G = 3 for gru, 4 for lstm; the PyTorch twin is scripts/torch/rnn_seq2seq.py):
//   src_emb.weight (src_vocab_size, d_emb)     tgt_emb.weight (tgt_vocab_size, d_emb)
//   encoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}[_reverse]   nn.GRU / nn.LSTM layout
//   bridge.weight (d_hidden, E)   bridge.bias (d_hidden)
//   attn.w_q.weight (d_attn, d_hidden)   attn.w_k.weight (d_attn, E)   attn.w_k.bias (d_attn)
//   attn.v (d_attn)
//   decoder.layers.{l}.weight_ih (G*d_hidden, l == 0 ? d_emb + E : d_hidden)
//   decoder.layers.{l}.weight_hh (G*d_hidden, d_hidden)   .bias_ih, .bias_hh (G*d_hidden)
//   out.weight (tgt_vocab_size, d_hidden + E)   out.bias (tgt_vocab_size)
//   with tie_weights: out_proj.weight (d_emb, d_hidden + E), out_proj.bias (d_emb) and out.bias
//   (out.weight is tgt_emb.weight).
#pragma once
#include <cstdint>
#include <vector>

#include "nn/additive_attention.h"
#include "nn/model.h"
#include "nn/model_parts.h"
#include "nn/rnn.h"

namespace qkv::nn {

class RnnSeq2Seq : public Model {
 public:
  RnnSeq2Seq(const Config& config, uint64_t seed, Build build = Build::full);

  void check_batch(const Batch& b) const override;
  Stats forward(const Batch& b, bool training) override;
  void backward(float scale = 1.0f) override;
  const float* logits() const override { return logits_.data(); }
  std::unique_ptr<Decoder> decoder() override;

  // One map "attn", kind "additive": weights (B, 1, T, S) of the last forward(), each row summing to 1 over the real source
  // positions (exactly 0 at padding).
  std::vector<AttentionMap> attention_maps() const override;

 private:
  friend class RnnStepDecoder;  // incremental decoding (nn/decoder.h), in rnn_seq2seq.cpp

  void encode(const Batch& b, bool training);
  // s0 (B, Hd) = tanh(bridge(bridge_in (B, E))): a decoder layer's first state.
  void bridge(const float* bridge_in, int64_t B, float* s0);
  void start_decoder(int64_t T);
  // One decoder step of B rows through every layer, for training and decoding alike.
  struct StepIo {
    int64_t B = 0, S = 0;
    const float* mem = nullptr;     // (B, S, E) row b's encoder outputs
    const float* kp = nullptr;      // (B, S, A) their key projections
    const uint8_t* mask = nullptr;  // (B, S) 1 = real source token
    std::vector<const float*> h_prev, c_prev;  // per layer (B, Hd); c: LSTM only (else null)
    std::vector<float*> h, c;                  // per layer (B, Hd): the new states
    std::vector<float*> in;                    // per layer (B, emb + E | Hd): the cell inputs
    std::vector<uint8_t*> drop;                // per layer (B, emb | Hd): dropout masks
    std::vector<float*> cache;                 // per layer (B, rnn_cache_width)
    float* ctx = nullptr;                      // (B, E)
    float* alpha = nullptr;                    // row b's attention (S) at alpha + b * alpha_stride
    int64_t alpha_stride = 0;
  };
  // ids: previous tokens, row b at ids[b * ids_stride]; p: dropout probability (0 = inference).
  void run_step(const StepIo& io, const int32_t* ids, int64_t ids_stride, float p);
  // Decoder step t for all B rows; ids: previous tokens, row b at ids[b * ids_stride].
  void decoder_step(int64_t t, const int32_t* ids, int64_t ids_stride, bool training);
  // logits (n, V) of features (n, d_hidden + E); proj (n, d_emb) keeps out_proj's output (tie_weights).
  void output_forward(const float* feat, int64_t n, float* logits, float* proj);
  float* state(int64_t l, int64_t t) { return state_.data() + (l * (T_ + 1) + t) * B_ * Hd_; }
  float* cstate(int64_t l, int64_t t) { return cstate_.data() + (l * (T_ + 1) + t) * B_ * Hd_; }

  // hyperparameters
  int64_t Vs_ = 0, Vt_ = 0, emb_ = 0, Hd_ = 0, He_ = 0, L_ = 1, A_ = 0, E_ = 0, F_ = 0;
  bool bidir_ = true, tied_ = false;
  int32_t pad_ = 0;
  RnnCell cell_ = RnnCell::gru;
  float dropout_ = 0.0f, smoothing_ = 0.0f;
  RnnStackShape enc_shape_;

  // parameters
  ParamId src_emb_ = -1, tgt_emb_ = -1, bridge_w_ = -1, bridge_b_ = -1;
  ParamId att_wq_ = -1, att_wk_ = -1, att_bk_ = -1, att_v_ = -1;
  ParamId out_w_ = -1, out_b_ = -1, proj_w_ = -1, proj_b_ = -1;
  std::vector<ParamId> enc_ids_;  // 4 per encoder layer*direction: w_ih, w_hh, b_ih, b_hh
  std::vector<ParamId> dec_ids_;  // 4 per decoder layer
  // ParamStore marks: where the encoder, bridge, attention and decoder
  // parameters begin (the backward finishes them in reverse order)
  int64_t enc_first_ = 0, bridge_first_ = 0, attn_first_ = 0, dec_first_ = 0;
  std::vector<RnnWeights> weights_of(const std::vector<ParamId>& ids) const;
  std::vector<RnnGrads> grads_of(const std::vector<ParamId>& ids);

  // what forward keeps for backward
  int64_t B_ = 0, S_ = 0, T_ = 0;
  bool training_ = false;
  std::vector<int32_t> src_, tgt_in_;
  std::vector<uint8_t> src_mask_;               // (B, S)
  std::vector<float> src_x_;                    // (B, S, d_emb) after dropout
  std::vector<uint8_t> src_drop_;               // (B, S, d_emb)
  RnnStackCache enc_cache_;
  std::vector<float> mem_;                      // (B, S, E) encoder outputs = attention keys/values
  std::vector<float> enc_hn_, enc_cn_;          // (L*D, B, He)
  std::vector<float> bridge_in_;                // (L, B, E)
  std::vector<float> kp_;                       // (B, S, A)
  std::vector<float> state_, cstate_;           // (L, T+1, B, Hd): s^l_0 .. s^l_T (cstate_: LSTM cells)
  std::vector<std::vector<float>> dec_in_;      // per layer (T, B, in_l): the cell inputs
  std::vector<std::vector<uint8_t>> dec_drop_;  // per layer (T, B, in_l) dropout masks (layer 0: the embedding part)
  std::vector<std::vector<float>> dec_cache_;   // per layer (T, B, cache_width)
  std::vector<float> ctx_;                      // (T, B, E)
  std::vector<float> alpha_;                    // (B, T, S)
  int64_t alpha_T_ = 0;
  std::vector<float> gx_, gh_scratch_;          // (B, G*Hd)
  std::vector<float> feat_;                     // (B, T, F) [s_t; ctx_t] after dropout
  std::vector<uint8_t> feat_drop_;              // (B, T, F)
  std::vector<float> proj_;                     // (B, T, d_emb) out_proj output (tie_weights)
  std::vector<float> logits_;                   // (B, T, V)
  std::vector<float> attn_scratch_;
  LossHead head_;
};

}  // namespace qkv::nn
