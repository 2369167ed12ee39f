#include "nn/linear.h"

#include <algorithm>

#include "core/parallel.h"
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

// acc (width) += column sums of dout (N, width).
QKV_SIMD_CLONES
void add_column_sums(float* __restrict acc, const float* dout, int64_t N, int64_t width) {
  for (int64_t n = 0; n < N; ++n) {
    const float* d = dout + n * width;  // (width)
    for (int64_t j = 0; j < width; ++j) acc[j] += d[j];
  }
}

// out (O) = x (C) @ w (O, C)^T + bias (O) or null: O dot products side by
// side, each in kLanes partial sums (the tail of C into partial 0).
template <int O>
inline void dot_block(float* out, const float* x, const float* w, int64_t C, const float* bias) {
  float acc[O][kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= C; k += kLanes)
    for (int o = 0; o < O; ++o)
      for (int l = 0; l < kLanes; ++l) acc[o][l] += x[k + l] * w[o * C + k + l];
  for (; k < C; ++k)
    for (int o = 0; o < O; ++o) acc[o][0] += x[k] * w[o * C + k];
  for (int o = 0; o < O; ++o) out[o] = bias ? lanes_sum(acc[o]) + bias[o] : lanes_sum(acc[o]);
}

// Output features [o0, o1) of every row of a few-row linear_forward, four at a time.
QKV_SIMD_CLONES
void few_rows_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                      int64_t OC, int64_t o0, int64_t o1) {
  int64_t o = o0;
  for (; o + 4 <= o1; o += 4)
    for (int64_t n = 0; n < N; ++n) dot_block<4>(out + n * OC + o, inp + n * C, weight + o * C, C, bias ? bias + o : nullptr);
  for (; o < o1; ++o)
    for (int64_t n = 0; n < N; ++n) dot_block<1>(out + n * OC + o, inp + n * C, weight + o * C, C, bias ? bias + o : nullptr);
}

// Rows per thread chunk so that each chunk has ~256k flops of GEMM at least.
int64_t min_rows(int64_t flops_per_row) { return std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, flops_per_row)); }

}  // namespace

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC) {
  // out (N, OC), inp (N, C), weight (OC, C), bias (OC)
  if (N < kFewRows) {  // threads split the output features, 4 at a time
    parallel_for((OC + 3) / 4, std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, 8 * N * C)),
                 [&](int64_t g0, int64_t g1) { few_rows_forward(out, inp, weight, bias, N, C, OC, 4 * g0, std::min(OC, 4 * g1)); });
    return;
  }
  // threads split the rows
  parallel_for(N, min_rows(2 * C * OC), [&](int64_t r0, int64_t r1) {
    float beta = 0.0f;
    if (bias) {  // start from the broadcast bias and let the GEMM add onto it
      broadcast_rows(out + r0 * OC, bias, r1 - r0, OC);
      beta = 1.0f;
    }
    ops::sgemm(false, true, r1 - r0, OC, C, 1.0f, inp + r0 * C, weight, beta, out + r0 * OC);
  });
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC, bool accumulate_dinp) {
  // dinp (N, C) += dout (N, OC) @ weight (OC, C): threads split the rows
  if (dinp)
    parallel_for(N, min_rows(2 * C * OC), [&](int64_t r0, int64_t r1) {
      ops::sgemm(false, false, r1 - r0, C, OC, 1.0f, dout + r0 * OC, weight, accumulate_dinp ? 1.0f : 0.0f,
                 dinp + r0 * C);
    });
  // dweight (OC, C) += dout^T (OC, N) @ inp (N, C): threads split the output
  // features (rows of dweight), so no reduction
  if (dweight)
    parallel_for(OC, min_rows(2 * C * N), [&](int64_t o0, int64_t o1) {
      ops::sgemm_ld(true, false, o1 - o0, C, N, 1.0f, dout + o0, OC, inp, C, 1.0f, dweight + o0 * C, C);
    });
  // dbias (OC) += column sums of dout (N, OC): threads split the rows
  if (dbias)
    parallel_sum_rows(N, OC, dbias,
                      [&](int64_t r0, int64_t r1, float* acc) { add_column_sums(acc, dout + r0 * OC, r1 - r0, OC); });
}

}  // namespace qkv::nn
