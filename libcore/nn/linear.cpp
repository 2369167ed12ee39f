#include "nn/linear.h"

#include "nn/fast_math.h"
#include "tensor/ops.h"

namespace qkv::nn {

namespace {

QKV_SIMD_CLONES
void broadcast_rows(float* out, const float* bias, int64_t N, int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    float* o = out + n * OC;  // (OC)
    for (int64_t j = 0; j < OC; ++j) o[j] = bias[j];
  }
}

QKV_SIMD_CLONES
void add_row_sums(float* dbias, const float* dout, int64_t N, int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    const float* d = dout + n * OC;  // (OC)
    for (int64_t j = 0; j < OC; ++j) dbias[j] += d[j];
  }
}

}  // namespace

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC) {
  // out (N, OC), inp (N, C), weight (OC, C), bias (OC)
  float beta = 0.0f;
  if (bias) {  // start from the broadcast bias and let the GEMM add onto it
    broadcast_rows(out, bias, N, OC);
    beta = 1.0f;
  }
  ops::sgemm(false, true, N, OC, C, 1.0f, inp, weight, beta, out);
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC) {
  // dinp (N, C) += dout (N, OC) @ weight (OC, C)
  if (dinp) ops::sgemm(false, false, N, C, OC, 1.0f, dout, weight, 1.0f, dinp);
  // dweight (OC, C) += dout^T (OC, N) @ inp (N, C)
  if (dweight) ops::sgemm(true, false, OC, C, N, 1.0f, dout, inp, 1.0f, dweight);
  // dbias (OC) += column sums of dout
  if (dbias) add_row_sums(dbias, dout, N, OC);
}

}  // namespace qkv::nn
