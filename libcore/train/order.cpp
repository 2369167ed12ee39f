#include "train/order.h"

#include <algorithm>
#include <numeric>

#include "nn/batch_rules.h"

namespace qkv::train {
namespace {

// splitmix64 step (Steele, Lea & Flood 2014): a tiny counter-based generator,
// enough for shuffling; its whole state is one word derived from (seed, epoch).
struct SplitMix {
  uint64_t x;
  uint64_t next() {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Unbiased integer in [0, n) by rejection.
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = next();
    while (r >= limit);
    return r % n;
  }
};

void shuffle(std::vector<int64_t>& v, SplitMix& g) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}

}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t x) {
  SplitMix g{seed ^ (x * 0xd1342543de82ef95ULL)};
  g.next();
  return g.next();
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle_on) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle_on) {
    SplitMix g{mix_seed(seed, static_cast<uint64_t>(epoch) + 1)};
    shuffle(order, g);
  }
  return order;
}

std::vector<std::vector<int64_t>> plan_epoch(int64_t n, int64_t batch, uint64_t seed, int64_t epoch, bool shuffle_on,
                                             const std::vector<int64_t>* lengths) {
  std::vector<int64_t> order = epoch_order(n, seed, epoch, shuffle_on);
  if (lengths) {
    size_t window = static_cast<size_t>(batch) * 50;
    for (size_t a = 0; a < order.size(); a += window) {
      size_t b = std::min(order.size(), a + window);
      std::stable_sort(order.begin() + a, order.begin() + b,
                       [&](int64_t x, int64_t y) { return (*lengths)[x] < (*lengths)[y]; });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t a = 0; a < order.size(); a += static_cast<size_t>(batch))
    batches.emplace_back(order.begin() + a, order.begin() + std::min(order.size(), a + static_cast<size_t>(batch)));
  if (lengths && shuffle_on) {
    SplitMix g{mix_seed(seed ^ 0x5bd1e995ULL, static_cast<uint64_t>(epoch) + 1)};
    for (size_t i = batches.size(); i > 1; --i) std::swap(batches[i - 1], batches[g.below(i)]);
  }
  return batches;
}

std::vector<std::vector<int64_t>> plan_token_batches(const std::vector<int64_t>& padded, int64_t max_tokens,
                                                     uint64_t seed, bool shuffle_on) {
  std::vector<int64_t> order = epoch_order(static_cast<int64_t>(padded.size()), mix_seed(seed, 0x70c5), 0, shuffle_on);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return padded[x] < padded[y]; });
  return nn::token_batches(order, padded, max_tokens);
}

std::vector<std::vector<int64_t>> token_epoch(const std::vector<std::vector<int64_t>>& batches, uint64_t seed,
                                              int64_t epoch, bool shuffle_on) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t b : epoch_order(static_cast<int64_t>(batches.size()), mix_seed(seed, 0x70c6), epoch, shuffle_on))
    out.push_back(batches[b]);
  return out;
}

}  // namespace qkv::train
