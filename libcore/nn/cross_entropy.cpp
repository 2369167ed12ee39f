#include "nn/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {

namespace {

// One row: p (V) = softmax(x (V)), in place allowed; returns log-sum-exp and sum of x.
QKV_SIMD_CLONES
void softmax_row_stats(float* p, const float* x, int64_t V, float* lse, float* xsum) {
  const float mx = max_f(x, V), sx = sum_f(x, V);
  for (int64_t j = 0; j < V; ++j) p[j] = exp_f(x[j] - mx);
  const float s = sum_f(p, V);
  float inv = 1.0f / s;
  for (int64_t j = 0; j < V; ++j) p[j] *= inv;
  *lse = mx + std::log(s);
  *xsum = sx;
}

QKV_SIMD_CLONES
void add_scaled_row(float* d, const float* p, int64_t V, float scale, float smooth_each) {
  for (int64_t j = 0; j < V; ++j) d[j] += scale * (p[j] - smooth_each);
}

}  // namespace

CrossEntropyResult cross_entropy_forward(float* probs, const float* logits, const int32_t* targets, int64_t N,
                                         int64_t V, float label_smoothing, int64_t ignore_index, float* losses) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t t = targets[n];
    if (t != ignore_index && (t < 0 || t >= V))
      throw DataError("target " + std::to_string(t) + " at position " + std::to_string(n) +
                      " is outside the vocabulary [0, " + std::to_string(V) + ")");
  }
  const double eps = label_smoothing;
  std::vector<double> row_loss(N, 0.0);  // summed in row order below: independent of the thread count
  parallel_for(N, std::max<int64_t>(1, 4096 / std::max<int64_t>(V, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* x = logits + n * V;  // (V)
      float* p = probs + n * V;         // (V)
      const int64_t t = targets[n];
      const bool ignored = t == ignore_index;
      const float xt = ignored ? 0.0f : x[t];  // read before an in-place softmax overwrites it
      float lse, xsum;
      softmax_row_stats(p, x, V, &lse, &xsum);
      if (!ignored)
        row_loss[n] = -(1.0 - eps) * (static_cast<double>(xt) - lse) -
                      eps / static_cast<double>(V) * (static_cast<double>(xsum) - static_cast<double>(V) * lse);
    }
  });
  CrossEntropyResult r;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] != ignore_index) {
      r.sum += row_loss[n];
      ++r.count;
    }
    if (losses) losses[n] = static_cast<float>(row_loss[n]);
  }
  r.loss = r.count ? r.sum / static_cast<double>(r.count) : 0.0;
  return r;
}

void cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets, int64_t N, int64_t V,
                            const CrossEntropyResult& fwd, float label_smoothing, int64_t ignore_index,
                            float dloss) {
  if (fwd.count == 0) return;
  const float scale = dloss / static_cast<float>(fwd.count);
  const float smooth_each = label_smoothing / static_cast<float>(V);
  parallel_for(N, std::max<int64_t>(1, 4096 / std::max<int64_t>(V, 1)), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      int64_t t = targets[n];
      if (t == ignore_index) continue;
      float* d = dlogits + n * V;  // (V)
      add_scaled_row(d, probs + n * V, V, scale, smooth_each);
      d[t] -= scale * (1.0f - label_smoothing);
    }
  });
}

}  // namespace qkv::nn
