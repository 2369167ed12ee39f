#include "nn/feed_forward.h"

#include "core/error.h"
#include "core/parallel.h"
#include "nn/dropout.h"
#include "nn/fast_math.h"
#include "nn/linear.h"

namespace qkv::nn {

namespace {

QKV_SIMD_CLONES
void scale_by(float* y, const float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= s[i];
}

QKV_SIMD_CLONES
void scale_by_mask_and(float* y, const uint8_t* mask, float keep_scale, const float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = mask[i] ? y[i] * keep_scale * s[i] : 0.0f;
}

}  // namespace

void ffn_forward(float* out, const float* x, const FfnWeights& w, int64_t N, int64_t C, int64_t F, Activation act,
                 float dropout, Rng* rng, FfnCache& c, bool for_backward) {
  if (dropout > 0.0f && !rng) throw DataError("feed-forward dropout needs a random generator");
  c.N = N, c.C = C, c.F = F, c.act = act, c.dropout = dropout;
  c.for_backward = for_backward;
  c.pre.resize(N * F);
  if (!for_backward) {
    QKV_CHECK(dropout == 0.0f, "feed-forward dropout in an inference forward");
    linear_forward(c.pre.data(), x, w.w1, w.b1, N, C, F, w.w1_packed);            // (N, F)
    activation_forward(act, c.pre.data(), c.pre.data(), N * F);      // in place: the same values as the training form
    linear_forward(out, c.pre.data(), w.w2, w.b2, N, F, C, w.w2_packed);          // (N, C)
    return;
  }
  c.hidden.resize(N * F);
  linear_forward(c.pre.data(), x, w.w1, w.b1, N, C, F, w.w1_packed);  // (N, F)
  c.dact.resize(N * F);
  activation_forward_train(act, c.hidden.data(), c.dact.data(), c.pre.data(), N * F);
  if (dropout > 0.0f) {
    c.drop_mask.resize(N * F);
    dropout_forward(c.hidden.data(), c.drop_mask.data(), c.hidden.data(), N * F, dropout, *rng);
  } else {
    c.drop_mask.clear();
  }
  linear_forward(out, c.hidden.data(), w.w2, w.b2, N, F, C, w.w2_packed);  // (N, C)
}

void ffn_backward(float* dx, const FfnGrads& g, const float* dout, const float* x, const FfnWeights& w,
                  FfnCache& c) {
  if (!c.for_backward) throw UsageError("feed-forward backward after an inference forward (nothing was kept)");
  const int64_t N = c.N, C = c.C, F = c.F;
  c.dhidden.resize(N * F);  // (N, F), overwritten
  linear_backward(c.dhidden.data(), g.w2, g.b2, dout, c.hidden.data(), w.w2, N, F, C, /*accumulate_dinp=*/false);
  // through the dropout and the activation, in place: dhidden := dhidden * mask / (1 - p) * act'(pre)
  const uint8_t* mask = c.dropout > 0.0f ? c.drop_mask.data() : nullptr;
  const float keep_scale = c.dropout > 0.0f ? 1.0f / (1.0f - c.dropout) : 1.0f;
  float* dh = c.dhidden.data();
  const float* dact = c.dact.data();
  parallel_for(N * F, kElementwiseChunk, [&](int64_t b, int64_t e) {
    if (mask)
      scale_by_mask_and(dh + b, mask + b, keep_scale, dact + b, e - b);
    else
      scale_by(dh + b, dact + b, e - b);
  });
  linear_backward(dx, g.w1, g.b1, dh, x, w.w1, N, C, F);
}

}  // namespace qkv::nn
