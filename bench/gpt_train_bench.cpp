// gpt training-step benchmark: forward + backward + AdamW of the qkv gpt model
// at nanoGPT's CPU "baby" shape (4 layers, 4 heads, d_model 128, context 64,
// batch 12, vocabulary 65, GELU, pre-norm, tied embeddings, dropout 0), on
// random tokens. scripts/bench/40-engine.sh runs it next to PyTorch.
//
//   gpt_train_bench [--threads N] [--steps S] [--warmup W] [--batch B] [--block T]
// Prints: qkv threads=N tokens_per_s=X step_ms=Y matmul_ms=M (P%) other_ms=R
// (the matmul share comes from a second, timed pass with sgemm accounting on;
// with N > 1 threads the layers run GEMMs on several threads at once, so
// matmul_ms is their time summed over threads and its share is of N x step).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "blas/blas_setup.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tensor/ops.h"

using namespace qkv;

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  int threads = 1, steps = 30, warmup = 5;
  int64_t B = 12, T = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--threads") threads = static_cast<int>(v);
    else if (a == "--steps") steps = static_cast<int>(v);
    else if (a == "--warmup") warmup = static_cast<int>(v);
    else if (a == "--batch") B = v;
    else if (a == "--block") T = v;
    else {
      std::fprintf(stderr, "gpt_train_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  blas::set_threads(threads);
  nn::Config c;
  c.set("vocab_size", 65);
  c.set("block_size", T);
  c.set("n_layer", 4);
  c.set("n_head", 4);
  c.set("d_model", 128);
  auto m = nn::make_model("gpt", c, 0);
  nn::OptimConfig oc;
  oc.beta2 = 0.99;
  oc.weight_decay = 0.1;
  nn::Optimizer opt(oc, m->params());
  Rng data(1);
  auto batch = [&]() {
    std::vector<int32_t> ids(static_cast<size_t>(B * (T + 1)));
    for (auto& x : ids) x = static_cast<int32_t>(data.below(65));
    std::vector<int32_t> inp, tgt;
    for (int64_t b = 0; b < B; ++b) {
      inp.insert(inp.end(), ids.begin() + b * (T + 1), ids.begin() + b * (T + 1) + T);
      tgt.insert(tgt.end(), ids.begin() + b * (T + 1) + 1, ids.begin() + (b + 1) * (T + 1));
    }
    return nn::Batch::lm(B, T, inp, tgt);
  };
  std::vector<nn::Batch> batches;
  for (int i = 0; i < warmup + steps; ++i) batches.push_back(batch());
  double loss = 0;
  auto step = [&](const nn::Batch& b) {
    m->params().zero_grad();
    loss = m->forward(b, true).mean_loss();
    m->backward();
    opt.step(1e-3);
  };
  for (int i = 0; i < warmup; ++i) step(batches[static_cast<size_t>(i)]);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step(batches[static_cast<size_t>(warmup + i)]);
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Second pass with sgemm accounting, for the breakdown only.
  ops::reset_gemm_stats();
  ops::set_gemm_timing(true);
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step(batches[static_cast<size_t>(warmup + i)]);
  double dt2 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  ops::set_gemm_timing(false);
  ops::GemmStats g = ops::gemm_stats();

  double tokens = static_cast<double>(steps) * static_cast<double>(B * T);
  double mm_ms = 1000 * g.seconds / steps, all_ms = 1000 * dt2 / steps * std::max(1, threads);
  std::printf("qkv threads=%d tokens_per_s=%.0f step_ms=%.2f matmul_ms=%.2f (%.0f%%, %.1f GFLOP/s, %lld sgemm/step) "
              "other_ms=%.2f loss=%.4f [%s]\n",
              threads, tokens / dt, 1000 * dt / steps, mm_ms, 100 * mm_ms / all_ms, g.flops / g.seconds / 1e9,
              static_cast<long long>(g.calls / steps), all_ms - mm_ms, loss, blas::describe().c_str());
  return 0;
}
