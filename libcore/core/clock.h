// The one clock for durations and rates: monotonic seconds.
//
//   double t0 = now_s();
//   ...
//   double took = now_s() - t0;
#pragma once
#include <chrono>

namespace qkv {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace qkv
