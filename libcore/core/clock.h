// The one clock for durations and rates: monotonic seconds; and the CPU
// time the process has used (user + system, every thread), which a busy
// machine's other work does not inflate as it does wall time.
//
//   double t0 = now_s();
//   ...
//   double took = now_s() - t0;
#pragma once
#include <time.h>

#include <chrono>

namespace qkv {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace qkv
