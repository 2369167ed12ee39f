#include "nn/residual.h"

#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {

namespace {

QKV_SIMD_CLONES
void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

QKV_SIMD_CLONES
void accumulate_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
  parallel_for(n, kElementwiseChunk, [&](int64_t i, int64_t e) { add_kernel(out + i, a + i, b + i, e - i); });
}

void accumulate(float* y, const float* x, int64_t n) {
  parallel_for(n, kElementwiseChunk, [&](int64_t i, int64_t e) { accumulate_kernel(y + i, x + i, e - i); });
}

void residual_backward(float* da, float* db, const float* dout, int64_t n) {
  if (da) accumulate(da, dout, n);
  if (db) accumulate(db, dout, n);
}

}  // namespace qkv::nn
