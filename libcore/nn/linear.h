// Linear (PyTorch nn.Linear): out = inp @ weight^T + bias.
//
// Shapes: inp (N, C) where N is every leading dim flattened (B*T), weight
// (OC, C) as in PyTorch, bias (OC) or null. One sgemm over all N rows, but
// for at most kFewRows rows (a decoding step of a batch or a beam) a
// register-blocked loop that reads each weight row once: there OpenBLAS's
// sgemm repacks the whole weight matrix on every call, 55% of a batch-1 GPT
// decoding step (perf) and 3x the loop's time (measured per call, 1 thread).
// The loop sums each output the same way for any N <= kFewRows, so a
// hypothesis gets bitwise the same logits alone, in a batch or in a beam.
#pragma once
#include <cstdint>

namespace qkv::nn {

constexpr int64_t kFewRows = 8;

// out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC); bias may be null.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC);

// Accumulates (+=): dinp (N, C) += dout @ weight; dweight (OC, C) += dout^T @ inp;
// dbias (OC) += sum over rows of dout. Any of dinp, dweight, dbias may be null (skipped).
// dout (N, OC), inp (N, C), weight (OC, C).
// accumulate_dinp = false overwrites dinp instead (for a caller's scratch
// buffer, saving the zero fill); parameter gradients always accumulate.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC, bool accumulate_dinp = true);

}  // namespace qkv::nn
