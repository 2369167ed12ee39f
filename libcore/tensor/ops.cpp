#include "tensor/ops.h"

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <mutex>

#include "core/error.h"

namespace qkv::ops {

namespace {
bool g_gemm_timing = false;
GemmStats g_gemm_stats;
std::mutex g_gemm_stats_mutex;
}  // namespace

void set_gemm_timing(bool on) { g_gemm_timing = on; }
GemmStats gemm_stats() { return g_gemm_stats; }
void reset_gemm_stats() { g_gemm_stats = GemmStats(); }

static void sgemm_untimed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // BLAS leaves C untouched for K == 0 only when beta == 1; be explicit.
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

void sgemm_ld(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!g_gemm_timing) return sgemm_untimed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  auto t0 = std::chrono::steady_clock::now();
  sgemm_untimed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  std::lock_guard<std::mutex> lk(g_gemm_stats_mutex);  // GEMMs may run on parallel_for threads
  g_gemm_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_gemm_stats.flops += 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  g_gemm_stats.calls += 1;
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           const float* B, float beta, float* C) {
  sgemm_ld(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t stride_a, const float* B, int64_t stride_b, float beta, float* C,
                   int64_t stride_c) {
  for (int64_t b = 0; b < batch; ++b)
    sgemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, B + b * stride_b, beta, C + b * stride_c);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (a.ndim() < 2 || b.ndim() < 2)
    throw DataError("matmul needs operands of at least 2 dims, got " + shape_str(a.shape()) + " and " +
                    shape_str(b.shape()));
  int64_t M = trans_a ? a.dim(-1) : a.dim(-2), Ka = trans_a ? a.dim(-2) : a.dim(-1);
  int64_t Kb = trans_b ? b.dim(-1) : b.dim(-2), N = trans_b ? b.dim(-2) : b.dim(-1);
  if (Ka != Kb)
    throw DataError("matmul inner dims differ: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
  Shape lead(a.shape().begin(), a.shape().end() - 2);
  int64_t batch = shape_numel(lead);
  bool b_shared = b.ndim() == 2;
  if (!b_shared && Shape(b.shape().begin(), b.shape().end() - 2) != lead)
    throw DataError("matmul batch dims differ: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
  Shape out_shape = lead;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor c(out_shape);
  if (b_shared && !trans_a) {  // one big GEMM: (batch*M, K) @ (K, N)
    sgemm(false, trans_b, batch * M, N, Ka, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
  } else {
    sgemm_batched(trans_a, trans_b, batch, M, N, Ka, 1.0f, a.data<float>(), M * Ka, b.data<float>(),
                  b_shared ? 0 : Ka * N, 0.0f, c.data<float>(), M * N);
  }
  return c;
}

static void check_same(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw DataError(std::string(op) + ": shapes differ: " + shape_str(a.shape()) + " vs " + shape_str(b.shape()));
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_same(a, b, "add");
  Tensor c(a.shape());
  const float *x = a.data<float>(), *y = b.data<float>();
  float* z = c.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) z[i] = x[i] + y[i];
  return c;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same(a, b, "mul");
  Tensor c(a.shape());
  const float *x = a.data<float>(), *y = b.data<float>();
  float* z = c.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) z[i] = x[i] * y[i];
  return c;
}

Tensor scale(const Tensor& a, float s) {
  Tensor c(a.shape());
  const float* x = a.data<float>();
  float* z = c.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) z[i] = x[i] * s;
  return c;
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  check_same(x, y, "axpy");
  cblas_saxpy(static_cast<blasint>(x.numel()), alpha, x.data<float>(), 1, y.data<float>(), 1);
}

template <class F>
static Tensor reduce_last(const Tensor& x, F f) {
  if (x.ndim() < 1) throw DataError("reduction over the last axis of a 0-d tensor");
  int64_t n = x.dim(-1), rows = n ? x.numel() / n : 0;
  Shape out(x.shape().begin(), x.shape().end() - 1);
  Tensor y(out);
  const float* p = x.data<float>();
  float* q = y.data<float>();
  for (int64_t r = 0; r < rows; ++r) q[r] = f(p + r * n, n);
  return y;
}

Tensor sum_last(const Tensor& x) {
  return reduce_last(x, [](const float* p, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += p[i];
    return static_cast<float>(s);
  });
}

Tensor mean_last(const Tensor& x) {
  return reduce_last(x, [](const float* p, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += p[i];
    return n ? static_cast<float>(s / n) : NAN;
  });
}

Tensor max_last(const Tensor& x) {
  return reduce_last(x, [](const float* p, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = std::fmax(m, p[i]);
    return m;
  });
}

double sum_all(const Tensor& x) {
  const float* p = x.data<float>();
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) s += p[i];
  return s;
}

static float row_max(const float* xr, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = xr[i] > mx ? xr[i] : mx;
  return mx;
}

void softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float mx = row_max(xr, n);
    if (mx == -INFINITY) {  // fully masked row: define the result as zeros, never NaN
      for (int64_t i = 0; i < n; ++i) yr[i] = 0.0f;
      continue;
    }
    float z = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      yr[i] = std::exp(xr[i] - mx);
      z += yr[i];
    }
    float inv = 1.0f / z;
    for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
  }
}

void log_softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float mx = row_max(xr, n);
    float z = 0.0f;
    for (int64_t i = 0; i < n; ++i) z += std::exp(xr[i] - mx);
    float lz = std::log(z) + mx;
    for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - lz;
  }
}

Tensor softmax_last(const Tensor& x) {
  Tensor y(x.shape());
  int64_t n = x.dim(-1);
  softmax_rows(x.data<float>(), y.data<float>(), n ? x.numel() / n : 0, n);
  return y;
}

Tensor log_softmax_last(const Tensor& x) {
  Tensor y(x.shape());
  int64_t n = x.dim(-1);
  log_softmax_rows(x.data<float>(), y.data<float>(), n ? x.numel() / n : 0, n);
  return y;
}

double rel_error(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  if (den == 0) return std::sqrt(num);
  return std::sqrt(num / den);
}

double rel_error(const Tensor& a, const Tensor& b) {
  check_same(a, b, "rel_error");
  return rel_error(a.data<float>(), b.data<float>(), a.numel());
}

}  // namespace qkv::ops
