#include "nn/linear.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
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

// out (R, ldo) [:, :w] = x (R, C) @ P panels (C, kPanel) + bias: R x P
// vectors of kPanel outputs, each summed over k in order in one register
// (R x P independent chains hide the multiply-add latency); w <= P * kPanel
// outputs are stored (the last panel of an OC that is not a multiple of 16).
// Always inlined into its QKV_SIMD_CLONES caller (see dot_tile).
template <int R, int P>
__attribute__((always_inline)) inline void panel_tile(float* out, int64_t ldo, const float* x, int64_t C,
                                                      const float* w, const float* bias, int64_t width) {
  constexpr int64_t W = PackedWeight::kPanel;
  static_assert(W == kLanes, "a panel row is one Lanes value");
  Lanes acc[R][P];
  for (int p = 0; p < P; ++p) {
    Lanes b0 = {};
    if (bias)
      for (int64_t j = 0; j < W && p * W + j < width; ++j) b0[j] = bias[p * W + j];
    for (int r = 0; r < R; ++r) acc[r][p] = b0;
  }
  for (int64_t k = 0; k < C; ++k) {
    Lanes wk[P];  // (P, kPanel) weights of input feature k
    for (int p = 0; p < P; ++p) wk[p] = QKV_LANES_AT(w + (p * C + k) * W);
    for (int r = 0; r < R; ++r) {
      const float xk = x[r * C + k];
      for (int p = 0; p < P; ++p) acc[r][p] += xk * wk[p];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) {
      const int64_t n = std::min<int64_t>(W, width - p * W);
      if (n == W) std::memcpy(out + r * ldo + p * W, &acc[r][p], sizeof(Lanes));
      else
        for (int64_t j = 0; j < n; ++j) out[r * ldo + p * W + j] = acc[r][p][j];
    }
}

// Every row x output features [o0, o1) (o0 a multiple of kPanel) of a
// packed linear_forward: 4 rows x 2 panels at a time (8 accumulators: 8 AVX-512
// or 16 AVX2 registers), so each panel is read from memory once per 4 rows.
QKV_SIMD_CLONES
void packed_forward(float* out, const float* inp, const PackedWeight& pw, const float* bias, int64_t N, int64_t o0,
                    int64_t o1) {
  constexpr int64_t W = PackedWeight::kPanel;
  const int64_t C = pw.C, OC = pw.OC;
  auto b = [&](int64_t o) { return bias ? bias + o : nullptr; };
  for (int64_t o = o0; o < o1; o += 2 * W) {
    const float* w = pw.panels.data() + o * C;  // (2, C, kPanel) panels o / 16 and o / 16 + 1
    const int64_t width = std::min(2 * W, o1 - o);
    int64_t n = 0;
    if (width > W) {
      for (; n + 4 <= N; n += 4) panel_tile<4, 2>(out + n * OC + o, OC, inp + n * C, C, w, b(o), width);
      for (; n < N; ++n) panel_tile<1, 2>(out + n * OC + o, OC, inp + n * C, C, w, b(o), width);
    } else {
      for (; n + 4 <= N; n += 4) panel_tile<4, 1>(out + n * OC + o, OC, inp + n * C, C, w, b(o), width);
      for (; n < N; ++n) panel_tile<1, 1>(out + n * OC + o, OC, inp + n * C, C, w, b(o), width);
    }
  }
}

// Rows per thread chunk so that each chunk has ~256k flops of GEMM at least.
int64_t min_rows(int64_t flops_per_row) { return std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, flops_per_row)); }

}  // namespace

PackedWeight::PackedWeight(const float* weight, int64_t OC_, int64_t C_) : OC(OC_), C(C_) {
  panels.assign(static_cast<size_t>((OC + kPanel - 1) / kPanel * kPanel * C), 0.0f);
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t k = 0; k < C; ++k) panels[static_cast<size_t>((o / kPanel * C + k) * kPanel + o % kPanel)] = weight[o * C + k];
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                    int64_t OC, const PackedWeight* packed) {
  // out (N, OC), inp (N, C), weight (OC, C), bias (OC)
  if (N <= kFewRows) {  // threads split the output features, kOutBlock at a time
    parallel_for((OC + kOutBlock - 1) / kOutBlock,
                 std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, 2 * kOutBlock * N * C)),
                 [&](int64_t g0, int64_t g1) {
                   few_rows_forward(out, inp, weight, bias, N, C, OC, kOutBlock * g0, std::min(OC, kOutBlock * g1));
                 });
    return;
  }
  if (packed) {  // threads split the output features, two panels at a time
    QKV_CHECK(packed->OC == OC && packed->C == C, "linear_forward: packed weight shape");
    constexpr int64_t W2 = 2 * PackedWeight::kPanel;
    parallel_for((OC + W2 - 1) / W2, std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, 2 * W2 * N * C)),
                 [&](int64_t g0, int64_t g1) { packed_forward(out, inp, *packed, bias, N, W2 * g0, std::min(OC, W2 * g1)); });
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
