#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/threads.h"

namespace qkv {
namespace {

thread_local bool t_in_region = false;
constexpr int64_t kChunksPerThread = 4;
// How long an idle worker spins for the next region before sleeping: long
// enough to bridge the gap between back-to-back regions of a training step,
// short enough not to steal much from other processes on a shared machine
// (measured on the baby-GPT step under load: 20 us beat 0, 100 and 500).
constexpr int kSpinMicros = 20;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Chunks are handed out dynamically: every participant (the caller and the
// woken workers) claims the next unclaimed chunk until none is left, so a
// worker the OS has descheduled (a busy shared machine) delays the region by
// at most the chunk it holds, instead of a fixed share of the work. The claim
// word packs (region << 32 | next chunk), so a late worker can never claim a
// chunk of a region other than the one it woke up for.
class Pool {
 public:
  ~Pool() { resize(0); }

  void run(int64_t n, int chunks, const RangeFn& fn, int participants) {
    if (static_cast<int>(workers_.size()) < participants - 1) resize(participants - 1);
    const uint64_t region = ++region_;
    // Close claiming first: a worker still in work() for the previous region
    // could otherwise read the new chunks_ (larger than the old), win a CAS on
    // the old region's claim word, run a stray chunk with torn parameters and
    // add one to done_ after it was reset, so done_ overshoots chunks and the
    // wait below never ends (seen as a hang in qkv-train on a busy machine).
    claim_.store((region << 32) | 0x7fffffffu, std::memory_order_release);  // chunk index past any chunks_
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    errors_.assign(chunks, nullptr);
    done_.store(0, std::memory_order_relaxed);
    claim_.store(region << 32, std::memory_order_release);  // opens the region; publishes fn_, n_, chunks_
    {
      std::lock_guard<std::mutex> lk(m_);
      generation_.store(region, std::memory_order_release);
    }
    cv_.notify_all();
    work(region);
    // wait for chunks still held by workers: spin, then yield
    for (int spins = 0; done_.load(std::memory_order_acquire) != chunks; ++spins) {
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
  // Claims and runs chunks of `region` until none is left.
  void work(uint64_t region) {
    for (;;) {
      uint64_t v = claim_.load(std::memory_order_acquire);
      int chunk;
      do {
        if ((v >> 32) != region) return;
        chunk = static_cast<int>(v & 0xffffffffu);
        if (chunk >= chunks_) return;
      } while (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire));
      const int64_t b = n_ * chunk / chunks_, e = n_ * (chunk + 1) / chunks_;
      t_in_region = true;
      try {
        if (b < e) (*fn_)(b, e);
      } catch (...) {
        errors_[chunk] = std::current_exception();
      }
      t_in_region = false;
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  // seen: the generation when the worker was created (read by the creating
  // thread: the new thread may start only after the next region was posted)
  void worker(uint64_t seen) {
    for (;;) {
      // spin up to kSpinMicros for the next region, then sleep
      uint64_t g = seen;
      auto t0 = std::chrono::steady_clock::now();
      for (int spins = 1; (g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load(); ++spins) {
        cpu_relax();
        if (spins % 256 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(kSpinMicros)) break;
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = g;
      work(g);
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
    for (int i = 0; i < n; ++i) workers_.emplace_back([this, g] { worker(g); });
  }

  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  uint64_t region_ = 0;  // caller side only
  std::vector<std::exception_ptr> errors_;
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 1;
  std::atomic<bool> stop_{false};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int parallel_threads() { return t_in_region ? 1 : qkv::threads(); }

void parallel_for(int64_t n, int64_t min_chunk, const RangeFn& fn) {
  if (n <= 0) return;
  if (min_chunk < 1) min_chunk = 1;
  const int threads = parallel_threads();
  // a few chunks per thread, claimed dynamically (see Pool)
  const int64_t chunks = std::min<int64_t>(static_cast<int64_t>(threads) * kChunksPerThread, n / min_chunk);
  if (threads <= 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  // OpenBLAS single-threaded while our threads run GEMMs on their slices
  const BlasHooks* blas = blas_hooks();
  const int blas_before = blas ? blas->get_threads() : 1;
  if (blas_before != 1) blas->set_threads(1);
  try {
    pool().run(n, static_cast<int>(chunks), fn, threads);
  } catch (...) {
    if (blas_before != 1) blas->set_threads(blas_before);
    throw;
  }
  if (blas_before != 1) blas->set_threads(blas_before);
}

namespace {

template <typename T>
void sum_rows(int64_t N, int64_t W, T* total, const RowSumFn<T>& fn, int64_t block) {
  if (N <= 0 || W <= 0) return;
  if (block < 1) block = 1;
  const int64_t blocks = (N + block - 1) / block;
  std::vector<T> partial(static_cast<size_t>(blocks * W), T(0));  // (blocks, W)
  T* p = partial.data();
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) fn(b * block, std::min(N, (b + 1) * block), p + b * W);
  });
  for (int64_t b = 0; b < blocks; ++b) {
    const T* pb = p + b * W;  // (W)
    for (int64_t j = 0; j < W; ++j) total[j] += pb[j];
  }
}

}  // namespace

void parallel_sum_rows(int64_t N, int64_t W, float* total, const RowSumFn<float>& fn, int64_t block) {
  sum_rows(N, W, total, fn, block);
}

void parallel_sum_rows(int64_t N, int64_t W, double* total, const RowSumFn<double>& fn, int64_t block) {
  sum_rows(N, W, total, fn, block);
}

}  // namespace qkv
