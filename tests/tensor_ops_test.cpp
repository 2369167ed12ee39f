// Tensor storage and views; every fast kernel in tensor/ops.h against its
// naive twin in tensor/ops_ref.h.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "tensor/ops.h"
#include "tensor/ops_ref.h"
#include "tensor/tensor.h"

using namespace qkv;

namespace {
Tensor random_tensor(Shape s, uint32_t seed) {
  Tensor t(std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}
}  // namespace

TEST(Tensor, ZeroFilledAlignedAndShaped) {
  Tensor t({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor v = t.view({2, 3});
  v.data<float>()[0] = 42;
  EXPECT_EQ(t.data<float>()[0], 42);
  Tensor rows = t.slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 2}));
  EXPECT_EQ(rows.data<float>()[0], 2);
  rows.data<float>()[1] = -1;
  EXPECT_EQ(t.data<float>()[3], -1);
  Tensor c = t.clone();
  c.data<float>()[0] = 7;
  EXPECT_EQ(t.data<float>()[0], 42);
}

TEST(Tensor, MisuseIsAnErrorNotACrash) {
  Tensor t({2, 3});
  EXPECT_THROW(t.data<int32_t>(), DataError);
  EXPECT_THROW(t.view({4, 2}), DataError);
  EXPECT_THROW(t.slice(1, 3), DataError);
  EXPECT_THROW(t.dim(2), DataError);
  Tensor ids({5}, DType::i64);
  EXPECT_NO_THROW(ids.data<int64_t>());
  Tensor empty({0, 7});
  EXPECT_TRUE(empty.empty());
}

class SgemmTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(SgemmTest, MatchesNaiveReference) {
  auto [ta, tb] = GetParam();
  for (auto [M, N, K] : {std::tuple<int, int, int>{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 96, 64}}) {
    Tensor A = random_tensor({M * K}, 1), B = random_tensor({K * N}, 2), C0 = random_tensor({M * N}, 3);
    Tensor C = C0.clone(), R = C0.clone();
    ops::sgemm(ta, tb, M, N, K, 0.5f, A.data<float>(), B.data<float>(), 0.25f, C.data<float>());
    ops::ref::sgemm(ta, tb, M, N, K, 0.5f, A.data<float>(), B.data<float>(), 0.25f, R.data<float>());
    EXPECT_LT(ops::rel_error(C, R), 1e-6) << M << "x" << N << "x" << K << " ta=" << ta << " tb=" << tb;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, SgemmTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(Ops, BatchedMatmulMatchesPerBatchReference) {
  Tensor a = random_tensor({3, 4, 5}, 4), b = random_tensor({3, 5, 6}, 5);
  Tensor c = ops::matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{3, 4, 6}));
  for (int bi = 0; bi < 3; ++bi) {
    std::vector<float> r(24);
    ops::ref::sgemm(false, false, 4, 6, 5, 1.0f, a.data<float>() + bi * 20, b.data<float>() + bi * 30, 0.0f, r.data());
    EXPECT_LT(ops::rel_error(c.data<float>() + bi * 24, r.data(), 24), 1e-6);
  }
  // Transposed operands: a^T (..., K, M) and b^T (..., N, K).
  Tensor at = random_tensor({3, 5, 4}, 6), bt = random_tensor({3, 6, 5}, 7);
  Tensor ct = ops::matmul(at, bt, true, true);
  ASSERT_EQ(ct.shape(), (Shape{3, 4, 6}));
  for (int bi = 0; bi < 3; ++bi) {
    std::vector<float> r(24);
    ops::ref::sgemm(true, true, 4, 6, 5, 1.0f, at.data<float>() + bi * 20, bt.data<float>() + bi * 30, 0.0f, r.data());
    EXPECT_LT(ops::rel_error(ct.data<float>() + bi * 24, r.data(), 24), 1e-6);
  }
}

TEST(Ops, SharedRightOperandIsOneBigGemm) {
  Tensor x = random_tensor({2, 3, 8}, 8), w = random_tensor({8, 4}, 9);
  Tensor y = ops::matmul(x, w);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  std::vector<float> r(24);
  ops::ref::sgemm(false, false, 6, 4, 8, 1.0f, x.data<float>(), w.data<float>(), 0.0f, r.data());
  EXPECT_LT(ops::rel_error(y.data<float>(), r.data(), 24), 1e-6);
  EXPECT_THROW(ops::matmul(x, random_tensor({7, 4}, 1)), DataError);
}

TEST(Ops, SoftmaxAndLogSoftmaxMatchReference) {
  Tensor x = random_tensor({6, 33}, 10);
  x.data<float>()[5] = 80.0f;  // large logits must not overflow
  Tensor s = ops::softmax_last(x), ls = ops::log_softmax_last(x);
  Tensor rs({6, 33}), rls({6, 33});
  ops::ref::softmax_rows(x.data<float>(), rs.data<float>(), 6, 33);
  ops::ref::log_softmax_rows(x.data<float>(), rls.data<float>(), 6, 33);
  EXPECT_LT(ops::rel_error(s, rs), 1e-6);
  EXPECT_LT(ops::rel_error(ls, rls), 1e-6);
  for (int r = 0; r < 6; ++r) {
    double sum = 0;
    for (int i = 0; i < 33; ++i) sum += s.data<float>()[r * 33 + i];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(Ops, FullyMaskedSoftmaxRowIsZerosNotNaN) {
  std::vector<float> x(4, -INFINITY), y(4, 1.0f);
  ops::softmax_rows(x.data(), y.data(), 1, 4);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(Ops, ElementwiseAndReductions) {
  Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from<float>({6, 5, 4, 3, 2, 1}, {2, 3});
  Tensor s = ops::add(a, b), m = ops::mul(a, b), k = ops::scale(a, 2);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(s.data<float>()[i], 7);
    EXPECT_EQ(m.data<float>()[i], a.data<float>()[i] * b.data<float>()[i]);
    EXPECT_EQ(k.data<float>()[i], 2 * a.data<float>()[i]);
  }
  ops::axpy(-1.0f, a, b);
  EXPECT_EQ(b.data<float>()[0], 5);
  EXPECT_EQ(ops::sum_last(a).data<float>()[1], 15);
  EXPECT_EQ(ops::mean_last(a).data<float>()[0], 2);
  EXPECT_EQ(ops::max_last(a).data<float>()[1], 6);
  EXPECT_EQ(ops::sum_all(a), 21);
  EXPECT_THROW(ops::add(a, Tensor({3, 2})), DataError);
}

TEST(Ops, RelErrorDetectsDifferences) {
  std::vector<float> a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 3.3f};
  EXPECT_EQ(ops::rel_error(a.data(), b.data(), 3), 0.0);
  EXPECT_NEAR(ops::rel_error(c.data(), a.data(), 3), 0.3 / std::sqrt(14.0), 1e-6);
}
