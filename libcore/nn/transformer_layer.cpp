#include "nn/transformer_layer.h"

#include <algorithm>
#include <deque>
#include <string>

#include "core/error.h"
#include "nn/dropout.h"
#include "nn/layernorm.h"
#include "nn/residual.h"

namespace qkv::nn {

namespace {

// One residual sub-layer around `branch(in (N, C), out (N, C))`:
//   pre-norm:  out = x + drop(branch(LN(x)))
//   post-norm: out = LN(x + drop(branch(x)))
template <class Branch>
void sublayer_forward(float* out, const float* x, const LayerNormWeights& ln, bool norm_first, float eps, float p,
                      bool training, Rng* rng, int64_t N, int64_t C, SublayerCache& c, Branch branch) {
  c.mean.resize(N);
  c.rstd.resize(N);
  c.branch.resize(N * C);
  const float* in = x;
  if (norm_first) {
    c.normed.resize(N * C);
    layernorm_forward(c.normed.data(), c.mean.data(), c.rstd.data(), x, ln.weight, ln.bias, N, C, eps);
    in = c.normed.data();
  }
  branch(in, c.branch.data());
  if (training && p > 0.0f) {
    if (!rng) throw DataError("residual dropout needs a random generator");
    c.drop_mask.resize(N * C);
    dropout_forward(c.branch.data(), c.drop_mask.data(), c.branch.data(), N * C, p, *rng);
  } else {
    c.drop_mask.clear();
  }
  if (norm_first) {
    residual_forward(out, x, c.branch.data(), N * C);
  } else {
    c.sum.resize(N * C);
    residual_forward(c.sum.data(), x, c.branch.data(), N * C);
    layernorm_forward(out, c.mean.data(), c.rstd.data(), c.sum.data(), ln.weight, ln.bias, N, C, eps);
  }
}

// Backward of sublayer_forward. branch_back(dbranch (N, C), in (N, C), din (N, C))
// must ACCUMULATE the branch's input gradient into din.
template <class BranchBack>
void sublayer_backward(float* dx, const LayerNormGrads& g, const float* dout, const float* x,
                       const LayerNormWeights& ln, bool norm_first, float p, int64_t N, int64_t C, SublayerCache& c,
                       BranchBack branch_back) {
  const float* dres = dout;  // gradient at the residual sum
  if (!norm_first) {
    c.dtmp.assign(N * C, 0.0f);
    layernorm_backward(c.dtmp.data(), g.weight, g.bias, dout, c.sum.data(), ln.weight, c.mean.data(),
                       c.rstd.data(), N, C);
    dres = c.dtmp.data();
  }
  accumulate(dx, dres, N * C);  // the skip connection
  const float* dbranch = dres;
  if (!c.drop_mask.empty()) {
    c.dbranch.assign(N * C, 0.0f);
    dropout_backward(c.dbranch.data(), dres, c.drop_mask.data(), N * C, p);
    dbranch = c.dbranch.data();
  }
  if (norm_first) {
    // dtmp := d LN(x), then through the LayerNorm into dx
    c.dtmp.assign(N * C, 0.0f);
    branch_back(dbranch, c.normed.data(), c.dtmp.data());
    layernorm_backward(dx, g.weight, g.bias, c.dtmp.data(), x, ln.weight, c.mean.data(), c.rstd.data(), N, C);
  } else {
    branch_back(dbranch, x, dx);
  }
}

void check_config(const TransformerLayerConfig& cfg) {
  if (cfg.d_model <= 0 || cfg.n_head <= 0 || cfg.d_ff <= 0)
    throw DataError("transformer layer: d_model, n_head and d_ff must be positive");
  if (cfg.d_model % cfg.n_head != 0)
    throw DataError("transformer layer: d_model " + std::to_string(cfg.d_model) + " is not divisible by n_head " +
                    std::to_string(cfg.n_head));
}

}  // namespace

void encoder_layer_forward(float* out, const float* x, const uint8_t* key_padding_mask, const EncoderLayerWeights& w,
                           const TransformerLayerConfig& cfg, int64_t B, int64_t T, bool training, Rng* rng,
                           EncoderLayerCache& c) {
  check_config(cfg);
  const int64_t C = cfg.d_model, N = B * T;
  c.B = B, c.T = T, c.cfg = cfg, c.training = training;
  AttentionOptions opt;
  opt.causal = cfg.causal;
  opt.key_padding_mask = key_padding_mask;
  opt.dropout = training ? cfg.attn_dropout : 0.0f;
  opt.rng = rng;
  c.x1.resize(N * C);
  sublayer_forward(c.x1.data(), x, w.norm1, cfg.norm_first, cfg.eps, cfg.resid_dropout, training, rng, N, C, c.s1,
                   [&](const float* in, float* o) { mha_forward(o, in, in, w.self_attn, B, T, T, C, cfg.n_head, opt, c.attn); });
  // inference: the first sub-layer's buffers are free again (nothing is kept for a backward)
  sublayer_forward(out, c.x1.data(), w.norm2, cfg.norm_first, cfg.eps, cfg.resid_dropout, training, rng, N, C,
                   c.inference ? c.s1 : c.s2, [&](const float* in, float* o) {
                     ffn_forward(o, in, w.ff, N, C, cfg.d_ff, cfg.activation, training ? cfg.ffn_dropout : 0.0f, rng,
                                 c.ff, !c.inference);
                   });
}

void encoder_layer_backward(float* dx, const EncoderLayerGrads& g, const float* dout, const float* x,
                            const EncoderLayerWeights& w, EncoderLayerCache& c) {
  if (c.inference) throw UsageError("encoder layer backward after an inference forward (nothing was kept)");
  const TransformerLayerConfig& cfg = c.cfg;
  const int64_t C = cfg.d_model, N = c.B * c.T;
  c.dx1.assign(N * C, 0.0f);
  sublayer_backward(c.dx1.data(), g.norm2, dout, c.x1.data(), w.norm2, cfg.norm_first, cfg.resid_dropout, N, C, c.s2,
                    [&](const float* d, const float* in, float* din) { ffn_backward(din, g.ff, d, in, w.ff, c.ff); });
  sublayer_backward(dx, g.norm1, c.dx1.data(), x, w.norm1, cfg.norm_first, cfg.resid_dropout, N, C, c.s1,
                    [&](const float* d, const float* in, float* din) {
                      mha_backward(din, din, g.self_attn, d, in, in, w.self_attn, c.attn);
                    });
}

void decoder_layer_forward(float* out, const float* x, const float* memory, const uint8_t* tgt_key_padding_mask,
                           const uint8_t* memory_key_padding_mask, const DecoderLayerWeights& w,
                           const TransformerLayerConfig& cfg, int64_t B, int64_t T, int64_t S, bool training,
                           Rng* rng, DecoderLayerCache& c) {
  check_config(cfg);
  const int64_t C = cfg.d_model, N = B * T;
  c.B = B, c.T = T, c.S = S, c.cfg = cfg, c.training = training;
  AttentionOptions self_opt;
  self_opt.causal = cfg.causal;
  self_opt.key_padding_mask = tgt_key_padding_mask;
  self_opt.dropout = training ? cfg.attn_dropout : 0.0f;
  self_opt.rng = rng;
  AttentionOptions cross_opt = self_opt;
  cross_opt.causal = false;
  cross_opt.key_padding_mask = memory_key_padding_mask;
  c.x1.resize(N * C);
  c.x2.resize(N * C);
  sublayer_forward(c.x1.data(), x, w.norm1, cfg.norm_first, cfg.eps, cfg.resid_dropout, training, rng, N, C, c.s1,
                   [&](const float* in, float* o) {
                     mha_forward(o, in, in, w.self_attn, B, T, T, C, cfg.n_head, self_opt, c.self_attn);
                   });
  sublayer_forward(c.x2.data(), c.x1.data(), w.norm2, cfg.norm_first, cfg.eps, cfg.resid_dropout, training, rng, N,
                   C, c.s2, [&](const float* in, float* o) {
                     mha_forward(o, in, memory, w.cross_attn, B, T, S, C, cfg.n_head, cross_opt, c.cross_attn);
                   });
  sublayer_forward(out, c.x2.data(), w.norm3, cfg.norm_first, cfg.eps, cfg.resid_dropout, training, rng, N, C, c.s3,
                   [&](const float* in, float* o) {
                     ffn_forward(o, in, w.ff, N, C, cfg.d_ff, cfg.activation, training ? cfg.ffn_dropout : 0.0f, rng,
                                 c.ff, !c.inference);
                   });
}

void decoder_layer_backward(float* dx, float* dmemory, const DecoderLayerGrads& g, const float* dout,
                            const float* x, const float* memory, const DecoderLayerWeights& w,
                            DecoderLayerCache& c) {
  if (c.inference) throw UsageError("decoder layer backward after an inference forward (nothing was kept)");
  const TransformerLayerConfig& cfg = c.cfg;
  const int64_t C = cfg.d_model, N = c.B * c.T;
  c.dx1.assign(N * C, 0.0f);
  c.dx2.assign(N * C, 0.0f);
  sublayer_backward(c.dx2.data(), g.norm3, dout, c.x2.data(), w.norm3, cfg.norm_first, cfg.resid_dropout, N, C, c.s3,
                    [&](const float* d, const float* in, float* din) { ffn_backward(din, g.ff, d, in, w.ff, c.ff); });
  sublayer_backward(c.dx1.data(), g.norm2, c.dx2.data(), c.x1.data(), w.norm2, cfg.norm_first, cfg.resid_dropout, N,
                    C, c.s2, [&](const float* d, const float* in, float* din) {
                      mha_backward(din, dmemory, g.cross_attn, d, in, memory, w.cross_attn, c.cross_attn);
                    });
  sublayer_backward(dx, g.norm1, c.dx1.data(), x, w.norm1, cfg.norm_first, cfg.resid_dropout, N, C, c.s1,
                    [&](const float* d, const float* in, float* din) {
                      mha_backward(din, din, g.self_attn, d, in, in, w.self_attn, c.self_attn);
                    });
}

void encoder_layer_step(float* out, const float* x, const EncoderLayerWeights& w, const TransformerLayerConfig& cfg,
                        KvCache& cache, LayerStepScratch& s) {
  const int64_t C = cfg.d_model, N = cache.B;
  s.x1.resize(N * C);
  sublayer_forward(s.x1.data(), x, w.norm1, cfg.norm_first, cfg.eps, 0.0f, false, nullptr, N, C, s.s1,
                   [&](const float* in, float* o) { mha_step_self(o, in, w.self_attn, C, cfg.n_head, cache, s.self_attn); });
  sublayer_forward(out, s.x1.data(), w.norm2, cfg.norm_first, cfg.eps, 0.0f, false, nullptr, N, C, s.s2,
                   [&](const float* in, float* o) {
                     ffn_forward(o, in, w.ff, N, C, cfg.d_ff, cfg.activation, 0.0f, nullptr, s.ff, false);
                   });
}

void decoder_layer_step(float* out, const float* x, const DecoderLayerWeights& w, const TransformerLayerConfig& cfg,
                        KvCache& cache, const MemoryKv& memory, const int64_t* mem_row, LayerStepScratch& s) {
  const int64_t C = cfg.d_model, N = cache.B;
  s.x1.resize(N * C);
  s.x2.resize(N * C);
  sublayer_forward(s.x1.data(), x, w.norm1, cfg.norm_first, cfg.eps, 0.0f, false, nullptr, N, C, s.s1,
                   [&](const float* in, float* o) { mha_step_self(o, in, w.self_attn, C, cfg.n_head, cache, s.self_attn); });
  sublayer_forward(s.x2.data(), s.x1.data(), w.norm2, cfg.norm_first, cfg.eps, 0.0f, false, nullptr, N, C, s.s2,
                   [&](const float* in, float* o) {
                     mha_step_cross(o, in, w.cross_attn, cfg.n_head, memory, mem_row, N, s.cross_attn);
                   });
  sublayer_forward(out, s.x2.data(), w.norm3, cfg.norm_first, cfg.eps, 0.0f, false, nullptr, N, C, s.s3,
                   [&](const float* in, float* o) {
                     ffn_forward(o, in, w.ff, N, C, cfg.d_ff, cfg.activation, 0.0f, nullptr, s.ff, false);
                   });
}

namespace {

// The packed copies of one attention's matrices; C query rows of in_proj for
// cross-attention (its keys/values come from the memory, projected in start()).
void pack_mha(MhaWeights& w, int64_t C, int64_t in_rows, std::deque<PackedWeight>& packs) {
  packs.emplace_back(w.in_proj_weight, in_rows, C);
  w.in_proj_packed = &packs.back();
  packs.emplace_back(w.out_proj_weight, C, C);
  w.out_proj_packed = &packs.back();
}
void pack_ffn(FfnWeights& w, int64_t C, int64_t F, std::deque<PackedWeight>& packs) {
  packs.emplace_back(w.w1, F, C);
  w.w1_packed = &packs.back();
  packs.emplace_back(w.w2, C, F);
  w.w2_packed = &packs.back();
}
void pack_layer(EncoderLayerWeights& w, int64_t C, int64_t F, std::deque<PackedWeight>& packs) {
  pack_mha(w.self_attn, C, 3 * C, packs);
  pack_ffn(w.ff, C, F, packs);
}
void pack_layer(DecoderLayerWeights& w, int64_t C, int64_t F, std::deque<PackedWeight>& packs) {
  pack_mha(w.self_attn, C, 3 * C, packs);
  pack_mha(w.cross_attn, C, C, packs);
  pack_ffn(w.ff, C, F, packs);
}
}  // namespace

template <class LayerWeights>
const LayerWeights& StepWeights<LayerWeights>::layer(int64_t l, int64_t B) {
  if (B <= kFewRows) return plain_[static_cast<size_t>(l)];
  if (packed_.empty()) pack();
  return packed_[static_cast<size_t>(l)];
}

template <class LayerWeights>
void StepWeights<LayerWeights>::head_forward(float* logits, const float* x, int64_t B) {
  if (B > kFewRows && packed_.empty()) pack();
  linear_forward(logits, x, head_, head_bias_, B, C_, V_, B > kFewRows ? &head_packed_ : nullptr);
}

template <class LayerWeights>
void StepWeights<LayerWeights>::pack() {
  packs_.clear();
  packed_ = plain_;
  for (LayerWeights& w : packed_) pack_layer(w, C_, F_, packs_);
  head_packed_ = PackedWeight(head_, V_, C_);
}

template class StepWeights<EncoderLayerWeights>;
template class StepWeights<DecoderLayerWeights>;

}  // namespace qkv::nn
