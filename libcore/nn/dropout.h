// Dropout (inverted, as PyTorch): in training each element is zeroed with
// probability p and the kept ones scaled by 1/(1-p); at eval (or p == 0) it
// is the identity. The keep mask (1 = kept) is drawn from the caller's Rng, so
// a run is reproducible from its seed, and kept for the backward.
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace qkv::nn {

// out (n) = inp (n) * mask (n) / (1 - p); mask written (1 keep, 0 drop).
// p in [0, 1); p == 0 copies inp and sets the mask to all ones without
// touching rng. out may equal inp.
void dropout_forward(float* out, uint8_t* mask, const float* inp, int64_t n, float p, Rng& rng);

// dinp (n) += dout (n) * mask (n) / (1 - p).
void dropout_backward(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p);

// Draws only the mask (n) (for kernels that apply it themselves, like attention).
void dropout_mask(uint8_t* mask, int64_t n, float p, Rng& rng);

// Data-parallel training: a process computes rows [begin, begin + rows) of a
// batch of `total` rows, yet draws its dropout masks as the whole batch would,
// so a run's results do not depend on how many processes share it. While a
// BatchSlice is alive (on this thread), a mask of n values (rows x values per
// row: every tensor a model drops out is batch-major) is drawn as the total x
// values-per-row mask of the whole batch, and this process's rows are kept.
class BatchSlice {
 public:
  BatchSlice(int64_t begin, int64_t rows, int64_t total);
  ~BatchSlice();
  BatchSlice(const BatchSlice&) = delete;
  BatchSlice& operator=(const BatchSlice&) = delete;

 private:
  int64_t saved_[3];
};

}  // namespace qkv::nn
