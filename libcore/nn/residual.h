// Residual connection: out = a + b, and its backward (the gradient flows to both).
#pragma once
#include <cstdint>

namespace qkv::nn {

// out (n) = a (n) + b (n); out may equal a or b.
void residual_forward(float* out, const float* a, const float* b, int64_t n);
// da (n) += dout (n); db (n) += dout (n). Either may be null.
void residual_backward(float* da, float* db, const float* dout, int64_t n);
// y (n) += x (n): the in-place accumulation every backward pass does.
void accumulate(float* y, const float* x, int64_t n);

}  // namespace qkv::nn
