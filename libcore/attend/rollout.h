// Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
// Transformers"), for one stack of self-attention layers of one example.
//
// Each layer's heads are fused into one (T, T) matrix (mean, min or max over
// heads); with discard_ratio r > 0, the floor(r * T * T) smallest entries of
// the fused matrix are set to 0, except entry (0, 0) (vit-explain's rule:
// the first token's attention to itself is kept); then the residual
// connection is added and rows are normalised:
//
//   Ahat_l = rownorm(0.5 * (fuse(A_l) + I))          // (T, T)
//   rollout = Ahat_{L-1} @ ... @ Ahat_1 @ Ahat_0     // (T, T), row i: how much
//                                                    // output token i draws on input token j
//
// vit-explain divides by a.sum(dim=-1) broadcast over the last axis, i.e.
// column j by row j's sum; qkv normalises rows, as the paper says.
#pragma once
#include <cstdint>
#include <string>

namespace qkv::attend {

enum class Fusion { mean, min, max };
Fusion parse_fusion(const std::string& name);  // "mean" | "min" | "max", else UsageError
const char* fusion_name(Fusion f);

struct RolloutOptions {
  Fusion fusion = Fusion::mean;
  float discard_ratio = 0.0f;  // in [0, 1)
};

// out (L, T, T) = Ahat_l for every layer, from att (L, H, T, T).
void residual_matrices(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt);

// out (T, T) = the rollout of att (L, H, T, T).
void rollout(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt);

}  // namespace qkv::attend
