#include "tensor/ops_ref.h"

#include <cmath>

namespace qkv::ops::ref {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           const float* B, float beta, float* C) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        float a = trans_a ? A[k * M + i] : A[i * K + k];
        float b = trans_b ? B[j * K + k] : B[k * N + j];
        acc += static_cast<double>(a) * b;
      }
      C[i * N + j] = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : beta * C[i * N + j]));
    }
  }
}

namespace {
// max and log(sum(exp(x - max))) of one row, in double.
void row_max_logz(const float* xr, int64_t n, double& mx, double& logz) {
  mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, xr[i]);
  double z = 0.0;
  for (int64_t i = 0; i < n; ++i) z += std::exp(xr[i] - mx);
  logz = std::log(z);
}
}  // namespace

void softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r) {
    double mx, logz;
    row_max_logz(x + r * n, n, mx, logz);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = static_cast<float>(std::exp(x[r * n + i] - mx - logz));
  }
}

void log_softmax_rows(const float* x, float* y, int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r) {
    double mx, logz;
    row_max_logz(x + r * n, n, mx, logz);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = static_cast<float>(x[r * n + i] - mx - logz);
  }
}

}  // namespace qkv::ops::ref
