// The order examples are visited in, as a pure function of (seed, epoch):
// a resumed run recomputes the same batches from its step number alone, and
// the same seed gives the same order on every machine.
//
//   auto batches = plan_epoch(n, 32, seed, epoch, shuffle, nullptr);   // batches of example indices
//   auto bucketed = plan_epoch(n, 32, seed, epoch, true, &lengths);    // similar lengths together
#pragma once
#include <cstdint>
#include <vector>

namespace qkv::train {

// splitmix64 of x mixed with seed: the hash every derived seed comes from.
uint64_t mix_seed(uint64_t seed, uint64_t x);

// A permutation of [0, n): Fisher-Yates from (seed, epoch), or 0..n-1 when !shuffle.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

// Epoch `epoch` cut into batches of `batch` examples (the last may be smaller).
// With lengths: examples of similar length are batched together (the shuffled
// order is sorted by length within windows of 50 batches, then the batches
// themselves are shuffled), which cuts padding in seq2seq training.
std::vector<std::vector<int64_t>> plan_epoch(int64_t n, int64_t batch, uint64_t seed, int64_t epoch, bool shuffle,
                                             const std::vector<int64_t>* lengths);

// --batch-tokens: the batches of a run, formed once: the examples in a seeded
// permutation of (seed) (file order without shuffle), stable-sorted by padded
// length, cut into batches of at most max_tokens padded tokens
// (nn::token_batches). Every padded length must be <= max_tokens.
std::vector<std::vector<int64_t>> plan_token_batches(const std::vector<int64_t>& padded, int64_t max_tokens,
                                                     uint64_t seed, bool shuffle);
// Those batches as epoch `epoch` visits them: a seeded permutation of (seed, epoch), in order without shuffle.
std::vector<std::vector<int64_t>> token_epoch(const std::vector<std::vector<int64_t>>& batches, uint64_t seed,
                                              int64_t epoch, bool shuffle);

// Batches per epoch for n examples (ceil(n / batch)).
inline int64_t batches_per_epoch(int64_t n, int64_t batch) { return (n + batch - 1) / batch; }

}  // namespace qkv::train
