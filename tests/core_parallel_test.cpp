// parallel_for: coverage of every index exactly once, chunking, nesting,
// exceptions, OpenBLAS thread count restored; parallel_sum_rows; and the
// engine's layers give bitwise the same results with 1 and 2 threads here
// (each output element is computed by one thread with the same arithmetic,
// whatever the split; a GEMM slice of another shape may round differently,
// see core/parallel.h).
#include <gtest/gtest.h>

#include <cblas.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "blas/blas_setup.h"
#include "core/parallel.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/transformer_layer.h"
#include "support/nn_check.h"

using namespace qkv;

namespace {
struct ThreadsGuard {  // restores the thread count a test changed
  int saved = blas::threads();
  ~ThreadsGuard() { blas::set_threads(saved); }
};
}  // namespace

TEST(CoreParallel, EveryIndexOnceInContiguousChunks) {
  ThreadsGuard g;
  blas::set_threads(2);
  for (int64_t n : {0, 1, 2, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> calls{0};
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      EXPECT_LT(b, e);
      ++calls;
      for (int64_t i = b; i < e; ++i) ++hits[i];
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    EXPECT_LE(calls.load(), 8);  // at most 4 chunks per thread
  }
  // min_chunk: too little work runs as one chunk
  int calls = 0;
  parallel_for(100, 64, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 100);
  });
  EXPECT_EQ(calls, 1);
}

TEST(CoreParallel, NestedCallsRunSeriallyAndBlasIsSingleThreadedInside) {
  ThreadsGuard g;
  blas::set_threads(2);
  const int before = openblas_get_num_threads();
  std::atomic<int> inner_total{0}, blas_inside{0};
  parallel_for(4, 1, [&](int64_t b, int64_t e) {
    EXPECT_EQ(parallel_threads(), 1);
    blas_inside = std::max(blas_inside.load(), openblas_get_num_threads());
    for (int64_t i = b; i < e; ++i)
      parallel_for(10, 1, [&](int64_t ib, int64_t ie) { inner_total += static_cast<int>(ie - ib); });
  });
  EXPECT_EQ(inner_total.load(), 40);
  EXPECT_EQ(blas_inside.load(), 1);
  EXPECT_EQ(openblas_get_num_threads(), before);
}

TEST(CoreParallel, ExceptionsReachTheCaller) {
  ThreadsGuard g;
  blas::set_threads(2);
  EXPECT_THROW(parallel_for(1000, 1,
                            [&](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("worker chunk failed");
                            }),
               std::runtime_error);
  // the pool still works afterwards
  std::atomic<int64_t> s{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { s += e - b; });
  EXPECT_EQ(s.load(), 1000);
}

TEST(CoreParallel, EncoderLayerBitwiseSameWithOneAndTwoThreads) {
  ThreadsGuard g;
  using namespace qkv::nn;
  Rng rng(5);
  const int64_t B = 4, T = 16, C = 32, F = 64;
  auto w_in = test::randn(3 * C * C, rng, 0.2f), b_in = test::randn(3 * C, rng, 0.1f),
       w_out = test::randn(C * C, rng, 0.2f), w1 = test::randn(F * C, rng, 0.2f), w2 = test::randn(C * F, rng, 0.2f),
       x = test::randn(B * T * C, rng), dout = test::randn(B * T * C, rng);
  std::vector<float> ones(C, 1.0f);
  TransformerLayerConfig cfg;
  cfg.d_model = C, cfg.n_head = 4, cfg.d_ff = F, cfg.norm_first = true, cfg.causal = true;
  cfg.activation = Activation::gelu_erf;
  cfg.dropout(0.1f);
  EncoderLayerWeights W{{w_in.data(), b_in.data(), w_out.data(), nullptr}, {ones.data(), nullptr},
                        {ones.data(), nullptr}, {w1.data(), nullptr, w2.data(), nullptr}};
  auto run = [&](int threads, std::vector<float>& out, std::vector<float>& dx, std::vector<float>& dw) {
    blas::set_threads(threads);
    Rng drop(9);
    EncoderLayerCache cache;
    out.assign(B * T * C, 0.f);
    dx.assign(B * T * C, 0.f);
    dw.assign(3 * C * C, 0.f);
    std::vector<float> dw1(F * C, 0.f);
    EncoderLayerGrads G;
    G.self_attn.in_proj_weight = dw.data();
    G.ff.w1 = dw1.data();
    encoder_layer_forward(out.data(), x.data(), nullptr, W, cfg, B, T, true, &drop, cache);
    encoder_layer_backward(dx.data(), G, dout.data(), x.data(), W, cache);
  };
  std::vector<float> o1, dx1, dw1, o2, dx2, dw2;
  run(1, o1, dx1, dw1);
  run(2, o2, dx2, dw2);
  EXPECT_EQ(o1, o2);
  EXPECT_EQ(dx1, dx2);
  EXPECT_EQ(dw1, dw2);
}

TEST(CoreParallel, SumRowsCoversEveryRowOnceAndGivesTheSameBitsAnyThreadCount) {
  ThreadsGuard g;
  Rng rng(3);
  for (int64_t N : {0, 1, 63, 64, 65, 1000}) {
    SCOPED_TRACE(N);
    const int64_t W = 5;
    auto x = test::randn(N * W, rng);  // (N, W)
    auto run = [&](int threads) {
      blas::set_threads(threads);
      std::vector<float> total(W, 1.0f);  // added to, not overwritten
      std::vector<std::atomic<int>> seen(static_cast<size_t>(N));
      parallel_sum_rows(N, W, total.data(), [&](int64_t r0, int64_t r1, float* acc) {
        EXPECT_LE(r1 - r0, kSumRowBlock);
        for (int64_t n = r0; n < r1; ++n) {
          ++seen[n];
          for (int64_t j = 0; j < W; ++j) acc[j] += x[n * W + j];
        }
      });
      for (int64_t n = 0; n < N; ++n) EXPECT_EQ(seen[n].load(), 1) << n;
      return total;
    };
    auto one = run(1), two = run(2);
    EXPECT_EQ(one, two);
    for (int64_t j = 0; j < W; ++j) {
      double want = 1.0;
      for (int64_t n = 0; n < N; ++n) want += x[n * W + j];
      EXPECT_NEAR(one[j], want, 1e-4 * (1 + N));
    }
  }
}

TEST(CoreParallel, LayerNormAndBiasGradientsBitwiseSameWithOneAndTwoThreads) {
  ThreadsGuard g;
  using namespace qkv::nn;
  Rng rng(7);
  const int64_t N = 333, C = 48, OC = 40;  // N not a multiple of kSumRowBlock
  auto x = test::randn(N * C, rng), dout = test::randn(N * C, rng), w = test::randn(C, rng),
       lw = test::randn(OC * C, rng, 0.2f), dy = test::randn(N * OC, rng);
  std::vector<float> mean(N), rstd(N), y(N * C);
  layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, N, C, 1e-5f);
  auto run = [&](int threads) {
    blas::set_threads(threads);
    std::vector<float> r(N * C + 2 * C + OC, 0.0f);  // layernorm dinp, dweight, dbias; linear dbias
    float* p = r.data();
    layernorm_backward(p, p + N * C, p + N * C + C, dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
    linear_backward(nullptr, nullptr, p + N * C + 2 * C, dy.data(), x.data(), lw.data(), N, C, OC);
    return r;
  };
  EXPECT_EQ(run(1), run(2));
}
