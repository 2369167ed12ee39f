// LayerNorm (PyTorch nn.LayerNorm over the last dim): per row of C values,
// out = (x - mean) / sqrt(var + eps) * weight + bias, var biased (divided by C).
// The forward keeps mean and rstd = 1/sqrt(var + eps) per row for the backward.
// weight / bias may be null (elementwise_affine=False: 1 and 0).
#pragma once
#include <cstdint>

namespace qkv::nn {

// out (N, C); mean (N), rstd (N) written for the backward; inp (N, C); weight, bias (C).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps = 1e-5f);

// Accumulates: dinp (N, C) +=, dweight (C) +=, dbias (C) +=  (any may be null).
// dout (N, C), inp (N, C), weight (C), mean (N), rstd (N) from the forward.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);

// Naive twins (double accumulation, plain loops): only for the tests.
namespace ref {
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps = 1e-5f);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);
}  // namespace ref

}  // namespace qkv::nn
