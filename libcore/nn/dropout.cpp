#include "nn/dropout.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {
namespace {

// The BatchSlice in force on this thread: {begin, rows, total}; rows == total: the whole batch.
thread_local int64_t slice[3] = {0, 1, 1};

void draw_mask(uint8_t* mask, int64_t n, float p, Rng& rng) {
  if (!(p >= 0.0f && p < 1.0f)) throw DataError("dropout probability must be in [0, 1), got " + std::to_string(p));
  if (p == 0.0f) {
    for (int64_t i = 0; i < n; ++i) mask[i] = 1;
    return;
  }
  // keep when a uniform 32-bit draw is >= p * 2^32: two draws per 64-bit output
  const uint64_t threshold = static_cast<uint64_t>(std::ldexp(static_cast<double>(p), 32));
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    uint64_t r = rng.next_u64();
    mask[i] = (r & 0xffffffffu) >= threshold;
    mask[i + 1] = (r >> 32) >= threshold;
  }
  if (i < n) mask[i] = (rng.next_u64() & 0xffffffffu) >= threshold;
}

}  // namespace

BatchSlice::BatchSlice(int64_t begin, int64_t rows, int64_t total) {
  QKV_CHECK(rows > 0 && begin >= 0 && begin + rows <= total, "BatchSlice: rows outside the batch");
  std::copy(slice, slice + 3, saved_);
  slice[0] = begin;
  slice[1] = rows;
  slice[2] = total;
}

BatchSlice::~BatchSlice() { std::copy(saved_, saved_ + 3, slice); }

void dropout_mask(uint8_t* mask, int64_t n, float p, Rng& rng) {
  const int64_t begin = slice[0], rows = slice[1], total = slice[2];
  if (rows == total || p == 0.0f) return draw_mask(mask, n, p, rng);
  QKV_CHECK(n % rows == 0, "dropout under a BatchSlice: " + std::to_string(n) + " values are not " +
                               std::to_string(rows) + " rows");
  const int64_t per_row = n / rows;
  std::vector<uint8_t> all(static_cast<size_t>(per_row * total));  // the whole batch's mask
  draw_mask(all.data(), per_row * total, p, rng);
  std::copy(all.begin() + begin * per_row, all.begin() + (begin + rows) * per_row, mask);
}

namespace {

QKV_SIMD_CLONES
void apply_mask(float* out, const uint8_t* mask, const float* inp, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) out[i] = mask[i] ? inp[i] * scale : 0.0f;
}

QKV_SIMD_CLONES
void accumulate_masked(float* dinp, const uint8_t* mask, const float* dout, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += mask[i] ? dout[i] * scale : 0.0f;
}

}  // namespace

void dropout_forward(float* out, uint8_t* mask, const float* inp, int64_t n, float p, Rng& rng) {
  dropout_mask(mask, n, p, rng);  // serial: one random stream, independent of the thread count
  const float s = 1.0f / (1.0f - p);
  parallel_for(n, kElementwiseChunk, [&](int64_t b, int64_t e) { apply_mask(out + b, mask + b, inp + b, e - b, s); });
}

void dropout_backward(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p) {
  const float s = 1.0f / (1.0f - p);
  parallel_for(n, kElementwiseChunk,
               [&](int64_t b, int64_t e) { accumulate_masked(dinp + b, mask + b, dout + b, e - b, s); });
}

}  // namespace qkv::nn
