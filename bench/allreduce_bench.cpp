// The gradient sum of data-parallel qkv-train between ranks (dist/allreduce.h),
// timed for the bench models' gradient sizes: run it under
//   mpirun -np 2 allreduce_bench [N_FLOATS...]
// Prints, per size, the median seconds of one sum and the bandwidth it
// implies, for a SumAllreduce kept across calls (as qkv-train keeps one) and
// for a fresh one per call (dist::sum_over_ranks). The cost model of
// scripts/bench/57-data-parallel.sh reads the "bus GB/s" column: each rank
// sends and receives 2 (N-1)/N of the buffer, so bus bandwidth = that many
// bytes / seconds (NCCL's "busbw"), comparable across N.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/clock.h"
#include "dist/allreduce.h"
#include "dist/comm.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qkv;
  dist::Comm& comm = dist::Comm::world();
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {100000, 1000000, 5500000, 10000000};
  const int N = comm.size(), reps = 15;
  if (comm.is_root())
    std::printf("%d ranks; median of %d sums after 2 warm-up\n%12s %14s %10s %14s %10s\n", N, reps, "floats",
                "kept: s", "bus GB/s", "fresh: s", "bus GB/s");
  for (int64_t n : sizes) {
    std::vector<float> x(n, 1.0f);
    const double bus_bytes = 2.0 * (N - 1) / N * 4.0 * static_cast<double>(n);
    std::vector<double> kept, fresh;
    {
      dist::SumAllreduce<float> r(comm, x.data(), n, {n});
      for (int k = 0; k < reps + 2; ++k) {
        comm.barrier();
        const double t0 = now_s();
        r.wait();
        if (k >= 2) kept.push_back(now_s() - t0);
      }
    }
    for (int k = 0; k < reps + 2; ++k) {
      comm.barrier();
      const double t0 = now_s();
      dist::sum_over_ranks(comm, x.data(), n);
      if (k >= 2) fresh.push_back(now_s() - t0);
    }
    const double a = median(kept), b = median(fresh);
    if (comm.is_root())
      std::printf("%12lld %14.6f %10.2f %14.6f %10.2f\n", static_cast<long long>(n), a, bus_bytes / a / 1e9, b,
                  bus_bytes / b / 1e9);
  }
  return 0;
}
