// matmul_bench: libcore's matmul GFLOP/s at transformer-sized shapes beside
// the raw cblas_sgemm figure on the same operands, in one run.
//   matmul_bench [--reps N]
// The first line tells which OpenBLAS core runs (see blas/blas_setup.h).
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "blas/blas_setup.h"
#include "core/clock.h"
#include "tensor/ops.h"

using namespace qkv;

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  int reps = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  blas::set_threads(0);
  std::printf("%s\n", blas::describe().c_str());
  struct Shape3 { const char* what; int64_t M, N, K; };
  // Shapes of nanoGPT's baby GPT (B*T = 768 rows, C = 128) and of a larger model.
  const Shape3 shapes[] = {
      {"qkv proj  (BT,C)x(C,3C)", 768, 384, 128}, {"mlp up    (BT,C)x(C,4C)", 768, 512, 128},
      {"mlp down  (BT,4C)x(4C,C)", 768, 128, 512}, {"attn QK^T (T,hs)x(hs,T)", 64, 64, 32},
      {"d_model 512 (BT,C)x(C,4C)", 2048, 2048, 512}, {"square 1024", 1024, 1024, 1024}};
  std::printf("%-28s %12s %12s %12s %8s\n", "shape", "ops::sgemm", "ops::matmul", "raw cblas", "sgemm/raw");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const auto& s : shapes) {
    Tensor a({s.M, s.K}), b({s.K, s.N});
    for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = u(rng);
    for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = u(rng);
    std::vector<float> c(s.M * s.N);
    double flop = 2.0 * s.M * s.N * s.K;
    int n = reps > 0 ? reps : static_cast<int>(std::max(3.0, 2e9 / flop));
    // Interleave the two so machine noise hits both alike.
    double t_lib = 0, t_raw = 0, t_ten = 0;
    std::vector<float> c2(s.M * s.N);
    for (int r = 0; r < n; ++r) {
      double tm = now_s();
      Tensor out = ops::matmul(a, b);  // allocates its result
      double t0 = now_s();
      ops::sgemm(false, false, s.M, s.N, s.K, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c2.data());
      double t1 = now_s();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.M, s.N, s.K, 1.0f, a.data<float>(), s.K,
                  b.data<float>(), s.N, 0.0f, c.data(), s.N);
      double t2 = now_s();
      if (r > 0 || n == 1) { t_ten += t0 - tm; t_lib += t1 - t0; t_raw += t2 - t1; }
    }
    int counted = n > 1 ? n - 1 : 1;
    double g_lib = flop * counted / t_lib / 1e9, g_raw = flop * counted / t_raw / 1e9;
    double g_ten = flop * counted / t_ten / 1e9;
    char label[64];
    std::snprintf(label, sizeof label, "%s", s.what);
    std::printf("%-28s %9.1f GF %9.1f GF %9.1f GF %8.2f   (%lldx%lldx%lld)\n", label, g_lib, g_ten, g_raw,
                g_lib / g_raw,
                (long long)s.M, (long long)s.N, (long long)s.K);
  }
  return 0;
}
