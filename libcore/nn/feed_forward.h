// Position-wise feed-forward network ("Attention Is All You Need", 3.3):
//   out = linear2(dropout(act(linear1(x))))
// with PyTorch's shapes: linear1.weight (F, C), linear1.bias (F),
// linear2.weight (C, F), linear2.bias (C). The inner dropout is PyTorch
// TransformerEncoderLayer's `dropout` (nanoGPT's MLP has none: pass 0).
#pragma once
#include <cstdint>
#include <vector>
#include "core/memory.h"

#include "core/rng.h"
#include "nn/activation.h"
#include "nn/linear.h"

namespace qkv::nn {

struct FfnWeights {
  const float* w1 = nullptr;  // (F, C)
  const float* b1 = nullptr;  // (F) or null
  const float* w2 = nullptr;  // (C, F)
  const float* b2 = nullptr;  // (C) or null
  // Packed copies of w1 and w2 for decoding steps of many rows (nn/linear.h), or null.
  const PackedWeight* w1_packed = nullptr;
  const PackedWeight* w2_packed = nullptr;
};
struct FfnGrads {  // same shapes; null members skipped
  float* w1 = nullptr;
  float* b1 = nullptr;
  float* w2 = nullptr;
  float* b2 = nullptr;
};

struct FfnCache {
  int64_t N = 0, C = 0, F = 0;
  Activation act = Activation::relu;
  float dropout = 0.0f;
  Buffer<float> pre;          // (N, F) linear1 output (activation input)
  Buffer<float> dact;         // (N, F) act'(pre), computed by the forward for the backward
  Buffer<float> hidden;       // (N, F) after activation and dropout: linear2's input
  std::vector<uint8_t> drop_mask;  // (N, F) when dropout > 0
  Buffer<float> dhidden;      // (N, F) backward scratch
  bool for_backward = false;       // the last forward kept pre/dact/hidden
};

// out (N, C) from x (N, C). dropout > 0 needs rng (training).
// for_backward = false (inference): nothing is kept for a backward, the
// activation runs in place in `pre` (one (N, F) buffer instead of three) and
// ffn_backward refuses; dropout must then be 0.
void ffn_forward(float* out, const float* x, const FfnWeights& w, int64_t N, int64_t C, int64_t F, Activation act,
                 float dropout, Rng* rng, FfnCache& cache, bool for_backward = true);
// dx (N, C) +=, g += ; dout (N, C); x as given to the forward.
void ffn_backward(float* dx, const FfnGrads& g, const float* dout, const float* x, const FfnWeights& w,
                  FfnCache& cache);

}  // namespace qkv::nn
