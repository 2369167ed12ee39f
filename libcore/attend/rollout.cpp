#include "attend/rollout.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "tensor/ops.h"

namespace qkv::attend {

Fusion parse_fusion(const std::string& name) {
  if (name == "mean") return Fusion::mean;
  if (name == "min") return Fusion::min;
  if (name == "max") return Fusion::max;
  throw UsageError("head fusion '" + name + "': expected mean, min or max");
}

const char* fusion_name(Fusion f) {
  switch (f) {
    case Fusion::mean: return "mean";
    case Fusion::min: return "min";
    case Fusion::max: return "max";
  }
  return "?";
}

namespace {

// fused (T*T) = mean / min / max over heads of att (H, T*T).
void fuse_heads(float* fused, const float* att, int64_t H, int64_t TT, Fusion f) {
  std::copy(att, att + TT, fused);
  for (int64_t h = 1; h < H; ++h) {
    const float* a = att + h * TT;  // (T, T)
    for (int64_t e = 0; e < TT; ++e)
      fused[e] = f == Fusion::mean  ? fused[e] + a[e]
                 : f == Fusion::min ? std::min(fused[e], a[e])
                                    : std::max(fused[e], a[e]);
  }
  if (f == Fusion::mean)
    for (int64_t e = 0; e < TT; ++e) fused[e] /= static_cast<float>(H);
}

// Zeroes the floor(ratio * n) smallest entries of m (n), ordered by (value,
// index), except entry 0.
void discard_smallest(float* m, int64_t n, float ratio) {
  const int64_t k = static_cast<int64_t>(static_cast<double>(ratio) * static_cast<double>(n));
  if (k <= 0) return;
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  auto less = [m](int64_t a, int64_t b) { return m[a] < m[b] || (m[a] == m[b] && a < b); };
  std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), less);
  for (int64_t i = 0; i < k; ++i)
    if (idx[i] != 0) m[idx[i]] = 0.0f;
}

}  // namespace

void residual_matrices(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt) {
  if (!(opt.discard_ratio >= 0.0f && opt.discard_ratio < 1.0f))
    throw UsageError("--discard-ratio " + std::to_string(opt.discard_ratio) + ": expected a value in [0, 1)");
  const int64_t TT = T * T;
  for (int64_t l = 0; l < L; ++l) {
    float* a = out + l * TT;  // (T, T)
    fuse_heads(a, att + l * H * TT, H, TT, opt.fusion);
    discard_smallest(a, TT, opt.discard_ratio);
    for (int64_t i = 0; i < T; ++i) {
      float* row = a + i * T;  // (T)
      row[i] += 1.0f;
      double sum = 0;
      for (int64_t j = 0; j < T; ++j) sum += row[j];  // 0.5 cancels in the normalisation
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < T; ++j) row[j] *= inv;
    }
  }
}

void rollout(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt) {
  const int64_t TT = T * T;
  std::vector<float> ahat(L * TT), tmp(TT);  // (L, T, T), (T, T)
  residual_matrices(ahat.data(), att, L, H, T, opt);
  std::fill(out, out + TT, 0.0f);
  for (int64_t i = 0; i < T; ++i) out[i * T + i] = 1.0f;
  for (int64_t l = 0; l < L; ++l) {  // out = Ahat_l @ out
    ops::sgemm(false, false, T, T, T, 1.0f, ahat.data() + l * TT, out, 0.0f, tmp.data());
    std::copy(tmp.begin(), tmp.end(), out);
  }
}

}  // namespace qkv::attend
