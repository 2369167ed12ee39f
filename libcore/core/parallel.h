// parallel_for: qkv's one helper for its own multi-threaded loops (the
// engine's layers in libcore/nn use it for row-split GEMMs, attention heads
// and element-wise loops).
//
//   parallel_for(n, min_chunk, [&](int64_t begin, int64_t end) { ... rows [begin, end) ... });
//
// [0, n) is cut into k contiguous chunks of at least min_chunk items, k at
// most 4 per thread (one chunk, run inline, with one thread or when n is
// small); chunk i covers [n*i/k, n*(i+1)/k). The caller and a persistent pool
// claim chunks dynamically until none is left (a descheduled worker on a busy
// machine then holds up at most one chunk), and the call returns when all are
// done. Callers make each output element depend on one chunk only, so a run
// is bitwise reproducible with the same thread count; element-wise loops and
// parallel_sum_rows also give the same bits with any thread count, but a GEMM
// on a thread's slice may not (OpenBLAS picks its kernels by shape, and the
// slice's shape follows the chunking). A call made from inside a chunk runs
// serially, so nesting is safe. An exception thrown in a chunk is rethrown to
// the caller (the first one, by chunk order).
//
// Threads and OpenBLAS: the pool has blas::threads() threads (qkv --threads).
// While a parallel region runs, OpenBLAS is switched to one thread, so GEMMs
// called inside chunks (each on its own slice) never start OpenBLAS's own
// threads, which would oversubscribe the cores and spin against ours (the
// reason PyTorch with 2 threads runs 3x slower than with 1 on these 2-core
// machines). Outside regions OpenBLAS keeps the configured count.
// Workers spin briefly (20 us) after a region before sleeping, because a
// training step issues regions back to back.
#pragma once
#include <cstdint>
#include <functional>

namespace qkv {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

void parallel_for(int64_t n, int64_t min_chunk, const RangeFn& fn);

// Threads parallel_for may use (blas::threads()); 1 inside a running chunk.
int parallel_threads();

// parallel_sum_rows: a sum over rows, e.g. a bias gradient (column sums of
// dout), LayerNorm's weight gradient or a gradient norm, with threads
// splitting the rows.
//
//   parallel_sum_rows(N, W, total, [&](int64_t r0, int64_t r1, float* acc) {
//     for (int64_t n = r0; n < r1; ++n) for (int64_t j = 0; j < W; ++j) acc[j] += f(n, j);
//   });
//
// [0, N) is cut into fixed blocks of `block` rows; fn adds rows [r0, r1) of
// one block into acc (W values, zeroed), and the partials are added to total
// (W) in block order. The blocks depend on N only, so the result does not
// depend on the thread count. fn may also write per-row outputs of its rows
// (the LayerNorm backward computes dinp in the same pass). float or double
// accumulators (clip_grad_norm sums squares in double).
constexpr int64_t kSumRowBlock = 64;
template <typename T>
using RowSumFn = std::function<void(int64_t r0, int64_t r1, T* acc)>;
void parallel_sum_rows(int64_t N, int64_t W, float* total, const RowSumFn<float>& fn, int64_t block = kSumRowBlock);
void parallel_sum_rows(int64_t N, int64_t W, double* total, const RowSumFn<double>& fn, int64_t block = kSumRowBlock);

}  // namespace qkv
