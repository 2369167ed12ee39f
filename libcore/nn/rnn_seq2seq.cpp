#include "nn/rnn_seq2seq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "nn/cross_entropy.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "tensor/ops.h"

namespace qkv::nn {

QKV_REGISTER_ARCH("rnn", "RNN encoder-decoder (GRU or LSTM, bidirectional encoder) with additive attention",
                  RnnSeq2Seq);

RnnSeq2Seq::RnnSeq2Seq(const Config& config, uint64_t seed) : Model("rnn", seed) {
  ConfigReader r(config, "rnn");
  Vs_ = r.get_int("src_vocab", 0, 1);
  Vt_ = r.get_int("tgt_vocab", 0, 1);
  pad_ = static_cast<int32_t>(r.get_int("pad_id", 0, 0));
  cell_ = parse_rnn_cell(r.get_choice("cell", "gru", {"gru", "lstm"}));
  emb_ = r.get_int("emb_dim", 128, 1);
  He_ = r.get_int("enc_hidden", 128, 1);
  L_ = r.get_int("enc_layers", 1, 1, 16);
  bidir_ = r.get_bool("bidirectional", true);
  Hd_ = r.get_int("dec_hidden", 256, 1);
  A_ = r.get_int("attn_dim", Hd_, 1);
  dropout_ = static_cast<float>(r.get_double("dropout", 0.1, 0.0, 0.99));
  smoothing_ = static_cast<float>(r.get_double("label_smoothing", 0.0, 0.0, 1.0));
  r.finish();
  config_ = r.resolved();
  if (pad_ >= Vs_ || pad_ >= Vt_)
    throw UsageError("rnn: pad_id " + std::to_string(pad_) + " must be below src_vocab and tgt_vocab");

  enc_shape_ = RnnStackShape{cell_, emb_, He_, L_, bidir_};
  E_ = enc_shape_.out_dim();
  const int64_t G = rnn_gates(cell_), D = enc_shape_.dirs();

  ParamStore& ps = ps_;
  src_emb_ = ps.add("src_emb.weight", {Vs_, emb_});
  tgt_emb_ = ps.add("tgt_emb.weight", {Vt_, emb_});
  for (int64_t l = 0; l < L_; ++l)
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      const int64_t in = l == 0 ? emb_ : E_;
      enc_ids_.push_back(ps.add("encoder.weight_ih" + sfx, {G * He_, in}));
      enc_ids_.push_back(ps.add("encoder.weight_hh" + sfx, {G * He_, He_}));
      enc_ids_.push_back(ps.add("encoder.bias_ih" + sfx, {G * He_}));
      enc_ids_.push_back(ps.add("encoder.bias_hh" + sfx, {G * He_}));
    }
  bridge_w_ = ps.add("bridge.weight", {Hd_, E_});
  bridge_b_ = ps.add("bridge.bias", {Hd_});
  att_wq_ = ps.add("attn.w_q.weight", {A_, Hd_});
  att_wk_ = ps.add("attn.w_k.weight", {A_, E_});
  att_bk_ = ps.add("attn.w_k.bias", {A_});
  att_v_ = ps.add("attn.v", {A_});
  dec_wih_ = ps.add("decoder.weight_ih", {G * Hd_, emb_ + E_});
  dec_whh_ = ps.add("decoder.weight_hh", {G * Hd_, Hd_});
  dec_bih_ = ps.add("decoder.bias_ih", {G * Hd_});
  dec_bhh_ = ps.add("decoder.bias_hh", {G * Hd_});
  out_w_ = ps.add("out.weight", {Vt_, Hd_ + E_});
  out_b_ = ps.add("out.bias", {Vt_});
  ps.finalize();

  // PyTorch's default initializations: nn.Embedding N(0, 1); nn.GRU/LSTM(Cell) U(±1/sqrt(hidden))
  // for every weight and bias; nn.Linear U(±1/sqrt(fan_in)) (bias too); v as a Linear(A, 1) row.
  Rng init(seed);
  ps.init_normal(src_emb_, init, 1.0f);
  ps.init_normal(tgt_emb_, init, 1.0f);
  const float ke = 1.0f / std::sqrt(static_cast<float>(He_)), kd = 1.0f / std::sqrt(static_cast<float>(Hd_));
  for (ParamId id : enc_ids_) ps.init_uniform(id, init, -ke, ke);
  auto linear_init = [&](ParamId w, ParamId b) {
    const float k = 1.0f / std::sqrt(static_cast<float>(ps.info(w).shape[1]));
    ps.init_uniform(w, init, -k, k);
    if (b >= 0) ps.init_uniform(b, init, -k, k);
  };
  linear_init(bridge_w_, bridge_b_);
  linear_init(att_wq_, -1);
  linear_init(att_wk_, att_bk_);
  const float ka = 1.0f / std::sqrt(static_cast<float>(A_));
  ps.init_uniform(att_v_, init, -ka, ka);
  for (ParamId id : {dec_wih_, dec_whh_, dec_bih_, dec_bhh_}) ps.init_uniform(id, init, -kd, kd);
  linear_init(out_w_, out_b_);
}

std::vector<RnnWeights> RnnSeq2Seq::enc_weights() const {
  std::vector<RnnWeights> w;
  for (size_t k = 0; k < enc_ids_.size(); k += 4)
    w.push_back({ps_.param(enc_ids_[k]), ps_.param(enc_ids_[k + 1]), ps_.param(enc_ids_[k + 2]),
                 ps_.param(enc_ids_[k + 3])});
  return w;
}

std::vector<RnnGrads> RnnSeq2Seq::enc_grads() {
  std::vector<RnnGrads> g;
  for (size_t k = 0; k < enc_ids_.size(); k += 4)
    g.push_back({ps_.grad(enc_ids_[k]), ps_.grad(enc_ids_[k + 1]), ps_.grad(enc_ids_[k + 2]),
                 ps_.grad(enc_ids_[k + 3])});
  return g;
}

RnnWeights RnnSeq2Seq::dec_weights() const {
  return {ps_.param(dec_wih_), ps_.param(dec_whh_), ps_.param(dec_bih_), ps_.param(dec_bhh_)};
}

static void check_ids(const std::vector<int32_t>& ids, int64_t n, int64_t V, const char* what) {
  if (static_cast<int64_t>(ids.size()) != n)
    throw DataError(std::string("rnn: batch ") + what + " has " + std::to_string(ids.size()) + " ids, expected " +
                    std::to_string(n));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= V)
      throw DataError(std::string("rnn: batch ") + what + " id " + std::to_string(ids[i]) + " at position " +
                      std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
}

void RnnSeq2Seq::check_batch(const Batch& b) const {
  if (b.B < 1 || b.S < 1 || b.T < 1)
    throw DataError("rnn: batch needs B, S, T >= 1 (got B=" + std::to_string(b.B) + " S=" + std::to_string(b.S) +
                    " T=" + std::to_string(b.T) + ")");
  check_ids(b.src, b.B * b.S, Vs_, "src");
  check_ids(b.tgt_in, b.B * b.T, Vt_, "tgt_in");
  check_ids(b.tgt_out, b.B * b.T, Vt_, "tgt_out");
}

void RnnSeq2Seq::encode(const Batch& b, bool training) {
  B_ = b.B, S_ = b.S;
  const int64_t B = B_, S = S_, D = enc_shape_.dirs(), LD = L_ * D;
  src_.assign(b.src.begin(), b.src.end());
  src_mask_.resize(B * S);
  for (int64_t i = 0; i < B * S; ++i) src_mask_[i] = src_[i] != pad_;
  // x (B, S, emb) = dropout(src_emb[src])
  src_x_.resize(B * S * emb_);
  src_drop_.resize(B * S * emb_);
  embedding_forward(src_x_.data(), src_.data(), ps_.param(src_emb_), B * S, Vs_, emb_);
  dropout_forward(src_x_.data(), src_drop_.data(), src_x_.data(), B * S * emb_, training ? dropout_ : 0.0f, rng_);
  // M (B, S, E), h_n (L*D, B, He)
  mem_.resize(B * S * E_);
  enc_hn_.resize(LD * B * He_);
  enc_cn_.resize(cell_ == RnnCell::lstm ? LD * B * He_ : 0);
  rnn_stack_forward(enc_shape_, B, S, src_x_.data(), nullptr, nullptr, enc_weights(), src_mask_.data(), mem_.data(),
                    enc_hn_.data(), cell_ == RnnCell::lstm ? enc_cn_.data() : nullptr, enc_cache_);
  // bridge input (B, E): the top layer's final state of each direction
  bridge_in_.resize(B * E_);
  for (int64_t d = 0; d < D; ++d) {
    const float* h = enc_hn_.data() + ((L_ - 1) * D + d) * B * He_;
    for (int64_t r = 0; r < B; ++r) std::memcpy(bridge_in_.data() + r * E_ + d * He_, h + r * He_, sizeof(float) * He_);
  }
  // kp (B, S, A): key projections shared by every decoder step
  kp_.resize(B * S * A_);
  AdditiveAttentionDims ad{B, 1, S, Hd_, E_, A_};
  additive_attention_keys_forward(ad, mem_.data(), ps_.param(att_wk_), ps_.param(att_bk_), kp_.data());
}

void RnnSeq2Seq::alloc_decoder(int64_t B, int64_t S, int64_t T) {
  T_ = T;
  const int64_t GH = rnn_gates(cell_) * Hd_, X = emb_ + E_;
  state_.assign((T + 1) * B * Hd_, 0.0f);
  cstate_.assign(cell_ == RnnCell::lstm ? (T + 1) * B * Hd_ : 0, 0.0f);
  dec_x_.resize(T * B * X);
  tgt_drop_.resize(T * B * emb_);
  dec_cache_.resize(T * B * rnn_cache_width(cell_, Hd_));
  ctx_.resize(T * B * E_);
  alpha_.assign(B * T * S, 0.0f);
  alpha_T_ = T;
  gx_.resize(B * GH);
  gh_scratch_.resize(B * GH);
  feat_.resize(B * T * (Hd_ + E_));
  feat_drop_.resize(B * T * (Hd_ + E_));
  // s_0 (B, Hd) = tanh(bridge(bridge_in))
  float* s0 = state_.data();
  linear_forward(s0, bridge_in_.data(), ps_.param(bridge_w_), ps_.param(bridge_b_), B, E_, Hd_);
  for (int64_t i = 0; i < B * Hd_; ++i) s0[i] = std::tanh(s0[i]);
}

void RnnSeq2Seq::decoder_step(int64_t t, const int32_t* ids, int64_t ids_stride, bool training) {
  const int64_t B = B_, S = S_, T = T_, X = emb_ + E_, GH = rnn_gates(cell_) * Hd_, F = Hd_ + E_;
  const bool lstm = cell_ == RnnCell::lstm;
  const float* s_prev = state_.data() + t * B * Hd_;  // (B, Hd)
  float* s_next = state_.data() + (t + 1) * B * Hd_;  // (B, Hd)
  float* ctx = ctx_.data() + t * B * E_;               // (B, E)
  // ctx_t, α_t from the previous state
  AdditiveAttentionDims ad{B, 1, S, Hd_, E_, A_};
  additive_attention_forward(ad, s_prev, mem_.data(), kp_.data(), src_mask_.data(), ps_.param(att_wq_),
                             ps_.param(att_v_), ctx, alpha_.data() + t * S, T * S, attn_scratch_);
  // x_t (B, emb + E) = [dropout(tgt_emb[y_{t-1}]); ctx_t]
  std::vector<int32_t> step_ids(B);
  for (int64_t b = 0; b < B; ++b) step_ids[b] = ids[b * ids_stride];
  std::vector<float> e(B * emb_);  // (B, emb)
  embedding_forward(e.data(), step_ids.data(), ps_.param(tgt_emb_), B, Vt_, emb_);
  dropout_forward(e.data(), tgt_drop_.data() + t * B * emb_, e.data(), B * emb_, training ? dropout_ : 0.0f, rng_);
  float* x = dec_x_.data() + t * B * X;
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(x + b * X, e.data() + b * emb_, sizeof(float) * emb_);
    std::memcpy(x + b * X + emb_, ctx + b * E_, sizeof(float) * E_);
  }
  // s_t = cell(x_t, s_{t-1})
  linear_forward(gx_.data(), x, ps_.param(dec_wih_), ps_.param(dec_bih_), B, X, GH);
  rnn_step_forward(cell_, B, Hd_, gx_.data(), GH, s_prev, lstm ? cstate_.data() + t * B * Hd_ : nullptr,
                   ps_.param(dec_whh_), ps_.param(dec_bhh_), nullptr, 0, s_next,
                   lstm ? cstate_.data() + (t + 1) * B * Hd_ : nullptr,
                   dec_cache_.data() + t * B * rnn_cache_width(cell_, Hd_), gh_scratch_.data());
  // features [s_t; ctx_t] at (b, t) (dropout is applied over all of them after the loop)
  for (int64_t b = 0; b < B; ++b) {
    float* f = feat_.data() + (b * T + t) * F;
    std::memcpy(f, s_next + b * Hd_, sizeof(float) * Hd_);
    std::memcpy(f + Hd_, ctx + b * E_, sizeof(float) * E_);
  }
}

Stats RnnSeq2Seq::forward(const Batch& b, bool training) {
  check_batch(b);
  training_ = training;
  encode(b, training);
  alloc_decoder(b.B, b.S, b.T);
  tgt_in_ = b.tgt_in;
  tgt_out_ = b.tgt_out;
  const int64_t B = B_, T = T_, F = Hd_ + E_, N = B * T;
  for (int64_t t = 0; t < T; ++t) decoder_step(t, tgt_in_.data() + t, T, training);
  dropout_forward(feat_.data(), feat_drop_.data(), feat_.data(), N * F, training ? dropout_ : 0.0f, rng_);
  logits_.resize(N * Vt_);
  probs_.resize(N * Vt_);
  linear_forward(logits_.data(), feat_.data(), ps_.param(out_w_), ps_.param(out_b_), N, F, Vt_);
  CrossEntropyResult ce =
      cross_entropy_forward(probs_.data(), logits_.data(), tgt_out_.data(), N, Vt_, smoothing_, pad_);
  Stats s;
  s.loss_sum = ce.sum;
  s.count = ce.count;
  for (int64_t n = 0; n < N; ++n) {
    if (tgt_out_[n] == pad_) continue;
    const float* row = logits_.data() + n * Vt_;
    if (std::max_element(row, row + Vt_) - row == tgt_out_[n]) ++s.correct;
  }
  last_ = s;
  return s;
}

void RnnSeq2Seq::backward(float scale) {
  QKV_CHECK(!logits_.empty() && T_ > 0, "rnn backward() without a forward()");
  const int64_t B = B_, S = S_, T = T_, N = B * T, F = Hd_ + E_, X = emb_ + E_;
  const int64_t G = rnn_gates(cell_), GH = G * Hd_, CW = rnn_cache_width(cell_, Hd_);
  const bool lstm = cell_ == RnnCell::lstm;
  const float p_drop = training_ ? dropout_ : 0.0f;
  ParamStore& ps = ps_;

  // loss -> logits -> features
  CrossEntropyResult ce;
  ce.sum = last_.loss_sum;
  ce.count = last_.count;
  ce.loss = last_.mean_loss();
  std::vector<float> dlogits(N * Vt_, 0.0f);  // (N, V)
  cross_entropy_backward(dlogits.data(), probs_.data(), tgt_out_.data(), N, Vt_, ce, smoothing_, pad_, scale);
  std::vector<float> dfeat_drop(N * F, 0.0f), dfeat(N * F, 0.0f);  // (B, T, F)
  linear_backward(dfeat_drop.data(), ps.grad(out_w_), ps.grad(out_b_), dlogits.data(), feat_.data(),
                  ps.param(out_w_), N, F, Vt_);
  dropout_backward(dfeat.data(), dfeat_drop.data(), feat_drop_.data(), N * F, p_drop);

  // decoder, back through time
  std::vector<float> dmem(B * S * E_, 0.0f), dkp(B * S * A_, 0.0f);  // (B, S, E), (B, S, A)
  std::vector<float> ds(B * Hd_, 0.0f), ds_prev(B * Hd_), dc, dc_prev;  // (B, Hd)
  if (lstm) dc.assign(B * Hd_, 0.0f), dc_prev.resize(B * Hd_);
  std::vector<float> dgx(T * B * GH), dgh(T * B * GH);  // (T, B, G*Hd)
  std::vector<float> dx(B * X), dctx(B * E_);          // (B, emb + E), (B, E)
  std::vector<float> demb(T * B * emb_);               // (T, B, emb), after dropout
  AdditiveAttentionDims ad{B, 1, S, Hd_, E_, A_};
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b) {
      const float* df = dfeat.data() + (b * T + t) * F;
      float* d = ds.data() + b * Hd_;
      for (int64_t j = 0; j < Hd_; ++j) d[j] += df[j];
      std::memcpy(dctx.data() + b * E_, df + Hd_, sizeof(float) * E_);
    }
    rnn_step_backward(cell_, B, Hd_, dec_cache_.data() + t * B * CW, state_.data() + t * B * Hd_, nullptr, 0,
                      ds.data(), lstm ? dc.data() : nullptr, ps.param(dec_whh_), dgx.data() + t * B * GH, GH,
                      dgh.data() + t * B * GH, ds_prev.data(), lstm ? dc_prev.data() : nullptr);
    // dx_t (B, X) = dgx_t @ W_ih
    ops::sgemm(false, false, B, X, GH, 1.0f, dgx.data() + t * B * GH, ps.param(dec_wih_), 0.0f, dx.data());
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(demb.data() + (t * B + b) * emb_, dx.data() + b * X, sizeof(float) * emb_);
      const float* dxc = dx.data() + b * X + emb_;
      float* dcb = dctx.data() + b * E_;
      for (int64_t j = 0; j < E_; ++j) dcb[j] += dxc[j];
    }
    // context -> query s_{t-1} (into ds_prev), keys/values, parameters
    additive_attention_backward(ad, dctx.data(), state_.data() + t * B * Hd_, mem_.data(), kp_.data(),
                                src_mask_.data(), alpha_.data() + t * S, T * S, ps.param(att_wq_), ps.param(att_v_),
                                ds_prev.data(), dmem.data(), dkp.data(), ps.grad(att_wq_), ps.grad(att_v_),
                                attn_scratch_);
    ds.swap(ds_prev);
    if (lstm) dc.swap(dc_prev);
  }
  // decoder cell weights: one sgemm each over all steps
  ops::sgemm(true, false, GH, X, T * B, 1.0f, dgx.data(), dec_x_.data(), 1.0f, ps.grad(dec_wih_));
  ops::sgemm(true, false, GH, Hd_, T * B, 1.0f, dgh.data(), state_.data(), 1.0f, ps.grad(dec_whh_));
  float *gbi = ps.grad(dec_bih_), *gbh = ps.grad(dec_bhh_);
  for (int64_t r = 0; r < T * B; ++r)
    for (int64_t j = 0; j < GH; ++j) gbi[j] += dgx[r * GH + j], gbh[j] += dgh[r * GH + j];
  // target embeddings (rows in (T, B) order)
  {
    std::vector<float> de(T * B * emb_, 0.0f);
    dropout_backward(de.data(), demb.data(), tgt_drop_.data(), T * B * emb_, p_drop);
    std::vector<int32_t> ids(T * B);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) ids[t * B + b] = tgt_in_[b * T + t];
    embedding_backward(ps.grad(tgt_emb_), de.data(), ids.data(), T * B, emb_);
  }
  // key projection
  additive_attention_keys_backward(ad, dkp.data(), mem_.data(), ps.param(att_wk_), dmem.data(), ps.grad(att_wk_),
                                   ps.grad(att_bk_));
  // bridge: s_0 = tanh(pre)
  const int64_t D = enc_shape_.dirs();
  std::vector<float> dhn(L_ * D * B * He_, 0.0f);  // (L*D, B, He)
  {
    const float* s0 = state_.data();
    for (int64_t i = 0; i < B * Hd_; ++i) ds[i] *= 1.0f - s0[i] * s0[i];
    std::vector<float> dbin(B * E_, 0.0f);
    linear_backward(dbin.data(), ps.grad(bridge_w_), ps.grad(bridge_b_), ds.data(), bridge_in_.data(),
                    ps.param(bridge_w_), B, E_, Hd_);
    for (int64_t d = 0; d < D; ++d) {
      float* h = dhn.data() + ((L_ - 1) * D + d) * B * He_;
      for (int64_t r = 0; r < B; ++r) std::memcpy(h + r * He_, dbin.data() + r * E_ + d * He_, sizeof(float) * He_);
    }
  }
  // encoder
  std::vector<float> dsrc_drop(B * S * emb_, 0.0f), dsrc(B * S * emb_, 0.0f);
  std::vector<RnnGrads> eg = enc_grads();
  rnn_stack_backward(enc_shape_, enc_weights(), dmem.data(), dhn.data(), nullptr, eg, dsrc_drop.data(), nullptr,
                     nullptr, enc_cache_);
  dropout_backward(dsrc.data(), dsrc_drop.data(), src_drop_.data(), B * S * emb_, p_drop);
  embedding_backward(ps.grad(src_emb_), dsrc.data(), src_.data(), B * S, emb_);
}

std::vector<std::vector<int32_t>> RnnSeq2Seq::greedy_decode(const Batch& b, int64_t max_len, int32_t bos,
                                                            int32_t eos) {
  if (b.B < 1 || b.S < 1) throw DataError("rnn: greedy decoding needs B, S >= 1");
  check_ids(b.src, b.B * b.S, Vs_, "src");
  if (bos < 0 || bos >= Vt_) throw UsageError("rnn: bos id " + std::to_string(bos) + " outside the target vocabulary");
  if (max_len < 1) throw UsageError("rnn: max_len must be >= 1");
  training_ = false;
  encode(b, false);
  alloc_decoder(b.B, b.S, max_len);
  const int64_t B = B_, F = Hd_ + E_, T = max_len;
  std::vector<std::vector<int32_t>> out(B);
  std::vector<int32_t> ids(B, bos);
  std::vector<uint8_t> done(B, 0);
  std::vector<float> f(B * F), lg(B * Vt_);
  int64_t steps = 0;
  for (int64_t t = 0; t < T; ++t) {
    decoder_step(t, ids.data(), 1, false);
    steps = t + 1;
    for (int64_t r = 0; r < B; ++r) std::memcpy(f.data() + r * F, feat_.data() + (r * T + t) * F, sizeof(float) * F);
    linear_forward(lg.data(), f.data(), ps_.param(out_w_), ps_.param(out_b_), B, F, Vt_);
    bool all = true;
    for (int64_t r = 0; r < B; ++r) {
      const float* row = lg.data() + r * Vt_;
      const int32_t tok = static_cast<int32_t>(std::max_element(row, row + Vt_) - row);
      ids[r] = tok;
      if (!done[r]) {
        if (tok == eos)
          done[r] = 1;
        else
          out[r].push_back(tok);
      }
      all = all && done[r];
    }
    if (all) break;
  }
  // keep the attention of the steps actually run: (B, steps, S)
  std::vector<float> a(B * steps * S_);
  for (int64_t r = 0; r < B; ++r)
    std::memcpy(a.data() + r * steps * S_, alpha_.data() + r * T * S_, sizeof(float) * steps * S_);
  alpha_.swap(a);
  alpha_T_ = steps;
  logits_.clear();  // no backward after decoding
  return out;
}

}  // namespace qkv::nn
