#include "nn/linear.h"

#include <algorithm>
#include <cstring>

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

// out (R, ldo) [:, :O] = x (R, C) @ w (O, C)^T + bias (O) or null: R x O dot
// products side by side, each in kLanes partial sums (the tail of C into
// partial 0, then tree_sum), so every output is the same
// sum whatever the tile shape: a row decodes bitwise alike alone or in a batch.
// Always inlined, so each QKV_SIMD_CLONES caller compiles it for its own ISA
// (an out-of-line copy would be baseline x86-64: SSE only).
template <int R, int O>
__attribute__((always_inline)) inline void dot_tile(float* out, int64_t ldo, const float* x, const float* w,
                                                    int64_t C, const float* bias) {
  Lanes acc[R][O] = {};
  int64_t k = 0;
  for (; k + kLanes <= C; k += kLanes) {
    Lanes xk[R];  // (R, kLanes)
    for (int r = 0; r < R; ++r) xk[r] = QKV_LANES_AT(x + r * C + k);
    for (int o = 0; o < O; ++o) {
      const Lanes wk = QKV_LANES_AT(w + o * C + k);  // (kLanes)
      for (int r = 0; r < R; ++r) acc[r][o] += xk[r] * wk;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int o = 0; o < O; ++o) {
      for (int64_t j = k; j < C; ++j) acc[r][o][0] += x[r * C + j] * w[o * C + j];
      const float sum = tree_sum(acc[r][o]);
      out[r * ldo + o] = bias ? sum + bias[o] : sum;
    }
}

// Output features [o0, o1) of every row of a few-row linear_forward: one row
// against 8 weight rows at a time (8 independent sums hide the add latency),
// more rows 2 x 4 at a time (each weight load feeds 2 rows; 8 accumulators
// fit AVX2's 16 registers), so each weight row is read once from memory per
// call and then from L1 for the other rows.
constexpr int kOutBlock = 8;
QKV_SIMD_CLONES
void few_rows_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                      int64_t OC, int64_t o0, int64_t o1) {
  auto b = [&](int64_t o) { return bias ? bias + o : nullptr; };
  int64_t o = o0;
  for (; o + kOutBlock <= o1; o += kOutBlock) {
    const float* w = weight + o * C;  // (kOutBlock, C)
    if (N == 1) {
      dot_tile<1, 8>(out + o, OC, inp, w, C, b(o));
      continue;
    }
    int64_t n = 0;
    for (; n + 2 <= N; n += 2) {
      dot_tile<2, 4>(out + n * OC + o, OC, inp + n * C, w, C, b(o));
      dot_tile<2, 4>(out + n * OC + o + 4, OC, inp + n * C, w + 4 * C, C, b(o + 4));
    }
    if (n < N) dot_tile<1, 8>(out + n * OC + o, OC, inp + n * C, w, C, b(o));
  }
  for (; o < o1; ++o)
    for (int64_t n = 0; n < N; ++n) dot_tile<1, 1>(out + n * OC + o, OC, inp + n * C, weight + o * C, C, b(o));
}

// Rows per thread chunk so that each chunk has ~256k flops of GEMM at least.
int64_t min_rows(int64_t flops_per_row) { return std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, flops_per_row)); }

}  // namespace

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC) {
  // out (N, OC), inp (N, C), weight (OC, C), bias (OC)
  if (N <= kFewRows) {  // threads split the output features, kOutBlock at a time
    parallel_for((OC + kOutBlock - 1) / kOutBlock,
                 std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, 2 * kOutBlock * N * C)),
                 [&](int64_t g0, int64_t g1) {
                   few_rows_forward(out, inp, weight, bias, N, C, OC, kOutBlock * g0, std::min(OC, kOutBlock * g1));
                 });
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
