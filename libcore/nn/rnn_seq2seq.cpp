#include "nn/rnn_seq2seq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "nn/decoder.h"
#include "nn/cross_entropy.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "tensor/ops.h"

namespace qkv::nn {

namespace {
ArchSpec rnn_spec() {
  ArchSpec s;
  s.name = "rnn";
  s.summary = "RNN encoder-decoder (GRU or LSTM, bidirectional encoder) with additive attention";
  s.task = Task::seq2seq;
  s.data.src_vocab = "src_vocab_size";
  s.data.tgt_vocab = "tgt_vocab_size";
  s.data.pad_id = "pad_id";  // no max_len: any length
  s.output = Output::per_position;  // (B, T, tgt_vocab_size)
  s.output_size = "tgt_vocab_size";
  s.command = "rnn";
  s.command_help = "GRU/LSTM encoder-decoder with additive attention on a token_pairs file";
  s.flags = {{"--cell", "cell", "recurrent cell: gru | lstm", ""},
             {"--layers", "n_layer", "stacked recurrent layers, encoder and decoder", ""},
             {"--d-emb", "d_emb", "embedding width", ""},
             {"--hidden", "d_hidden", "hidden state width", ""},
             {"--d-attn", "d_attn", "additive attention width", "--hidden"},
             {"--bidirectional", "bidirectional", "bidirectional encoder: 1 | 0", ""},
             {"--dropout", "dropout", "dropout probability", ""},
             {"--tie-embeddings", "tie_weights", "output layer tied to the target embedding: 1 | 0", ""},
             {"--label-smoothing", "label_smoothing", "label smoothing epsilon", ""}};
  return s;
}
}  // namespace

QKV_REGISTER_ARCH(rnn_spec(), RnnSeq2Seq);

RnnSeq2Seq::RnnSeq2Seq(const Config& config, uint64_t seed, Build build) : Model("rnn", seed) {
  ConfigReader r(config, "rnn");
  Vs_ = r.get_int("src_vocab_size", 1000, 1, INT32_MAX);
  Vt_ = r.get_int("tgt_vocab_size", 1000, 1, INT32_MAX);
  pad_ = static_cast<int32_t>(r.get_int("pad_id", 0, 0, INT32_MAX));
  cell_ = parse_rnn_cell(r.get_choice("cell", "gru", {"gru", "lstm"}));
  L_ = r.get_int("n_layer", 1, 1, 64);
  emb_ = r.get_int("d_emb", 128, 1, 1 << 20);
  Hd_ = r.get_int("d_hidden", 256, 1, 1 << 20);
  A_ = r.get_int("d_attn", Hd_, 1, 1 << 20);
  bidir_ = r.get_bool("bidirectional", true);
  dropout_ = static_cast<float>(r.get_double("dropout", 0.1, 0.0, 0.99));
  tied_ = r.get_bool("tie_weights", false);
  smoothing_ = static_cast<float>(r.get_double("label_smoothing", 0.0, 0.0, 1.0));
  r.finish();
  config_ = r.resolved();
  if (pad_ >= Vs_ || pad_ >= Vt_) throw UsageError("rnn: pad_id must be a valid id of both vocabularies");
  if (bidir_ && Hd_ % 2 != 0)
    throw UsageError("rnn: a bidirectional encoder needs an even d_hidden (each direction gets half), got " +
                     std::to_string(Hd_));
  if (build == Build::config_only) return;

  const int64_t D = bidir_ ? 2 : 1, G = rnn_gates(cell_);
  He_ = Hd_ / D;
  enc_shape_ = RnnStackShape{cell_, emb_, He_, L_, bidir_};
  E_ = enc_shape_.out_dim();
  F_ = Hd_ + E_;

  ParamStore& ps = ps_;
  src_emb_ = ps.add("src_emb.weight", {Vs_, emb_});
  tgt_emb_ = ps.add("tgt_emb.weight", {Vt_, emb_});
  enc_first_ = ps.mark();
  for (int64_t l = 0; l < L_; ++l)
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      enc_ids_.push_back(ps.add("encoder.weight_ih" + sfx, {G * He_, l == 0 ? emb_ : E_}));
      enc_ids_.push_back(ps.add("encoder.weight_hh" + sfx, {G * He_, He_}));
      enc_ids_.push_back(ps.add("encoder.bias_ih" + sfx, {G * He_}));
      enc_ids_.push_back(ps.add("encoder.bias_hh" + sfx, {G * He_}));
    }
  bridge_first_ = ps.mark();
  bridge_w_ = ps.add("bridge.weight", {Hd_, E_});
  bridge_b_ = ps.add("bridge.bias", {Hd_});
  attn_first_ = ps.mark();
  att_wq_ = ps.add("attn.w_q.weight", {A_, Hd_});
  att_wk_ = ps.add("attn.w_k.weight", {A_, E_});
  att_bk_ = ps.add("attn.w_k.bias", {A_});
  att_v_ = ps.add("attn.v", {A_});
  dec_first_ = ps.mark();  // the decoder layers and the output layer
  for (int64_t l = 0; l < L_; ++l) {
    const std::string pre = "decoder.layers." + std::to_string(l) + ".";
    dec_ids_.push_back(ps.add(pre + "weight_ih", {G * Hd_, l == 0 ? emb_ + E_ : Hd_}));
    dec_ids_.push_back(ps.add(pre + "weight_hh", {G * Hd_, Hd_}));
    dec_ids_.push_back(ps.add(pre + "bias_ih", {G * Hd_}));
    dec_ids_.push_back(ps.add(pre + "bias_hh", {G * Hd_}));
  }
  if (tied_) {
    proj_w_ = ps.add("out_proj.weight", {emb_, F_});
    proj_b_ = ps.add("out_proj.bias", {emb_});
  } else {
    out_w_ = ps.add("out.weight", {Vt_, F_});
  }
  out_b_ = ps.add("out.bias", {Vt_});
  ps.finalize();

  // PyTorch's default initializations: nn.Embedding N(0, 1); nn.GRU/LSTM(Cell) U(±1/sqrt(hidden))
  // for every weight and bias; nn.Linear U(±1/sqrt(fan_in)) (bias too); v like a Linear(A, 1) row.
  Rng init(seed);
  ps.init_normal(src_emb_, init, 1.0f);
  ps.init_normal(tgt_emb_, init, 1.0f);
  auto uniform = [&](const std::vector<ParamId>& ids, int64_t hidden) {
    const float k = 1.0f / std::sqrt(static_cast<float>(hidden));
    for (ParamId id : ids) ps.init_uniform(id, init, -k, k);
  };
  uniform(enc_ids_, He_);
  auto linear_init = [&](ParamId w, ParamId b) {
    const float k = 1.0f / std::sqrt(static_cast<float>(ps.info(w).shape[1]));
    ps.init_uniform(w, init, -k, k);
    if (b >= 0) ps.init_uniform(b, init, -k, k);
  };
  linear_init(bridge_w_, bridge_b_);
  linear_init(att_wq_, -1);
  linear_init(att_wk_, att_bk_);
  uniform({att_v_}, A_);
  uniform(dec_ids_, Hd_);
  if (tied_) {
    linear_init(proj_w_, proj_b_);
    uniform({out_b_}, emb_);
  } else {
    linear_init(out_w_, out_b_);
  }
}

std::vector<RnnWeights> RnnSeq2Seq::weights_of(const std::vector<ParamId>& ids) const {
  std::vector<RnnWeights> w;
  for (size_t k = 0; k < ids.size(); k += 4)
    w.push_back({ps_.param(ids[k]), ps_.param(ids[k + 1]), ps_.param(ids[k + 2]), ps_.param(ids[k + 3])});
  return w;
}

std::vector<RnnGrads> RnnSeq2Seq::grads_of(const std::vector<ParamId>& ids) {
  std::vector<RnnGrads> g;
  for (size_t k = 0; k < ids.size(); k += 4)
    g.push_back({ps_.grad(ids[k]), ps_.grad(ids[k + 1]), ps_.grad(ids[k + 2]), ps_.grad(ids[k + 3])});
  return g;
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
  if (!b.tgt_out.empty()) check_ids(b.tgt_out, b.B * b.T, Vt_, "tgt_out");
}

void RnnSeq2Seq::encode(const Batch& b, bool training) {
  B_ = b.B, S_ = b.S;
  const int64_t B = B_, S = S_, D = enc_shape_.dirs();
  const bool lstm = cell_ == RnnCell::lstm;
  const float p = training ? dropout_ : 0.0f;
  src_.assign(b.src.begin(), b.src.end());
  src_mask_.resize(B * S);
  for (int64_t i = 0; i < B * S; ++i) src_mask_[i] = src_[i] != pad_;
  // x (B, S, emb) = dropout(src_emb[src])
  src_x_.resize(B * S * emb_);
  src_drop_.resize(B * S * emb_);
  embedding_forward(src_x_.data(), src_.data(), ps_.param(src_emb_), B * S, Vs_, emb_);
  dropout_forward(src_x_.data(), src_drop_.data(), src_x_.data(), B * S * emb_, p, rng_);
  // M (B, S, E), h_n (L*D, B, He)
  mem_.resize(B * S * E_);
  enc_hn_.resize(L_ * D * B * He_);
  enc_cn_.resize(lstm ? L_ * D * B * He_ : 0);
  rnn_stack_forward(enc_shape_, B, S, src_x_.data(), nullptr, nullptr, weights_of(enc_ids_), src_mask_.data(),
                    mem_.data(), enc_hn_.data(), lstm ? enc_cn_.data() : nullptr, enc_cache_, p, &rng_);
  // bridge inputs (L, B, E): each layer's final state, [forward; reverse]
  bridge_in_.resize(L_ * B * E_);
  for (int64_t l = 0; l < L_; ++l)
    for (int64_t d = 0; d < D; ++d) {
      const float* h = enc_hn_.data() + (l * D + d) * B * He_;
      for (int64_t r = 0; r < B; ++r)
        std::memcpy(bridge_in_.data() + (l * B + r) * E_ + d * He_, h + r * He_, sizeof(float) * He_);
    }
  // kp (B, S, A): key projections shared by every decoder step
  kp_.resize(B * S * A_);
  AdditiveAttentionDims ad{B, 1, S, Hd_, E_, A_};
  additive_attention_keys_forward(ad, mem_.data(), ps_.param(att_wk_), ps_.param(att_bk_), kp_.data());
}

void RnnSeq2Seq::bridge(const float* bridge_in, int64_t B, float* s0) {
  linear_forward(s0, bridge_in, ps_.param(bridge_w_), ps_.param(bridge_b_), B, E_, Hd_);
  for (int64_t i = 0; i < B * Hd_; ++i) s0[i] = std::tanh(s0[i]);
}

void RnnSeq2Seq::start_decoder(int64_t T) {
  T_ = T;
  const int64_t B = B_;
  state_.assign(L_ * (T + 1) * B * Hd_, 0.0f);
  cstate_.assign(cell_ == RnnCell::lstm ? L_ * (T + 1) * B * Hd_ : 0, 0.0f);
  dec_in_.resize(L_);
  dec_drop_.resize(L_);
  dec_cache_.resize(L_);
  for (int64_t l = 0; l < L_; ++l) {
    dec_in_[l].resize(T * B * (l == 0 ? emb_ + E_ : Hd_));
    dec_drop_[l].resize(T * B * (l == 0 ? emb_ : Hd_));
    dec_cache_[l].resize(T * B * rnn_cache_width(cell_, Hd_));
  }
  ctx_.resize(T * B * E_);
  alpha_.assign(B * T * S_, 0.0f);
  alpha_T_ = T;
  feat_.resize(B * T * F_);
  feat_drop_.resize(B * T * F_);
  for (int64_t l = 0; l < L_; ++l) bridge(bridge_in_.data() + l * B * E_, B, state(l, 0));
}

void RnnSeq2Seq::run_step(const StepIo& io, const int32_t* ids, int64_t ids_stride, float p) {
  const int64_t B = io.B, X = emb_ + E_, GH = rnn_gates(cell_) * Hd_, top = L_ - 1;
  const bool lstm = cell_ == RnnCell::lstm;
  gx_.resize(B * GH);
  gh_scratch_.resize(B * GH);
  // ctx_t, α_t from the top layer's previous state
  AdditiveAttentionDims ad{B, 1, io.S, Hd_, E_, A_};
  additive_attention_forward(ad, io.h_prev[top], io.mem, io.kp, io.mask, ps_.param(att_wq_), ps_.param(att_v_),
                             io.ctx, io.alpha, io.alpha_stride, attn_scratch_);
  // layer 0 input (B, emb + E) = [dropout(tgt_emb[y_{t-1}]); ctx_t]
  std::vector<int32_t> step_ids(B);
  for (int64_t b = 0; b < B; ++b) step_ids[b] = ids[b * ids_stride];
  std::vector<float> e(B * emb_);  // (B, emb)
  embedding_forward(e.data(), step_ids.data(), ps_.param(tgt_emb_), B, Vt_, emb_);
  dropout_forward(e.data(), io.drop[0], e.data(), B * emb_, p, rng_);
  float* x0 = io.in[0];
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(x0 + b * X, e.data() + b * emb_, sizeof(float) * emb_);
    std::memcpy(x0 + b * X + emb_, io.ctx + b * E_, sizeof(float) * E_);
  }
  const std::vector<RnnWeights> w = weights_of(dec_ids_);
  for (int64_t l = 0; l < L_; ++l) {
    const int64_t in_dim = l == 0 ? X : Hd_;
    float* in = io.in[l];  // (B, in_dim)
    if (l > 0) dropout_forward(in, io.drop[l], io.h[l - 1], B * Hd_, p, rng_);
    linear_forward(gx_.data(), in, w[l].w_ih, w[l].b_ih, B, in_dim, GH);
    rnn_step_forward(cell_, B, Hd_, gx_.data(), GH, io.h_prev[l], lstm ? io.c_prev[l] : nullptr, w[l].w_hh,
                     w[l].b_hh, nullptr, 0, io.h[l], lstm ? io.c[l] : nullptr, io.cache[l], gh_scratch_.data());
  }
}

void RnnSeq2Seq::decoder_step(int64_t t, const int32_t* ids, int64_t ids_stride, bool training) {
  const int64_t B = B_, S = S_, T = T_, top = L_ - 1;
  const int64_t CW = rnn_cache_width(cell_, Hd_);
  float* ctx = ctx_.data() + t * B * E_;  // (B, E)
  StepIo io;
  io.B = B, io.S = S;
  io.mem = mem_.data(), io.kp = kp_.data(), io.mask = src_mask_.data();
  io.ctx = ctx, io.alpha = alpha_.data() + t * S, io.alpha_stride = T * S;
  for (int64_t l = 0; l < L_; ++l) {
    const bool lstm = cell_ == RnnCell::lstm;
    io.h_prev.push_back(state(l, t)), io.h.push_back(state(l, t + 1));
    io.c_prev.push_back(lstm ? cstate(l, t) : nullptr), io.c.push_back(lstm ? cstate(l, t + 1) : nullptr);
    io.in.push_back(dec_in_[l].data() + t * B * (l == 0 ? emb_ + E_ : Hd_));
    io.drop.push_back(dec_drop_[l].data() + t * B * (l == 0 ? emb_ : Hd_));
    io.cache.push_back(dec_cache_[l].data() + t * B * CW);
  }
  run_step(io, ids, ids_stride, training ? dropout_ : 0.0f);
  // features [s^top_t; ctx_t] at (b, t) (dropout is applied to all of them after the loop)
  const float* s = state(top, t + 1);
  for (int64_t b = 0; b < B; ++b) {
    float* f = feat_.data() + (b * T + t) * F_;
    std::memcpy(f, s + b * Hd_, sizeof(float) * Hd_);
    std::memcpy(f + Hd_, ctx + b * E_, sizeof(float) * E_);
  }
}

void RnnSeq2Seq::output_forward(const float* feat, int64_t n, float* logits, float* proj) {
  if (tied_) {
    linear_forward(proj, feat, ps_.param(proj_w_), ps_.param(proj_b_), n, F_, emb_);
    linear_forward(logits, proj, ps_.param(tgt_emb_), ps_.param(out_b_), n, emb_, Vt_);
  } else {
    linear_forward(logits, feat, ps_.param(out_w_), ps_.param(out_b_), n, F_, Vt_);
  }
}

Stats RnnSeq2Seq::forward(const Batch& b, bool training) {
  check_batch(b);
  training_ = training;
  encode(b, training);
  start_decoder(b.T);
  tgt_in_ = b.tgt_in;
  const int64_t B = B_, T = T_, N = B * T;
  for (int64_t t = 0; t < T; ++t) decoder_step(t, tgt_in_.data() + t, T, training);
  dropout_forward(feat_.data(), feat_drop_.data(), feat_.data(), N * F_, training ? dropout_ : 0.0f, rng_);
  logits_.resize(N * Vt_);
  proj_.resize(tied_ ? N * emb_ : 0);
  output_forward(feat_.data(), N, logits_.data(), proj_.data());
  return head_.forward(logits_.data(), b.tgt_out.empty() ? nullptr : b.tgt_out.data(), N, Vt_, pad_, smoothing_);
}

std::vector<AttentionMap> RnnSeq2Seq::attention_maps() const {
  if (alpha_T_ == 0) return {};
  return {AttentionMap{"attn", {B_, 1, alpha_T_, S_}, alpha_.data(), "additive", 0}};
}

void RnnSeq2Seq::backward(float scale) {
  QKV_CHECK(!logits_.empty() && T_ > 0, "rnn backward() without a forward()");
  const int64_t B = B_, S = S_, T = T_, N = B * T, X = emb_ + E_, top = L_ - 1;
  const int64_t GH = rnn_gates(cell_) * Hd_, CW = rnn_cache_width(cell_, Hd_), D = enc_shape_.dirs();
  const bool lstm = cell_ == RnnCell::lstm;
  const float p = training_ ? dropout_ : 0.0f;
  ParamStore& ps = ps_;

  // loss -> logits -> features
  std::vector<float> dlogits(N * Vt_);  // (N, V)
  head_.backward(dlogits.data(), scale);
  std::vector<float> dfeat_drop(N * F_, 0.0f), dfeat(N * F_, 0.0f);  // (B, T, F)
  if (tied_) {
    std::vector<float> dproj(N * emb_, 0.0f);  // (N, emb)
    linear_backward(dproj.data(), ps.grad(tgt_emb_), ps.grad(out_b_), dlogits.data(), proj_.data(),
                    ps.param(tgt_emb_), N, emb_, Vt_);
    linear_backward(dfeat_drop.data(), ps.grad(proj_w_), ps.grad(proj_b_), dproj.data(), feat_.data(),
                    ps.param(proj_w_), N, F_, emb_);
  } else {
    linear_backward(dfeat_drop.data(), ps.grad(out_w_), ps.grad(out_b_), dlogits.data(), feat_.data(),
                    ps.param(out_w_), N, F_, Vt_);
  }
  dropout_backward(dfeat.data(), dfeat_drop.data(), feat_drop_.data(), N * F_, p);

  // decoder, back through time (and down through the layers at each step)
  const std::vector<RnnWeights> w = weights_of(dec_ids_);
  std::vector<float> dmem(B * S * E_, 0.0f), dkp(B * S * A_, 0.0f);  // (B, S, E), (B, S, A)
  std::vector<std::vector<float>> ds(L_), dsp(L_), dc(L_), dcp(L_);   // per layer (B, Hd)
  std::vector<std::vector<float>> dgx(L_), dgh(L_);                    // per layer (T, B, G*Hd)
  for (int64_t l = 0; l < L_; ++l) {
    ds[l].assign(B * Hd_, 0.0f), dsp[l].resize(B * Hd_);
    if (lstm) dc[l].assign(B * Hd_, 0.0f), dcp[l].resize(B * Hd_);
    dgx[l].resize(T * B * GH), dgh[l].resize(T * B * GH);
  }
  std::vector<float> dx(B * std::max(X, Hd_)), dctx(B * E_);  // (B, in_l), (B, E)
  std::vector<float> demb(T * B * emb_);                      // (T, B, emb), after dropout
  AdditiveAttentionDims ad{B, 1, S, Hd_, E_, A_};
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t b = 0; b < B; ++b) {
      const float* df = dfeat.data() + (b * T + t) * F_;
      float* d = ds[top].data() + b * Hd_;
      for (int64_t j = 0; j < Hd_; ++j) d[j] += df[j];
      std::memcpy(dctx.data() + b * E_, df + Hd_, sizeof(float) * E_);
    }
    for (int64_t l = top; l >= 0; --l) {
      const int64_t in_dim = l == 0 ? X : Hd_;
      float* gx = dgx[l].data() + t * B * GH;
      rnn_step_backward(cell_, B, Hd_, dec_cache_[l].data() + t * B * CW, state(l, t), nullptr, 0, ds[l].data(),
                        lstm ? dc[l].data() : nullptr, w[l].w_hh, gx, GH, dgh[l].data() + t * B * GH, dsp[l].data(),
                        lstm ? dcp[l].data() : nullptr);
      ops::sgemm(false, false, B, in_dim, GH, 1.0f, gx, w[l].w_ih, 0.0f, dx.data());  // dx (B, in) = dgx @ W_ih
      if (l > 0) {  // into s^{l-1}_t, through the dropout between layers
        dropout_backward(ds[l - 1].data(), dx.data(), dec_drop_[l].data() + t * B * Hd_, B * Hd_, p);
        continue;
      }
      for (int64_t b = 0; b < B; ++b) {
        std::memcpy(demb.data() + (t * B + b) * emb_, dx.data() + b * X, sizeof(float) * emb_);
        const float* dxc = dx.data() + b * X + emb_;
        float* dcb = dctx.data() + b * E_;
        for (int64_t j = 0; j < E_; ++j) dcb[j] += dxc[j];
      }
    }
    // context -> query s^top_{t-1} (into dsp[top]), keys/values, parameters
    additive_attention_backward(ad, dctx.data(), state(top, t), mem_.data(), kp_.data(), src_mask_.data(),
                                alpha_.data() + t * S, T * S, ps.param(att_wq_), ps.param(att_v_), dsp[top].data(),
                                dmem.data(), dkp.data(), ps.grad(att_wq_), ps.grad(att_v_), attn_scratch_);
    ds.swap(dsp);
    if (lstm) dc.swap(dcp);
  }
  // decoder cell weights: one sgemm each over all steps
  std::vector<RnnGrads> g = grads_of(dec_ids_);
  for (int64_t l = 0; l < L_; ++l) {
    linear_backward(nullptr, g[l].w_ih, g[l].b_ih, dgx[l].data(), dec_in_[l].data(), w[l].w_ih, T * B,
                    l == 0 ? X : Hd_, GH);
    linear_backward(nullptr, g[l].w_hh, g[l].b_hh, dgh[l].data(), state(l, 0), w[l].w_hh, T * B, Hd_, GH);
  }
  ps.grads_final_from(dec_first_);
  // target embeddings (rows in (T, B) order)
  {
    std::vector<float> de(T * B * emb_, 0.0f);
    dropout_backward(de.data(), demb.data(), dec_drop_[0].data(), T * B * emb_, p);
    std::vector<int32_t> ids(T * B);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) ids[t * B + b] = tgt_in_[b * T + t];
    embedding_backward(ps.grad(tgt_emb_), de.data(), ids.data(), T * B, emb_);
  }
  // key projection
  additive_attention_keys_backward(ad, dkp.data(), mem_.data(), ps.param(att_wk_), dmem.data(), ps.grad(att_wk_),
                                   ps.grad(att_bk_));
  ps.grads_final_from(attn_first_);
  // bridges: s^l_0 = tanh(bridge(bridge_in[l])) -> encoder final states
  std::vector<float> dhn(L_ * D * B * He_, 0.0f);  // (L*D, B, He)
  std::vector<float> dbin(B * E_);
  for (int64_t l = 0; l < L_; ++l) {
    const float* s0 = state(l, 0);
    float* d = ds[l].data();
    for (int64_t i = 0; i < B * Hd_; ++i) d[i] *= 1.0f - s0[i] * s0[i];
    std::fill(dbin.begin(), dbin.end(), 0.0f);
    linear_backward(dbin.data(), ps.grad(bridge_w_), ps.grad(bridge_b_), d, bridge_in_.data() + l * B * E_,
                    ps.param(bridge_w_), B, E_, Hd_);
    for (int64_t dir = 0; dir < D; ++dir) {
      float* h = dhn.data() + (l * D + dir) * B * He_;
      for (int64_t r = 0; r < B; ++r)
        std::memcpy(h + r * He_, dbin.data() + r * E_ + dir * He_, sizeof(float) * He_);
    }
  }
  ps.grads_final_from(bridge_first_);
  // encoder
  std::vector<float> dsrc_drop(B * S * emb_, 0.0f), dsrc(B * S * emb_, 0.0f);
  std::vector<RnnGrads> eg = grads_of(enc_ids_);
  rnn_stack_backward(enc_shape_, weights_of(enc_ids_), dmem.data(), dhn.data(), nullptr, eg, dsrc_drop.data(),
                     nullptr, nullptr, enc_cache_);
  ps.grads_final_from(enc_first_);
  dropout_backward(dsrc.data(), dsrc_drop.data(), src_drop_.data(), B * S * emb_, p);
  embedding_backward(ps.grad(src_emb_), dsrc.data(), src_.data(), B * S, emb_);
}

// ---- incremental decoding (nn/decoder.h) ---------------------------------------
// The encoder and the bridge run once in start(); the state is each decoder
// layer's hidden (and LSTM cell) state, plus each row's memory, which reorder
// gathers with the rows (rnn memories are small).

class RnnStepDecoder;

namespace {

// Rows of a (groups, B, width) array: row i of every group := old row rows[i].
template <class T>
void gather_rows(std::vector<T>& v, int64_t groups, int64_t B, int64_t width, const std::vector<int64_t>& rows) {
  const int64_t nB = static_cast<int64_t>(rows.size());
  std::vector<T> out(static_cast<size_t>(groups * nB * width));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < nB; ++i)
      std::copy_n(v.begin() + (g * B + rows[i]) * width, width, out.begin() + (g * nB + i) * width);
  v.swap(out);
}

struct RnnState : DecoderState {
  int64_t S = 0;
  std::vector<float> mem, kp;                   // (B, S, E), (B, S, A)
  std::vector<uint8_t> mask;                    // (B, S)
  std::vector<float> h, c, h_next, c_next;      // (L, B, Hd); c: LSTM only
  std::vector<std::vector<float>> in, cache;    // per layer (B, emb + E | Hd), (B, cache width)
  std::vector<std::vector<uint8_t>> drop;       // per layer (B, emb | Hd), unused (no dropout)
  std::vector<float> ctx, alpha, feat, proj;    // (B, E), (B, S), (B, F), (B, d_emb)
  friend class qkv::nn::RnnStepDecoder;
};

}  // namespace

class RnnStepDecoder : public Decoder {
 public:
  explicit RnnStepDecoder(RnnSeq2Seq& m) : m_(m) {}
  int64_t vocab_size() const override { return m_.Vt_; }
  int64_t max_positions() const override { return INT64_MAX; }
  bool has_source() const override { return true; }

  std::unique_ptr<DecoderState> start(const std::vector<std::vector<int32_t>>& sources, int64_t capacity) override {
    RnnSeq2Seq& m = m_;
    const int64_t B = static_cast<int64_t>(sources.size());
    if (B < 1) throw UsageError("rnn decoder: no sources");
    int64_t S = 1;
    for (const auto& src : sources) S = std::max<int64_t>(S, static_cast<int64_t>(src.size()));
    Batch b;
    b.B = B;
    b.S = S;
    b.src.assign(static_cast<size_t>(B * S), m.pad_);  // (B, S) padded
    for (int64_t i = 0; i < B; ++i) std::copy(sources[i].begin(), sources[i].end(), b.src.begin() + i * S);
    check_ids(b.src, B * S, m.Vs_, "src");
    m.encode(b, false);  // mem_ (B, S, E), kp_ (B, S, A), src_mask_ (B, S), bridge_in_ (L, B, E)
    std::unique_ptr<RnnState> st = spare_ ? std::move(spare_) : std::make_unique<RnnState>();
    st->B_ = B;
    st->len_ = 0;
    st->cap_ = capacity;
    st->S = S;
    st->mem = m.mem_;
    st->kp = m.kp_;
    st->mask = m.src_mask_;
    const int64_t L = m.L_, Hd = m.Hd_;
    st->h.resize(L * B * Hd);
    st->c.assign(m.cell_ == RnnCell::lstm ? L * B * Hd : 0, 0.0f);  // an LSTM decoder's cells start at 0
    for (int64_t l = 0; l < L; ++l) m.bridge(m.bridge_in_.data() + l * B * m.E_, B, st->h.data() + l * B * Hd);
    return st;
  }

  void step(DecoderState& state, const int32_t* ids, float* logits, std::vector<AttentionMap>* att) override {
    RnnSeq2Seq& m = m_;
    RnnState& st = static_cast<RnnState&>(state);
    const int64_t B = st.B_, L = m.L_, Hd = m.Hd_, E = m.E_, F = m.F_;
    const bool lstm = m.cell_ == RnnCell::lstm;
    st.h_next.resize(L * B * Hd);
    st.c_next.resize(lstm ? L * B * Hd : 0);
    st.in.resize(L), st.drop.resize(L), st.cache.resize(L);
    st.ctx.resize(B * E), st.alpha.resize(B * st.S), st.feat.resize(B * F), st.proj.resize(m.tied_ ? B * m.emb_ : 0);
    RnnSeq2Seq::StepIo io;
    io.B = B, io.S = st.S;
    io.mem = st.mem.data(), io.kp = st.kp.data(), io.mask = st.mask.data();
    io.ctx = st.ctx.data(), io.alpha = st.alpha.data(), io.alpha_stride = st.S;
    for (int64_t l = 0; l < L; ++l) {
      st.in[l].resize(B * (l == 0 ? m.emb_ + E : Hd));
      st.drop[l].resize(B * (l == 0 ? m.emb_ : Hd));
      st.cache[l].resize(B * rnn_cache_width(m.cell_, Hd));
      io.h_prev.push_back(st.h.data() + l * B * Hd), io.h.push_back(st.h_next.data() + l * B * Hd);
      io.c_prev.push_back(lstm ? st.c.data() + l * B * Hd : nullptr);
      io.c.push_back(lstm ? st.c_next.data() + l * B * Hd : nullptr);
      io.in.push_back(st.in[l].data()), io.drop.push_back(st.drop[l].data()), io.cache.push_back(st.cache[l].data());
    }
    m.run_step(io, ids, 1, 0.0f);
    st.h.swap(st.h_next);
    st.c.swap(st.c_next);
    // logits (B, V) of the features [s^top_t; ctx_t] (B, F)
    const float* s = st.h.data() + (L - 1) * B * Hd;
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(st.feat.data() + b * F, s + b * Hd, sizeof(float) * Hd);
      std::memcpy(st.feat.data() + b * F + Hd, st.ctx.data() + b * E, sizeof(float) * E);
    }
    m.output_forward(st.feat.data(), B, logits, st.proj.data());
    st.len_ += 1;
    if (!att) return;
    att->assign(1, AttentionMap{"attn", {B, 1, 1, st.S}, st.alpha.data(), "additive", 0});
  }

  void reorder(DecoderState& state, const std::vector<int64_t>& rows) override {
    RnnState& st = static_cast<RnnState&>(state);
    const int64_t B = st.B_;
    for (int64_t r : rows) QKV_CHECK(r >= 0 && r < B, "rnn decoder: reorder row out of range");
    gather_rows(st.mem, 1, B, st.S * m_.E_, rows);
    gather_rows(st.kp, 1, B, st.S * m_.A_, rows);
    gather_rows(st.mask, 1, B, st.S, rows);
    gather_rows(st.h, m_.L_, B, m_.Hd_, rows);
    if (!st.c.empty()) gather_rows(st.c, m_.L_, B, m_.Hd_, rows);
    st.B_ = static_cast<int64_t>(rows.size());
  }

  void recycle(std::unique_ptr<DecoderState> state) override {
    if (dynamic_cast<RnnState*>(state.get())) spare_.reset(static_cast<RnnState*>(state.release()));
  }

 private:
  RnnSeq2Seq& m_;
  std::unique_ptr<RnnState> spare_;  // recycle()'s, for the next start()
};

std::unique_ptr<Decoder> RnnSeq2Seq::decoder() { return std::make_unique<RnnStepDecoder>(*this); }

}  // namespace qkv::nn
