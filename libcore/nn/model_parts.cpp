#include "nn/model_parts.h"

#include <cstring>

#include "core/error.h"

namespace qkv::nn {

void add_layernorm(ParamStore& ps, const std::string& prefix, int64_t C, ParamId& w, ParamId& b, bool bias) {
  w = ps.add(prefix + "weight", {C});
  b = bias ? ps.add(prefix + "bias", {C}) : -1;
}

namespace {
// nn.MultiheadAttention's four tensors under prefix ("self_attn.", "multihead_attn.").
void add_mha(ParamStore& ps, const std::string& prefix, int64_t C, ParamId& in_w, ParamId& in_b, ParamId& out_w,
             ParamId& out_b) {
  in_w = ps.add(prefix + "in_proj_weight", {3 * C, C});
  in_b = ps.add(prefix + "in_proj_bias", {3 * C});
  out_w = ps.add(prefix + "out_proj.weight", {C, C});
  out_b = ps.add(prefix + "out_proj.bias", {C});
}

// nn.TransformerEncoderLayer / DecoderLayer feed-forward: linear1, linear2.
void add_linear12(ParamStore& ps, const std::string& p, int64_t C, int64_t F, ParamId& w1, ParamId& b1, ParamId& w2,
                  ParamId& b2) {
  w1 = ps.add(p + "linear1.weight", {F, C});
  b1 = ps.add(p + "linear1.bias", {F});
  w2 = ps.add(p + "linear2.weight", {C, F});
  b2 = ps.add(p + "linear2.bias", {C});
}
}  // namespace

EncoderLayerIds add_encoder_layer(ParamStore& ps, const std::string& p, int64_t C, int64_t F, bool bias,
                                  LayerNaming naming) {
  EncoderLayerIds id;
  id.first = ps.mark();
  if (naming == LayerNaming::nanogpt) {
    // nanoGPT Block order: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj
    add_layernorm(ps, p + "ln_1.", C, id.n1_w, id.n1_b, bias);
    id.in_w = ps.add(p + "attn.c_attn.weight", {3 * C, C});
    if (bias) id.in_b = ps.add(p + "attn.c_attn.bias", {3 * C});
    id.out_w = ps.add(p + "attn.c_proj.weight", {C, C});
    if (bias) id.out_b = ps.add(p + "attn.c_proj.bias", {C});
    add_layernorm(ps, p + "ln_2.", C, id.n2_w, id.n2_b, bias);
    id.ff1_w = ps.add(p + "mlp.c_fc.weight", {F, C});
    if (bias) id.ff1_b = ps.add(p + "mlp.c_fc.bias", {F});
    id.ff2_w = ps.add(p + "mlp.c_proj.weight", {C, F});
    if (bias) id.ff2_b = ps.add(p + "mlp.c_proj.bias", {C});
    return id;
  }
  // nn.TransformerEncoderLayer order: self_attn, linear1, linear2, norm1, norm2
  add_mha(ps, p + "self_attn.", C, id.in_w, id.in_b, id.out_w, id.out_b);
  add_linear12(ps, p, C, F, id.ff1_w, id.ff1_b, id.ff2_w, id.ff2_b);
  add_layernorm(ps, p + "norm1.", C, id.n1_w, id.n1_b);
  add_layernorm(ps, p + "norm2.", C, id.n2_w, id.n2_b);
  return id;
}

DecoderLayerIds add_decoder_layer(ParamStore& ps, const std::string& p, int64_t C, int64_t F) {
  // nn.TransformerDecoderLayer order: self_attn, multihead_attn, linear1, linear2, norm1..3
  DecoderLayerIds id;
  id.first = ps.mark();
  add_mha(ps, p + "self_attn.", C, id.self_in_w, id.self_in_b, id.self_out_w, id.self_out_b);
  add_mha(ps, p + "multihead_attn.", C, id.cross_in_w, id.cross_in_b, id.cross_out_w, id.cross_out_b);
  add_linear12(ps, p, C, F, id.ff1_w, id.ff1_b, id.ff2_w, id.ff2_b);
  add_layernorm(ps, p + "norm1.", C, id.n1_w, id.n1_b);
  add_layernorm(ps, p + "norm2.", C, id.n2_w, id.n2_b);
  add_layernorm(ps, p + "norm3.", C, id.n3_w, id.n3_b);
  return id;
}

const float* param_or_null(const ParamStore& ps, ParamId id) { return id < 0 ? nullptr : ps.param(id); }
float* grad_or_null(ParamStore& ps, ParamId id) { return id < 0 ? nullptr : ps.grad(id); }

namespace {

// One place for the id -> pointer mapping; Out is the weights (const
// pointers) or the gradients struct, which share their member names.
template <class Out, class Get>
Out encoder_ptrs(const EncoderLayerIds& id, Get get) {
  Out o;
  o.self_attn = {get(id.in_w), get(id.in_b), get(id.out_w), get(id.out_b)};
  o.norm1 = {get(id.n1_w), get(id.n1_b)};
  o.norm2 = {get(id.n2_w), get(id.n2_b)};
  o.ff = {get(id.ff1_w), get(id.ff1_b), get(id.ff2_w), get(id.ff2_b)};
  return o;
}

template <class Out, class Get>
Out decoder_ptrs(const DecoderLayerIds& id, Get get) {
  Out o;
  o.self_attn = {get(id.self_in_w), get(id.self_in_b), get(id.self_out_w), get(id.self_out_b)};
  o.cross_attn = {get(id.cross_in_w), get(id.cross_in_b), get(id.cross_out_w), get(id.cross_out_b)};
  o.norm1 = {get(id.n1_w), get(id.n1_b)};
  o.norm2 = {get(id.n2_w), get(id.n2_b)};
  o.norm3 = {get(id.n3_w), get(id.n3_b)};
  o.ff = {get(id.ff1_w), get(id.ff1_b), get(id.ff2_w), get(id.ff2_b)};
  return o;
}

}  // namespace

namespace {
// A probe's gates into the weights, its analysis outputs into the gradients (nothing when unused).
void probe_weights(MhaWeights& w, const HeadProbe* p) {
  if (p && !p->gate.empty()) w.head_gate = p->gate.data();
}
void probe_grads(MhaGrads& g, HeadProbe* p) {
  if (p && p->keep_grads) g.gate_grad = &p->gate_grad, g.att_grad = &p->att_grad;
}
}  // namespace

EncoderLayerWeights encoder_weights(const ParamStore& ps, const EncoderLayerIds& id) {
  auto w = encoder_ptrs<EncoderLayerWeights>(id, [&](ParamId i) { return param_or_null(ps, i); });
  probe_weights(w.self_attn, id.probe);
  return w;
}
EncoderLayerGrads encoder_grads(ParamStore& ps, const EncoderLayerIds& id) {
  auto g = encoder_ptrs<EncoderLayerGrads>(id, [&](ParamId i) { return grad_or_null(ps, i); });
  probe_grads(g.self_attn, id.probe);
  return g;
}
DecoderLayerWeights decoder_weights(const ParamStore& ps, const DecoderLayerIds& id) {
  auto w = decoder_ptrs<DecoderLayerWeights>(id, [&](ParamId i) { return param_or_null(ps, i); });
  probe_weights(w.self_attn, id.self_probe);
  probe_weights(w.cross_attn, id.cross_probe);
  return w;
}
DecoderLayerGrads decoder_grads(ParamStore& ps, const DecoderLayerIds& id) {
  auto g = decoder_ptrs<DecoderLayerGrads>(id, [&](ParamId i) { return grad_or_null(ps, i); });
  probe_grads(g.self_attn, id.self_probe);
  probe_grads(g.cross_attn, id.cross_probe);
  return g;
}

void attach_head_probes(std::vector<HeadProbe>& probes, int64_t H, std::vector<EncoderLayerIds>& enc,
                        const std::string& enc_kind, std::vector<DecoderLayerIds>* dec) {
  const size_t Le = enc.size(), Ld = dec ? dec->size() : 0;
  probes.assign(Le + 2 * Ld, HeadProbe{});
  for (size_t l = 0; l < Le; ++l) probes[l] = {enc_kind, static_cast<int64_t>(l), H}, enc[l].probe = &probes[l];
  for (size_t l = 0; l < Ld; ++l) {
    HeadProbe& s = probes[Le + 2 * l];
    HeadProbe& c = probes[Le + 2 * l + 1];
    s.kind = "decoder_self", c.kind = "cross";
    s.layer = c.layer = static_cast<int64_t>(l);
    s.H = c.H = H;
    (*dec)[l].self_probe = &s, (*dec)[l].cross_probe = &c;
  }
}

TransformerLayerConfig layer_config(int64_t C, int64_t H, int64_t F, Activation act, bool pre_norm, float dropout,
                                    float eps) {
  TransformerLayerConfig c;
  c.d_model = C;
  c.n_head = H;
  c.d_ff = F;
  c.activation = act;
  c.norm_first = pre_norm;
  c.dropout(dropout);
  c.eps = eps;
  return c;
}

float* EncoderStack::input(int64_t B, int64_t T) {
  B_ = B;
  T_ = T;
  if (xs_.empty()) xs_.resize(1);
  xs_[0].resize(static_cast<size_t>(B * T * cfg.d_model));
  return xs_[0].data();
}

const float* EncoderStack::forward(const ParamStore& ps, const uint8_t* key_padding_mask, bool training, Rng* rng) {
  const size_t n = static_cast<size_t>(B_ * T_ * cfg.d_model), L = ids.size();
  inference_ = !training;
  if (training) {
    xs_.resize(L + 1);
    caches_.resize(L);
    for (size_t l = 1; l <= L; ++l) xs_[l].resize(n);
    for (size_t l = 0; l < L; ++l)
      encoder_layer_forward(xs_[l + 1].data(), xs_[l].data(), key_padding_mask, encoder_weights(ps, ids[l]), cfg, B_,
                            T_, training, rng, caches_[l]);
    top_ = xs_[L].data();
    return top_;
  }
  eval_cache_.inference = true;
  eval_att_.resize(L);
  const float* in = xs_[0].data();
  for (size_t l = 0; l < L; ++l) {
    Buffer<float>& out = eval_x_[l % 2];  // (B*T, C)
    out.resize(n);
    encoder_layer_forward(out.data(), in, key_padding_mask, encoder_weights(ps, ids[l]), cfg, B_, T_, false, rng,
                          eval_cache_);
    std::swap(eval_att_[l], eval_cache_.attn.sdpa.att);  // keep layer l's weights, reuse the previous buffer
    in = out.data();
  }
  top_ = in;
  return top_;
}

float* EncoderStack::output_grad() {
  dx_.assign(static_cast<size_t>(B_ * T_ * cfg.d_model), 0.0f);
  return dx_.data();
}

void EncoderStack::check_backward() const {
  if (inference_) throw UsageError("backward() after an evaluation forward (training = false): nothing was kept for it");
}

const float* EncoderStack::backward(ParamStore& ps) {
  check_backward();
  for (size_t l = ids.size(); l-- > 0;) {
    dprev_.assign(dx_.size(), 0.0f);
    encoder_layer_backward(dprev_.data(), encoder_grads(ps, ids[l]), dx_.data(), xs_[l].data(),
                           encoder_weights(ps, ids[l]), caches_[l]);
    std::swap(dx_, dprev_);
    ps.grads_final_from(ids[l].first);
  }
  return dx_.data();
}

void EncoderStack::attention_maps(const std::string& prefix, const std::string& suffix, const std::string& kind,
                                  std::vector<AttentionMap>& out) const {
  const size_t L = inference_ ? eval_att_.size() : caches_.size();
  for (size_t l = 0; l < L; ++l)
    out.push_back({prefix + std::to_string(l) + suffix, {B_, cfg.n_head, T_, T_},
                   inference_ ? eval_att_[l].data() : caches_[l].attn.weights(), kind, static_cast<int64_t>(l)});
}

void init_params(ParamStore& ps, const std::function<void(ParamId)>& matrix) {
  for (ParamId id = 0; id < ps.count(); ++id) {
    const ParamInfo& p = ps.info(id);
    if (p.shape.size() >= 2) {
      matrix(id);
    } else {
      bool gain = p.name.size() >= 7 && p.name.compare(p.name.size() - 7, 7, ".weight") == 0;
      ps.init_const(id, gain ? 1.0f : 0.0f);
    }
  }
}

Stats LossHead::forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, int64_t ignore,
                        float label_smoothing) {
  has_loss_ = targets != nullptr;
  if (!has_loss_) return Stats{};
  N_ = N;
  V_ = V;
  ignore_ = ignore;
  smoothing_ = label_smoothing;
  probs_.resize(static_cast<size_t>(N * V));
  targets_.assign(targets, targets + N);
  ce_ = cross_entropy_forward(probs_.data(), logits, targets, N, V, label_smoothing, ignore);
  Stats s;
  s.loss_sum = ce_.sum;
  s.count = ce_.count;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == ignore) continue;
    const float* row = logits + n * V;  // (V)
    int64_t best = 0;
    for (int64_t j = 1; j < V; ++j)
      if (row[j] > row[best]) best = j;
    s.correct += best == targets[n];
  }
  return s;
}

void LossHead::backward(float* dlogits, float scale) {
  if (!has_loss_) throw UsageError("backward() after a forward without targets: there is no loss to differentiate");
  std::memset(dlogits, 0, static_cast<size_t>(N_ * V_) * sizeof(float));
  cross_entropy_backward(dlogits, probs_.data(), targets_.data(), N_, V_, ce_, smoothing_, ignore_, scale);
}

void check_ids(const std::vector<int32_t>& ids, int64_t n, int64_t lo, int64_t hi, const std::string& what,
               int64_t allowed_extra) {
  if (static_cast<int64_t>(ids.size()) != n)
    throw DataError(what + ": expected " + std::to_string(n) + " ids, found " + std::to_string(ids.size()));
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = ids[static_cast<size_t>(i)];
    if ((v < lo || v >= hi) && v != allowed_extra)
      throw DataError(what + ": id " + std::to_string(v) + " at position " + std::to_string(i) + " is outside [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + ")");
  }
}

}  // namespace qkv::nn
