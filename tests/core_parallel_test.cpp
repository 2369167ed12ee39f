// parallel_for: coverage of every index exactly once, chunking, nesting,
// exceptions, OpenBLAS thread count restored; and the engine's layers give
// bitwise the same results with 1 and 2 threads (each output element is
// computed by one thread with the same arithmetic, whatever the split).
#include <gtest/gtest.h>

#include <cblas.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "blas/blas_setup.h"
#include "core/parallel.h"
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
