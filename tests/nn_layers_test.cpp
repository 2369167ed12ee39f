// Golden tests: each layer of libcore/nn against PyTorch (tests/ref/layers.h5,
// made by scripts/ref/make_layer_refs.py), forward and every gradient, plus
// finite-difference gradient checks and fast-vs-naive kernel comparisons.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "nn/activation.h"
#include "nn/cross_entropy.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/fast_math.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/positional.h"
#include "nn/residual.h"
#include "support/nn_check.h"

using namespace qkv;
using namespace qkv::nn;
using qkv::test::expect_close;
using qkv::test::GradParam;
using qkv::test::RefCase;
using qkv::test::vec;

TEST(NnLinear, MatchesTorch) {
  RefCase r("linear");
  Tensor x = r.f("inp"), w = r.f("weight"), b = r.f("bias"), dout = r.f("dout");
  int64_t C = x.dim(-1), OC = w.dim(0), N = x.numel() / C;
  std::vector<float> out(N * OC), dx(N * C, 0.5f), dw(OC * C, -0.25f), db(OC, 1.0f);
  linear_forward(out.data(), x.data<float>(), w.data<float>(), b.data<float>(), N, C, OC);
  expect_close(out, r.f("out"), "out");
  linear_backward(dx.data(), dw.data(), db.data(), dout.data<float>(), x.data<float>(), w.data<float>(), N, C, OC);
  // backward accumulates: subtract the values the buffers started from
  for (auto& v : dx) v -= 0.5f;
  for (auto& v : dw) v += 0.25f;
  for (auto& v : db) v -= 1.0f;
  expect_close(dx, r.f("dinp"), "dinp");
  expect_close(dw, r.f("dweight"), "dweight");
  expect_close(db, r.f("dbias"), "dbias");
}

namespace {
// out (N, OC) against x (N, C) @ w (OC, C)^T + bias summed in double.
void expect_matches_naive(const std::vector<float>& out, const std::vector<float>& x, const std::vector<float>& w,
                          const float* bias, int64_t N, int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      double s = bias ? bias[o] : 0.0;
      for (int64_t c = 0; c < C; ++c) s += static_cast<double>(x[n * C + c]) * w[o * C + c];
      ASSERT_NEAR(out[n * OC + o], s, 1e-5 * std::max(1.0, std::abs(s)))
          << "N " << N << " C " << C << " OC " << OC << " bias " << (bias != nullptr);
    }
}
}  // namespace

// linear_forward's two kernels (up to kFewRows rows: the blocked loop;
// more: sgemm) against a naive double loop, with sizes that leave tails
// (C not a multiple of the 16 lanes, OC not of the 8-output blocks, odd N
// for the 2-row tiles).
TEST(NnLinear, FewRowsKernelAndSgemmMatchNaive) {
  Rng rng(11);
  static_assert(kFewRows == 8, "the row counts below straddle kFewRows");
  for (int64_t N : {1, 2, 3, 4, 5, 7, 8, 9, 12})
    for (int64_t C : {3, 17, 40})
      for (int64_t OC : {1, 6, 9, 19})
        for (bool with_bias : {true, false}) {
          auto x = test::randn(N * C, rng), w = test::randn(OC * C, rng), b = test::randn(OC, rng);
          std::vector<float> out(N * OC, 99.0f);
          linear_forward(out.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, N, C, OC);
          expect_matches_naive(out, x, w, with_bias ? b.data() : nullptr, N, C, OC);
          if (HasFatalFailure()) return;
          if (N > kFewRows) continue;
          for (int64_t n = 0; n < N; ++n) {  // the few-row kernel: a row's result does not depend on the others
            std::vector<float> alone(OC);
            linear_forward(alone.data(), x.data() + n * C, w.data(), with_bias ? b.data() : nullptr, 1, C, OC);
            for (int64_t o = 0; o < OC; ++o) ASSERT_EQ(alone[o], out[n * OC + o]) << "row " << n;
          }
        }
}

// More than kFewRows rows with a PackedWeight (a decoder's many-row steps):
// against a naive double loop, with OC leaving a partial panel and an odd
// panel count, N leaving a row tail; and each row's result is the same in any
// batch (every output is one sum over k in order), so a hypothesis decodes
// bitwise alike in batches of different sizes.
TEST(NnLinear, PackedKernelMatchesNaiveAndIsRowIndependent) {
  Rng rng(12);
  for (int64_t N : {9, 12, 13, 32, 37})
    for (int64_t C : {3, 17, 40})
      for (int64_t OC : {1, 15, 16, 17, 33, 48, 70})
        for (bool with_bias : {true, false}) {
          auto x = test::randn(N * C, rng), w = test::randn(OC * C, rng), b = test::randn(OC, rng);
          const PackedWeight pw(w.data(), OC, C);
          ASSERT_EQ(pw.panels.size(), static_cast<size_t>((OC + 15) / 16 * 16 * C));
          std::vector<float> out(N * OC, 99.0f);
          linear_forward(out.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, N, C, OC, &pw);
          expect_matches_naive(out, x, w, with_bias ? b.data() : nullptr, N, C, OC);
          if (HasFatalFailure()) return;
          // Row n again, last of a batch of kFewRows + 1 copies of row 0 (so it falls in another tile shape).
          const int64_t M = kFewRows + 1;
          for (int64_t n : {int64_t{0}, N / 2, N - 1}) {
            std::vector<float> xs(M * C), again(M * OC);
            for (int64_t r = 0; r + 1 < M; ++r) std::copy(x.begin(), x.begin() + C, xs.begin() + r * C);
            std::copy(x.begin() + n * C, x.begin() + (n + 1) * C, xs.begin() + (M - 1) * C);
            linear_forward(again.data(), xs.data(), w.data(), with_bias ? b.data() : nullptr, M, C, OC, &pw);
            for (int64_t o = 0; o < OC; ++o) ASSERT_EQ(again[(M - 1) * OC + o], out[n * OC + o]) << "row " << n;
          }
        }
  // A packed weight of another shape is refused.
  auto w = test::randn(16 * 8, rng), x = test::randn(9 * 8, rng);
  const PackedWeight pw(w.data(), 16, 8);
  std::vector<float> out(9 * 8);
  EXPECT_THROW(linear_forward(out.data(), x.data(), w.data(), nullptr, 9, 16, 8, &pw), std::exception);
}

TEST(NnLinear, NoBiasAndNullGrads) {
  Rng rng(3);
  int64_t N = 4, C = 3, OC = 2;
  auto x = test::randn(N * C, rng), w = test::randn(OC * C, rng);
  std::vector<float> out(N * OC, 99.0f), dw(OC * C, 0.0f);
  linear_forward(out.data(), x.data(), w.data(), nullptr, N, C, OC);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += x[n * C + c] * w[o * C + c];
      EXPECT_NEAR(out[n * OC + o], s, 1e-5);
    }
  std::vector<float> dout(N * OC, 1.0f);
  linear_backward(nullptr, dw.data(), nullptr, dout.data(), x.data(), w.data(), N, C, OC);
  // accumulate_dinp = false overwrites
  std::vector<float> dx(N * C, 123.0f), dx_acc(N * C, 0.0f);
  linear_backward(dx.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), N, C, OC, false);
  linear_backward(dx_acc.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), N, C, OC);
  EXPECT_EQ(dx, dx_acc);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += x[n * C + c];
    EXPECT_NEAR(dw[c], s, 1e-5);
  }
}

TEST(NnEmbedding, MatchesTorchWithPaddingIdx) {
  RefCase r("embedding");
  Tensor ids = r.i("ids"), w = r.f("weight"), dout = r.f("dout");
  int64_t V = w.dim(0), C = w.dim(1), N = ids.numel();
  std::vector<float> out(N * C), dw(V * C, 0.0f);
  embedding_forward(out.data(), ids.data<int32_t>(), w.data<float>(), N, V, C);
  expect_close(out, r.f("out"), "out");
  embedding_backward(dw.data(), dout.data<float>(), ids.data<int32_t>(), N, C,
                     static_cast<int64_t>(r.attr("padding_idx")));
  expect_close(dw, r.f("dweight"), "dweight");
}

TEST(NnEmbedding, RejectsOutOfRangeIds) {
  std::vector<float> w(4 * 2, 1.0f), out(2 * 2);
  std::vector<int32_t> ids = {1, 4};
  try {
    embedding_forward(out.data(), ids.data(), w.data(), 2, 4, 2);
    FAIL() << "no error for id 4 with V = 4";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("token id 4"), std::string::npos) << e.what();
  }
  ids = {-1, 0};
  EXPECT_THROW(embedding_forward(out.data(), ids.data(), w.data(), 2, 4, 2), DataError);
}

TEST(NnLayerNorm, MatchesTorch) {
  RefCase r("layernorm");
  Tensor x = r.f("inp"), w = r.f("weight"), b = r.f("bias"), dout = r.f("dout");
  int64_t C = x.dim(-1), N = x.numel() / C;
  std::vector<float> out(N * C), mean(N), rstd(N), dx(N * C, 0.0f), dw(C, 0.0f), db(C, 0.0f);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data<float>(), w.data<float>(), b.data<float>(), N, C,
                    static_cast<float>(r.attr("eps")));
  expect_close(out, r.f("out"), "out");
  layernorm_backward(dx.data(), dw.data(), db.data(), dout.data<float>(), x.data<float>(), w.data<float>(),
                     mean.data(), rstd.data(), N, C);
  expect_close(dx, r.f("dinp"), "dinp");
  expect_close(dw, r.f("dweight"), "dweight");
  expect_close(db, r.f("dbias"), "dbias");
}

TEST(NnLayerNorm, FastMatchesNaive) {
  Rng rng(7);
  for (int64_t C : {2, 5, 64, 131, 768}) {
    int64_t N = 9;
    auto x = test::randn(N * C, rng, 3.0f), w = test::randn(C, rng), b = test::randn(C, rng),
         dout = test::randn(N * C, rng);
    for (auto& v : x) v += 4.0f;  // offset mean: exercises the two-pass variance
    std::vector<float> o1(N * C), o2(N * C), m1(N), m2(N), r1(N), r2(N);
    layernorm_forward(o1.data(), m1.data(), r1.data(), x.data(), w.data(), b.data(), N, C);
    ref::layernorm_forward(o2.data(), m2.data(), r2.data(), x.data(), w.data(), b.data(), N, C);
    EXPECT_LE(ops::rel_error(o1.data(), o2.data(), N * C), 1e-6) << "C=" << C;
    EXPECT_LE(ops::rel_error(r1.data(), r2.data(), N), 1e-6) << "C=" << C;
    std::vector<float> dx1(N * C, 0.1f), dx2(N * C, 0.1f), dw1(C, 0.f), dw2(C, 0.f), db1(C, 0.f), db2(C, 0.f);
    layernorm_backward(dx1.data(), dw1.data(), db1.data(), dout.data(), x.data(), w.data(), m2.data(), r2.data(), N,
                       C);
    ref::layernorm_backward(dx2.data(), dw2.data(), db2.data(), dout.data(), x.data(), w.data(), m2.data(),
                            r2.data(), N, C);
    EXPECT_LE(ops::rel_error(dx1.data(), dx2.data(), N * C), 1e-5) << "C=" << C;
    EXPECT_LE(ops::rel_error(dw1.data(), dw2.data(), C), 1e-5) << "C=" << C;
    EXPECT_LE(ops::rel_error(db1.data(), db2.data(), C), 1e-6) << "C=" << C;
    // no affine parameters: weight 1, bias 0
    std::vector<float> ones(C, 1.0f), zeros(C, 0.0f);
    layernorm_forward(o1.data(), m1.data(), r1.data(), x.data(), nullptr, nullptr, N, C);
    ref::layernorm_forward(o2.data(), m2.data(), r2.data(), x.data(), ones.data(), zeros.data(), N, C);
    EXPECT_LE(ops::rel_error(o1.data(), o2.data(), N * C), 1e-6) << "C=" << C;
  }
}

class NnActivation : public ::testing::TestWithParam<const char*> {};

TEST_P(NnActivation, MatchesTorch) {
  std::string name = GetParam();
  RefCase r(std::string("act_") + name);
  Tensor x = r.f("inp"), dout = r.f("dout");
  int64_t n = x.numel();
  Activation a = activation_from_name(name);
  EXPECT_EQ(activation_name(a), name);
  std::vector<float> out(n), dx(n, 0.0f);
  activation_forward(a, out.data(), x.data<float>(), n);
  expect_close(out, r.f("out"), "out");
  activation_backward(a, dx.data(), dout.data<float>(), x.data<float>(), n);
  expect_close(dx, r.f("dinp"), "dinp");
  // training form: derivative kept by the forward
  std::vector<float> out2(n), dact(n), dx2(n, 0.0f);
  activation_forward_train(a, out2.data(), dact.data(), x.data<float>(), n);
  expect_close(out2, r.f("out"), "out (train)");
  activation_backward_cached(dx2.data(), dout.data<float>(), dact.data(), n);
  expect_close(dx2, r.f("dinp"), "dinp (cached)");
}
INSTANTIATE_TEST_SUITE_P(All, NnActivation, ::testing::Values("relu", "gelu", "gelu_tanh"));

TEST(NnActivationNames, UnknownIsAClearError) {
  EXPECT_THROW(activation_from_name("swish"), DataError);
}

TEST(NnFastMath, AccurateOverTheRange) {
  double e_exp = 0, e_tanh = 0, e_erf = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0013f) {
    double ref = std::exp(static_cast<double>(x));
    e_exp = std::fmax(e_exp, std::fabs(exp_f(x) - ref) / ref);
    e_tanh = std::fmax(e_tanh, std::fabs(tanh_f(x) - std::tanh(static_cast<double>(x))));
    e_erf = std::fmax(e_erf, std::fabs(erf_f(x) - std::erf(static_cast<double>(x))));
  }
  EXPECT_LT(e_exp, 2e-7);
  EXPECT_LT(e_tanh, 3e-7);
  EXPECT_LT(e_erf, 3e-7);
  EXPECT_EQ(exp_f(-100.0f), 0.0f);
  EXPECT_EQ(exp_f(-INFINITY), 0.0f);
  EXPECT_EQ(tanh_f(50.0f), 1.0f);
  EXPECT_EQ(erf_f(-20.0f), -1.0f);
}

TEST(NnFastMath, NaNIsNeverHidden) {
  // NaN passes through exp_f (no undefined shift on the way) and wins max_f, so a
  // row of NaN attention scores stays NaN instead of looking fully masked.
  EXPECT_TRUE(std::isnan(exp_f(NAN)));
  EXPECT_EQ(exp_f(INFINITY), exp_f(88.3762626647949f));
  for (int64_t n : {1, 5, 16, 37}) {
    for (int64_t at = 0; at < n; at += 3) {
      std::vector<float> x(n, 1.0f);
      x[at] = NAN;
      EXPECT_TRUE(std::isnan(max_f(x.data(), n))) << "n " << n << " NaN at " << at;
    }
  }
  std::vector<float> y = {1.0f, -INFINITY, 3.0f, 2.0f};
  EXPECT_EQ(max_f(y.data(), 4), 3.0f);
}

class NnCrossEntropy : public ::testing::TestWithParam<const char*> {};

TEST_P(NnCrossEntropy, MatchesTorch) {
  RefCase r(GetParam());
  Tensor logits = r.f("logits"), targets = r.i("targets");
  int64_t V = logits.dim(-1), N = logits.numel() / V;
  float smooth = static_cast<float>(r.attr("label_smoothing"));
  int64_t ignore = static_cast<int64_t>(r.attr("ignore_index"));
  std::vector<float> probs(N * V), losses(N), dlogits(N * V, 0.0f);
  auto res = cross_entropy_forward(probs.data(), logits.data<float>(), targets.data<int32_t>(), N, V, smooth, ignore,
                                   losses.data());
  EXPECT_EQ(res.count, static_cast<int64_t>(r.attr("count")));
  float loss = static_cast<float>(res.loss);
  expect_close(&loss, r.f("loss"), "loss");
  double s = 0;
  for (float l : losses) s += l;
  EXPECT_NEAR(s, res.sum, 1e-4);
  cross_entropy_backward(dlogits.data(), probs.data(), targets.data<int32_t>(), N, V, res, smooth, ignore);
  expect_close(dlogits, r.f("dlogits"), "dlogits");
  // in place: probs written over the logits
  std::vector<float> inplace = vec(logits);
  auto res2 = cross_entropy_forward(inplace.data(), inplace.data(), targets.data<int32_t>(), N, V, smooth, ignore);
  EXPECT_NEAR(res2.loss, res.loss, 1e-6);
  EXPECT_LE(ops::rel_error(inplace.data(), probs.data(), N * V), 1e-7);
}
INSTANTIATE_TEST_SUITE_P(Cases, NnCrossEntropy, ::testing::Values("ce_plain", "ce_smooth_pad"));

TEST(NnCrossEntropyEdge, AllIgnoredAndBadTarget) {
  std::vector<float> logits(2 * 3, 0.5f), probs(6), d(6, 0.0f);
  std::vector<int32_t> t = {-100, -100};
  auto r = cross_entropy_forward(probs.data(), logits.data(), t.data(), 2, 3);
  EXPECT_EQ(r.count, 0);
  EXPECT_EQ(r.loss, 0.0);
  cross_entropy_backward(d.data(), probs.data(), t.data(), 2, 3, r);
  for (float v : d) EXPECT_EQ(v, 0.0f);
  t = {0, 3};
  EXPECT_THROW(cross_entropy_forward(probs.data(), logits.data(), t.data(), 2, 3), DataError);
}

TEST(NnPositional, SinusoidalMatchesTheTutorialTable) {
  RefCase r("sinusoidal");
  Tensor ref = r.f("out");
  int64_t T = ref.dim(0), C = ref.dim(1);
  std::vector<float> table(T * C);
  sinusoidal_table(table.data(), T, C);
  expect_close(table, ref, "table", 1e-6);
  // offset: rows shift
  std::vector<float> shifted((T - 2) * C);
  sinusoidal_table(shifted.data(), T - 2, C, 2);
  EXPECT_LE(ops::rel_error(shifted.data(), table.data() + 2 * C, (T - 2) * C), 1e-7);
  // add with scale, and its backward
  std::vector<float> x(2 * T * C, 1.0f);
  add_positional(x.data(), table.data(), 2, T, C, 2.0f);
  EXPECT_FLOAT_EQ(x[T * C + 3], 2.0f + table[3]);
  std::vector<float> dx(2 * T * C, 1.0f), dout(2 * T * C, 0.5f);
  add_positional_backward(dx.data(), dout.data(), 2 * T * C, 2.0f);
  EXPECT_FLOAT_EQ(dx[5], 2.0f);
}

TEST(NnDropout, ReproducibleRateAndBackward) {
  int64_t n = 100000;
  std::vector<float> x(n, 1.0f), y(n), y2(n), dx(n, 0.0f), dout(n, 1.0f);
  std::vector<uint8_t> m(n), m2(n);
  Rng a(42), b(42);
  dropout_forward(y.data(), m.data(), x.data(), n, 0.25f, a);
  dropout_forward(y2.data(), m2.data(), x.data(), n, 0.25f, b);
  EXPECT_EQ(m, m2);  // same seed, same mask
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    kept += m[i];
    EXPECT_FLOAT_EQ(y[i], m[i] ? 1.0f / 0.75f : 0.0f);
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.01);
  dropout_backward(dx.data(), dout.data(), m.data(), n, 0.25f);
  EXPECT_EQ(dx, y);  // dout = 1 and x = 1: the gradient equals the output
  Rng c(43);
  dropout_forward(y2.data(), m2.data(), x.data(), n, 0.25f, c);
  EXPECT_NE(m, m2);
  // p = 0: identity, rng untouched
  Rng d(5), e(5);
  dropout_forward(y.data(), m.data(), x.data(), n, 0.0f, d);
  EXPECT_EQ(y, x);
  EXPECT_EQ(d.next_u64(), e.next_u64());
  EXPECT_THROW(dropout_forward(y.data(), m.data(), x.data(), n, 1.0f, d), DataError);
}

TEST(NnResidual, ForwardAndBackwardAccumulate) {
  std::vector<float> a = {1, 2}, b = {10, 20}, out(2), da = {1, 1}, db = {0, 0}, dout = {3, 4};
  residual_forward(out.data(), a.data(), b.data(), 2);
  EXPECT_EQ(out, (std::vector<float>{11, 22}));
  residual_backward(da.data(), db.data(), dout.data(), 2);
  EXPECT_EQ(da, (std::vector<float>{4, 5}));
  EXPECT_EQ(db, (std::vector<float>{3, 4}));
}
