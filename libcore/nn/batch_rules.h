// How examples become batches: the one rule every reader of tokens and
// token_pairs files uses (qkv-train's examples, train/examples.h, and
// qkv-model forward over a file, nn/batch_io.h). Documented for users in
// docs/FORMATS.md ("How batches are formed").
//
//   LM windows     the sequences of a tokens file as one token stream; window w
//                  is the T+1 tokens starting at w*S: inp = its first T,
//                  tgt = its last T (consecutive windows with S = T share one
//                  token: the last target is the next window's first input).
//   LM sequences   one sequence per example: inp = s[0:L], tgt = s[1:L+1],
//                  L = min(len - 1, T); past L inp is pad, tgt kIgnoreIndex.
//   pairs          src cut to max_src; y = the target without a leading bos and
//                  a trailing eos; tgt_in = bos y, tgt_out = y eos, both cut to
//                  max_tgt; past them src is the source pad, tgt_in and
//                  tgt_out the target pad (not counted by the losses).
//
// Batches are padded to the longest example in them, or to min_S / min_T when
// larger (a fixed width for outputs written batch after batch).
//
// Batches by token count (qkv-train --batch-tokens N, fairseq's --max-tokens):
// an example's padded length is the most positions it fills in any tensor of
// its batch (pairs: max of its source and target length; LM: its window or
// sequence length), and a batch of B examples costs B x its longest padded
// length; token_batches cuts a sequence of examples into batches of at most N.
#pragma once
#include <cstdint>
#include <vector>

#include "formats/tokens.h"
#include "nn/model.h"

namespace qkv::nn {

// Windows of T+1 tokens every S tokens that fit in a stream of `tokens`
// tokens with `spare` tokens kept back (room for a shifted cut).
int64_t lm_window_count(int64_t tokens, int64_t T, int64_t S, int64_t spare = 0);
// One (B, T) batch from B windows, window r starting at stream + starts[r].
Batch lm_window_batch(const int32_t* stream, const std::vector<int64_t>& starts, int64_t T);

// Positions a sequence of `len` tokens fills as one LM example.
int64_t lm_sequence_length(int64_t len, int64_t T);
Batch lm_sequence_batch(const formats::Sequences& s, const std::vector<int64_t>& idx, int64_t T, int64_t min_T = 1);

// The target of a pair without its leading bos / trailing eos.
std::vector<int32_t> pair_reference(const int32_t* y, int64_t len, const formats::Vocab& v);
// Length of src and of tgt_in / tgt_out for a pair (0 = no limit).
int64_t pair_source_length(int64_t src_len, int64_t max_src);
int64_t pair_target_length(int64_t reference_len, int64_t max_tgt);
Batch pair_batch(const formats::Pairs& p, const std::vector<int64_t>& idx, int64_t max_src, int64_t max_tgt,
                 int64_t min_S = 1, int64_t min_T = 1);
int64_t pair_padded_length(const formats::Pairs& p, int64_t i, int64_t max_src, int64_t max_tgt);
int64_t lm_sequence_padded_length(int64_t len, int64_t T);

// `order` cut, in order, into batches whose B x longest padded length (lengths[i]: example i's) stays <= max_tokens:
// a batch closes when the next example would take it past. Every length must be <= max_tokens.
std::vector<std::vector<int64_t>> token_batches(const std::vector<int64_t>& order, const std::vector<int64_t>& lengths,
                                                int64_t max_tokens);

}  // namespace qkv::nn
