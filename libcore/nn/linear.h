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
//
// A decoder stepping more rows than that (a batch of 32 sources, beams of
// several) passes a PackedWeight, the weight repacked once when the decoder
// is made: sgemm repacks (OC, C) into its own panels on every call, which at
// 32 rows cost as much as its multiply-adds (perf of a 4x256 GPT, greedy
// batch 32: sgemm_incopy 13%, sgemm_kernel 12% of the run).
#pragma once
#include <cstdint>

#include "core/memory.h"

namespace qkv::nn {

constexpr int64_t kFewRows = 8;

// A weight (OC, C) in panels of kPanel output features, each panel (C, kPanel):
// the kPanel weights of input feature k side by side, so a row's x[k] is
// broadcast onto one vector of kPanel outputs and no sum crosses lanes.
// A copy: it does not follow later changes of the weight it was made from.
struct PackedWeight {
  static constexpr int64_t kPanel = 16;
  int64_t OC = 0, C = 0;
  Buffer<float> panels;  // (ceil(OC / kPanel), C, kPanel): output o, input k at
                         //   (o / kPanel) * C * kPanel + k * kPanel + o % kPanel; zero past OC
  PackedWeight() = default;
  PackedWeight(const float* weight, int64_t OC, int64_t C);  // weight (OC, C)
};

// out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC); bias may be null.
// packed: weight's PackedWeight or null; used for more than kFewRows rows.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC, const PackedWeight* packed = nullptr);

// Accumulates (+=): dinp (N, C) += dout @ weight; dweight (OC, C) += dout^T @ inp;
// dbias (OC) += sum over rows of dout. Any of dinp, dweight, dbias may be null (skipped).
// dout (N, OC), inp (N, C), weight (OC, C).
// accumulate_dinp = false overwrites dinp instead (for a caller's scratch
// buffer, saving the zero fill); parameter gradients always accumulate.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC, bool accumulate_dinp = true);

}  // namespace qkv::nn
