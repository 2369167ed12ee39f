// Finite-difference gradient checks (central differences along a random
// direction, float32) for the single layers of libcore/nn; the composite
// layers (attention, encoder/decoder) are checked in their own test files.
#include <gtest/gtest.h>

#include <vector>

#include "nn/activation.h"
#include "nn/cross_entropy.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/feed_forward.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "support/nn_check.h"

using namespace qkv;
using namespace qkv::nn;
using qkv::test::dot;
using qkv::test::gradcheck;
using qkv::test::randn;

TEST(NnGradcheck, Linear) {
  Rng rng(1);
  const int64_t N = 6, C = 5, OC = 4;
  auto x = randn(N * C, rng), w = randn(OC * C, rng), b = randn(OC, rng), dout = randn(N * OC, rng);
  std::vector<float> dx(N * C, 0.f), dw(OC * C, 0.f), db(OC, 0.f), out(N * OC);
  linear_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C, OC);
  auto loss = [&] {
    linear_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
    return dot(out.data(), dout.data(), N * OC);
  };
  gradcheck(loss, {{"inp", x.data(), dx.data(), N * C}, {"weight", w.data(), dw.data(), OC * C}, {"bias", b.data(), db.data(), OC}},
            rng);
}

TEST(NnGradcheck, LayerNorm) {
  Rng rng(2);
  const int64_t N = 5, C = 12;
  auto x = randn(N * C, rng, 2.0f), w = randn(C, rng), b = randn(C, rng), dout = randn(N * C, rng);
  std::vector<float> dx(N * C, 0.f), dw(C, 0.f), db(C, 0.f), out(N * C), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
  layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
  auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    return dot(out.data(), dout.data(), N * C);
  };
  gradcheck(loss, {{"inp", x.data(), dx.data(), N * C}, {"weight", w.data(), dw.data(), C}, {"bias", b.data(), db.data(), C}},
            rng);
}

class NnGradcheckAct : public ::testing::TestWithParam<Activation> {};
TEST_P(NnGradcheckAct, Activation) {
  Rng rng(3);
  const int64_t n = 200;
  auto x = randn(n, rng, 2.0f), dout = randn(n, rng);
  std::vector<float> dx(n, 0.f), out(n);
  activation_backward(GetParam(), dx.data(), dout.data(), x.data(), n);
  auto loss = [&] {
    activation_forward(GetParam(), out.data(), x.data(), n);
    return dot(out.data(), dout.data(), n);
  };
  // ReLU's kink: a small step makes crossing it unlikely and cheap
  gradcheck(loss, {{"inp", x.data(), dx.data(), n}}, rng, GetParam() == Activation::relu ? 1e-3 : 1e-2);
}
INSTANTIATE_TEST_SUITE_P(All, NnGradcheckAct,
                         ::testing::Values(Activation::relu, Activation::gelu_erf, Activation::gelu_tanh),
                         [](const auto& info) { return std::string(activation_name(info.param)); });

TEST(NnGradcheck, CrossEntropySmoothedWithIgnoredTargets) {
  Rng rng(4);
  const int64_t N = 7, V = 9;
  auto logits = randn(N * V, rng, 2.0f);
  std::vector<int32_t> t = {1, 0, 8, 3, 0, 5, 2};  // 0 = pad, ignored
  std::vector<float> probs(N * V), dl(N * V, 0.f);
  auto r = cross_entropy_forward(probs.data(), logits.data(), t.data(), N, V, 0.2f, 0);
  EXPECT_EQ(r.count, 5);
  cross_entropy_backward(dl.data(), probs.data(), t.data(), N, V, r, 0.2f, 0, 1.0f);
  auto loss = [&] { return cross_entropy_forward(probs.data(), logits.data(), t.data(), N, V, 0.2f, 0).loss; };
  gradcheck(loss, {{"logits", logits.data(), dl.data(), N * V}}, rng);
  for (int64_t j = 0; j < V; ++j) EXPECT_EQ(dl[1 * V + j], 0.0f) << "ignored row got a gradient";
}

TEST(NnGradcheck, Embedding) {
  Rng rng(5);
  const int64_t V = 6, C = 4, N = 8;
  std::vector<int32_t> ids = {0, 2, 2, 5, 1, 0, 3, 2};
  auto w = randn(V * C, rng), dout = randn(N * C, rng);
  std::vector<float> dw(V * C, 0.f), out(N * C);
  embedding_backward(dw.data(), dout.data(), ids.data(), N, C);
  auto loss = [&] {
    embedding_forward(out.data(), ids.data(), w.data(), N, V, C);
    return dot(out.data(), dout.data(), N * C);
  };
  gradcheck(loss, {{"weight", w.data(), dw.data(), V * C}}, rng);
}

TEST(NnGradcheck, Dropout) {
  Rng rng(6);
  const int64_t n = 300;
  auto x = randn(n, rng), dout = randn(n, rng);
  std::vector<float> dx(n, 0.f), out(n);
  std::vector<uint8_t> mask(n);
  Rng d0(7);
  dropout_forward(out.data(), mask.data(), x.data(), n, 0.4f, d0);
  dropout_backward(dx.data(), dout.data(), mask.data(), n, 0.4f);
  auto loss = [&] {
    Rng d(7);
    dropout_forward(out.data(), mask.data(), x.data(), n, 0.4f, d);
    return dot(out.data(), dout.data(), n);
  };
  gradcheck(loss, {{"inp", x.data(), dx.data(), n}}, rng);
}

TEST(NnGradcheck, FeedForwardWithInnerDropout) {
  Rng rng(8);
  const int64_t N = 5, C = 6, F = 10;
  auto x = randn(N * C, rng), w1 = randn(F * C, rng, 0.4f), b1 = randn(F, rng, 0.1f), w2 = randn(C * F, rng, 0.4f),
       b2 = randn(C, rng, 0.1f), dout = randn(N * C, rng);
  std::vector<float> dx(N * C, 0.f), dw1(F * C, 0.f), db1(F, 0.f), dw2(C * F, 0.f), db2(C, 0.f), out(N * C);
  FfnWeights W{w1.data(), b1.data(), w2.data(), b2.data()};
  FfnCache c;
  Rng d0(9);
  ffn_forward(out.data(), x.data(), W, N, C, F, Activation::gelu_erf, 0.25f, &d0, c);
  ffn_backward(dx.data(), {dw1.data(), db1.data(), dw2.data(), db2.data()}, dout.data(), x.data(), W, c);
  auto loss = [&] {
    Rng d(9);
    FfnCache cc;
    ffn_forward(out.data(), x.data(), W, N, C, F, Activation::gelu_erf, 0.25f, &d, cc);
    return dot(out.data(), dout.data(), N * C);
  };
  gradcheck(loss,
            {{"inp", x.data(), dx.data(), N * C}, {"w1", w1.data(), dw1.data(), F * C}, {"b1", b1.data(), db1.data(), F},
             {"w2", w2.data(), dw2.data(), C * F}, {"b2", b2.data(), db2.data(), C}},
            rng);
}
