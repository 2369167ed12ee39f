// The one rule for how a (source, target) pair becomes a seq2seq batch, used
// by qkv-train (train/examples.cpp), qkv-attend and qkv-model forward:
//
//   y       = the stored target without a leading bos and a trailing eos
//             (qkv-tokenize encode may or may not have added them)
//   src     = x, truncated to max_src, pad-filled to the batch's longest (B, S)
//   tgt_in  = [bos] y       cut to T, pad-filled                           (B, T)
//   tgt_out = y [eos]       cut to T, pad-filled (pad is not in the loss)  (B, T)
//   T       = min(max |y| + 1 over the batch, max_tgt)                     (0 = no limit)
//
// docs/FORMATS.md ("How qkv-train reads token pairs") states the same.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/model.h"

namespace qkv::nn {

struct PairIds {
  int32_t src_pad = 0, tgt_pad = 0, bos = 1, eos = 2;
};

// y[0, n) without a leading bos and a trailing eos.
std::vector<int32_t> strip_bos_eos(const int32_t* y, int64_t n, int32_t bos, int32_t eos);

// Rows of a batch: sources (already truncated) and stripped targets.
Batch pair_batch(const std::vector<std::vector<int32_t>>& src, const std::vector<std::vector<int32_t>>& y,
                 int64_t max_tgt, const PairIds& ids);

// The length a pair adds to a batch, for length bucketing: max(|x|, |stored target| + 1), each cut to its
// limit (the stored target may still hold bos/eos: a bound, not the exact T).
int64_t pair_length(int64_t src_len, int64_t tgt_len, int64_t max_src, int64_t max_tgt);

}  // namespace qkv::nn
