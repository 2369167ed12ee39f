// One-shot model forward: the first evaluation forward of a freshly loaded
// checkpoint on one batch file (what `qkv-model forward` does once per
// process), then the same forward repeated (what a streamed evaluation does
// per batch), timed in-process: process start, library loading and file I/O
// excluded. scripts/bench/42-forward.sh runs it next to PyTorch's no_grad
// forward of the same checkpoint (scripts/torch/bench_forward.py).
//
//   forward_bench CHECKPOINT BATCH [--threads N] [--repeat R]
// Prints: qkv one_shot_ms=X one_shot_cpu_ms=C one_shot_faults=F steady_ms=Y steady_cpu_ms=Z
// (medians of R) loss=L. CPU times count this process only (shared machines).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "blas/blas_setup.h"
#include "io/h5.h"
#include "nn/batch_io.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

using namespace qkv;

namespace {
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// CPU time of the process (the machines are shared: wall time counts other jobs too)
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: forward_bench CHECKPOINT BATCH [--threads N] [--repeat R]\n");
    return 2;
  }
  int threads = 1, repeat = 5;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = static_cast<int>(std::strtol(argv[i + 1], nullptr, 10));
    if (a == "--threads") threads = v;
    else if (a == "--repeat") repeat = v;
    else {
      std::fprintf(stderr, "forward_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  blas::set_threads(threads);
  io::H5In ckpt(argv[1]);
  auto m = nn::load_model(ckpt);
  io::H5In bf(argv[2]);
  nn::Batch b = nn::read_batch(bf, m->task());
  long f0 = minor_faults();
  double t0 = now_ms(), c0 = cpu_ms();
  nn::Stats s = m->forward(b, false);
  double one_shot = now_ms() - t0, one_shot_cpu = cpu_ms() - c0;
  long faults = minor_faults() - f0;
  std::vector<double> ts, cs;
  for (int r = 0; r < repeat; ++r) {
    double t = now_ms(), c = cpu_ms();
    m->forward(b, false);
    ts.push_back(now_ms() - t);
    cs.push_back(cpu_ms() - c);
  }
  std::sort(ts.begin(), ts.end());
  std::sort(cs.begin(), cs.end());
  auto median = [](const std::vector<double>& v) { return v.empty() ? 0.0 : v[v.size() / 2]; };
  std::printf("qkv threads=%d one_shot_ms=%.1f one_shot_cpu_ms=%.1f one_shot_faults=%ld steady_ms=%.1f "
              "steady_cpu_ms=%.1f loss=%.6f [%s]\n",
              threads, one_shot, one_shot_cpu, faults, median(ts), median(cs), s.mean_loss(), blas::describe().c_str());
  return 0;
}
