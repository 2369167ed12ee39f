#include "core/parallel.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "blas/blas_setup.h"

namespace qkv {
namespace {

thread_local bool t_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  ~Pool() { resize(0); }

  void run(int64_t n, int chunks, const RangeFn& fn) {
    if (static_cast<int>(workers_.size()) < chunks - 1) resize(chunks - 1);
    fn_ = &fn;
    n_ = n;
    chunks_.store(chunks, std::memory_order_relaxed);
    errors_.assign(chunks, nullptr);
    pending_.store(chunks - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(m_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_chunk(0);
    // wait for the workers: spin, then yield (the region is short)
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4000)
        cpu_relax();
      else
        std::this_thread::yield();
    }
    fn_ = nullptr;
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void run_chunk(int i) {
    const int k = chunks_.load(std::memory_order_relaxed);
    const int64_t b = n_ * i / k, e = n_ * (i + 1) / k;
    t_in_region = true;
    try {
      if (b < e) (*fn_)(b, e);
    } catch (...) {
      errors_[i] = std::current_exception();
    }
    t_in_region = false;
  }

  // seen: the generation when the worker was created (read by the creating
  // thread: the new thread may start only after the next region was posted)
  void worker(int index, uint64_t seen) {
    for (;;) {
      // spin up to ~100 us for the next region, then sleep
      uint64_t g = seen;
      auto t0 = std::chrono::steady_clock::now();
      for (int spins = 1; (g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load(); ++spins) {
        cpu_relax();
        if (spins % 256 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(100)) break;
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = g;
      const int chunk = index + 1;
      if (chunk < chunks_.load(std::memory_order_relaxed)) {
        run_chunk(chunk);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  void resize(int n) {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false);
    const uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) workers_.emplace_back([this, i, g] { worker(i, g); });
  }

  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::vector<std::exception_ptr> errors_;
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int> chunks_{1};
  std::atomic<bool> stop_{false};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int parallel_threads() { return t_in_region ? 1 : blas::threads(); }

void parallel_for(int64_t n, int64_t min_chunk, const RangeFn& fn) {
  if (n <= 0) return;
  if (min_chunk < 1) min_chunk = 1;
  int64_t chunks = std::min<int64_t>(parallel_threads(), n / min_chunk);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // OpenBLAS single-threaded while our threads run GEMMs on their slices
  const int blas_before = openblas_get_num_threads();
  if (blas_before != 1) openblas_set_num_threads(1);
  try {
    pool().run(n, static_cast<int>(chunks), fn);
  } catch (...) {
    if (blas_before != 1) openblas_set_num_threads(blas_before);
    throw;
  }
  if (blas_before != 1) openblas_set_num_threads(blas_before);
}

}  // namespace qkv
