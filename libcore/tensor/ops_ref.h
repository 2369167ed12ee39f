// Naive reference kernels: plain loops, double accumulation, no BLAS.
// They exist only to check the fast kernels in tensor/ops.h.
#pragma once
#include <cstdint>

namespace qkv::ops::ref {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           const float* B, float beta, float* C);
void softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n);
void log_softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n);

}  // namespace qkv::ops::ref
