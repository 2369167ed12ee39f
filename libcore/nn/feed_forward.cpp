#include "nn/feed_forward.h"

#include "core/error.h"
#include "nn/dropout.h"
#include "nn/linear.h"

namespace qkv::nn {

void ffn_forward(float* out, const float* x, const FfnWeights& w, int64_t N, int64_t C, int64_t F, Activation act,
                 float dropout, Rng* rng, FfnCache& c) {
  if (dropout > 0.0f && !rng) throw DataError("feed-forward dropout needs a random generator");
  c.N = N, c.C = C, c.F = F, c.act = act, c.dropout = dropout;
  c.pre.resize(N * F);
  c.hidden.resize(N * F);
  linear_forward(c.pre.data(), x, w.w1, w.b1, N, C, F);  // (N, F)
  c.dact.resize(N * F);
  activation_forward_train(act, c.hidden.data(), c.dact.data(), c.pre.data(), N * F);
  if (dropout > 0.0f) {
    c.drop_mask.resize(N * F);
    dropout_forward(c.hidden.data(), c.drop_mask.data(), c.hidden.data(), N * F, dropout, *rng);
  } else {
    c.drop_mask.clear();
  }
  linear_forward(out, c.hidden.data(), w.w2, w.b2, N, F, C);  // (N, C)
}

void ffn_backward(float* dx, const FfnGrads& g, const float* dout, const float* x, const FfnWeights& w,
                  FfnCache& c) {
  const int64_t N = c.N, C = c.C, F = c.F;
  c.dhidden.resize(N * F);  // (N, F), overwritten
  linear_backward(c.dhidden.data(), g.w2, g.b2, dout, c.hidden.data(), w.w2, N, F, C, /*accumulate_dinp=*/false);
  if (c.dropout > 0.0f) {  // through the dropout: dhidden := dhidden * mask / (1 - p)
    c.dpre.assign(N * F, 0.0f);
    dropout_backward(c.dpre.data(), c.dhidden.data(), c.drop_mask.data(), N * F, c.dropout);
    c.dhidden.swap(c.dpre);
  }
  c.dpre.assign(N * F, 0.0f);  // (N, F) = dhidden * act'(pre)
  activation_backward_cached(c.dpre.data(), c.dhidden.data(), c.dact.data(), N * F);
  linear_backward(dx, g.w1, g.b1, c.dpre.data(), x, w.w1, N, C, F);
}

}  // namespace qkv::nn
