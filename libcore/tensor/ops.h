// Dense float32 kernels. The raw-pointer forms are what the engine (libcore/nn)
// calls in its hot loops; the Tensor forms check shapes and allocate.
// Each kernel has a naive twin in tensor/ops_ref.h that the tests compare against.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace qkv::ops {

// C (M, N) = alpha * op(A) @ op(B) + beta * C, through cblas_sgemm.
// op(A) is (M, K): A is (M, K) row-major, or (K, M) when trans_a.
// op(B) is (K, N): B is (K, N) row-major, or (N, K) when trans_b.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           const float* B, float beta, float* C);

// The same with explicit leading dimensions (row strides in elements) of A, B
// and C, for working on column slices of row-major matrices (the engine's
// threads each take a slice of one GEMM).
void sgemm_ld(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Strided batched form: for b in [0, batch): C_b = alpha op(A_b) op(B_b) + beta C_b,
// with A_b = A + b * stride_a (likewise B, C), strides in elements.
void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t stride_a, const float* B, int64_t stride_b, float beta, float* C,
                   int64_t stride_c);

// Optional accounting of every sgemm above (for benchmarks: "where does the
// time go"). Off by default; when on, each call adds its wall time and
// 2*M*N*K flops. Not thread-safe to toggle while other threads run GEMMs.
struct GemmStats {
  double seconds = 0;
  double flops = 0;
  int64_t calls = 0;
};
void set_gemm_timing(bool on);
GemmStats gemm_stats();
void reset_gemm_stats();

// Tensor matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N), leading dims equal
// (or b 2-D, shared by every batch). trans_a / trans_b transpose the last two dims.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// Element-wise (same shapes; float32).
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float s);
void axpy(float alpha, const Tensor& x, Tensor& y);  // y += alpha * x

// Reductions over the last axis: (..., N) -> (...).
Tensor sum_last(const Tensor& x);
Tensor mean_last(const Tensor& x);
Tensor max_last(const Tensor& x);

// Whole-tensor reductions, accumulated in double.
double sum_all(const Tensor& x);

// Softmax over the last axis of rows (n_rows, n): numerically stable (max subtracted).
void softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n);
void log_softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n);
Tensor softmax_last(const Tensor& x);
Tensor log_softmax_last(const Tensor& x);

// Relative error ||a - b|| / ||b|| (L2 over all elements); the metric every
// golden test in qkv uses.
double rel_error(const float* a, const float* b, int64_t n);
double rel_error(const Tensor& a, const Tensor& b);

}  // namespace qkv::ops
