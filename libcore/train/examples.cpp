#include "train/examples.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "nn/batch_rules.h"
#include "train/order.h"

namespace qkv::train {

std::vector<int64_t> Examples::lengths() const {
  std::vector<int64_t> l(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) l[i] = length(i);
  return l;
}

// ---------------------------------------------------------------------------

LmStream::LmStream(const Sequences& s, int64_t context, bool shift_windows, int64_t stride)
    : stream_(s.ids), T_(context), S_(stride > 0 ? stride : context), shift_windows_(shift_windows) {
  if (T_ <= 0) throw UsageError("context length must be positive");
  if (S_ > T_) throw UsageError("window stride " + std::to_string(S_) + " exceeds the context " + std::to_string(T_));
  // Windows of T+1 tokens start every S tokens (with S = T consecutive windows
  // overlap by one: the last target is the next window's first input). Keep
  // S - 1 tokens spare so any shift in [0, S) fits.
  int64_t len = static_cast<int64_t>(stream_.size());
  n_ = nn::lm_window_count(len, T_, S_, shift_windows_ ? S_ - 1 : 0);
  if (n_ == 0)
    throw DataError(s.path + ": " + std::to_string(len) + " tokens are too few for one window of context " +
                    std::to_string(T_) + " (+1 target)");
}

void LmStream::set_epoch(uint64_t seed, int64_t epoch) {
  shift_ = shift_windows_ && epoch > 0 ? static_cast<int64_t>(mix_seed(seed, 0x1000 + epoch) % S_) : 0;
}

Batch LmStream::batch(const std::vector<int64_t>& idx) const {
  std::vector<int64_t> starts(idx.size());
  for (size_t r = 0; r < idx.size(); ++r) starts[r] = shift_ + idx[r] * S_;
  return nn::lm_window_batch(stream_.data(), starts, T_);
}

// ---------------------------------------------------------------------------

LmSequences::LmSequences(const Sequences& s, int64_t context) : s_(s), T_(context) {
  if (T_ <= 0) throw UsageError("context length must be positive");
  for (int64_t i = 0; i < s.n(); ++i)
    if (s.len(i) < 2)
      throw DataError(s.path + ": sequence " + std::to_string(i) + " has " + std::to_string(s.len(i)) +
                      " token(s); one-sequence-per-example LM training needs at least 2 (encode with --bos/--eos?)");
}

int64_t LmSequences::length(int64_t i) const { return nn::lm_sequence_length(s_.len(i), T_); }
int64_t LmSequences::padded_length(int64_t i) const { return nn::lm_sequence_padded_length(s_.len(i), T_); }

Batch LmSequences::batch(const std::vector<int64_t>& idx) const { return nn::lm_sequence_batch(s_, idx, T_); }

// ---------------------------------------------------------------------------

PairExamples::PairExamples(const Pairs& p, int64_t max_src, int64_t max_tgt)
    : p_(p), max_src_(max_src), max_tgt_(max_tgt) {
  for (int64_t i = 0; i < p.n(); ++i) {
    if (p.src.len(i) == 0)
      throw DataError(p.path + ": pair " + std::to_string(i) + " has an empty source sequence");
  }
}

std::vector<int32_t> PairExamples::reference(int64_t i) const {
  return nn::pair_reference(p_.tgt.seq(i), p_.tgt.len(i), p_.tgt.vocab);
}

std::vector<int32_t> PairExamples::source(int64_t i) const {
  return std::vector<int32_t>(p_.src.seq(i), p_.src.seq(i) + nn::pair_source_length(p_.src.len(i), max_src_));
}

int64_t PairExamples::padded_length(int64_t i) const { return nn::pair_padded_length(p_, i, max_src_, max_tgt_); }

int64_t PairExamples::length(int64_t i) const {
  // a bucketing estimate: the stored target length (bos / eos not yet stripped) + 1
  return std::max(nn::pair_source_length(p_.src.len(i), max_src_), nn::pair_target_length(p_.tgt.len(i), max_tgt_));
}

Batch PairExamples::batch(const std::vector<int64_t>& idx) const {
  return nn::pair_batch(p_, idx, max_src_, max_tgt_);
}

// ---------------------------------------------------------------------------

void PatchExamples::set_augment(const Augment& a, uint64_t seed) {
  if (a.any() && !x_.has_geometry)
    throw DataError(x_.path + ": --augment needs the image geometry attributes qkv-patchify writes "
                    "(image_height, patch_height, stride_height, channels, ...)");
  aug_ = a;
  seed_ = seed;
}

Batch PatchExamples::batch(const std::vector<int64_t>& idx) const {
  int64_t B = static_cast<int64_t>(idx.size()), P = x_.num_patches(), D = x_.patch_dim();
  std::vector<float> patches(B * P * D);  // (B, P, D)
  std::vector<int32_t> labels(B);         // (B)
  const float* all = x_.patches.data<float>();
  for (int64_t r = 0; r < B; ++r) {
    std::copy(all + idx[r] * P * D, all + (idx[r] + 1) * P * D, patches.begin() + r * P * D);
    labels[r] = x_.labels[idx[r]];
  }
  if (aug_.any()) {
    std::vector<float> scratch;
    for (int64_t r = 0; r < B; ++r) {
      Rng rng = augment_rng(seed_, epoch_, idx[r]);
      transform_sample(draw_transform(aug_, x_.geometry, rng), x_.geometry, patches.data() + r * P * D, scratch);
    }
  }
  return Batch::images(B, P, D, std::move(patches), std::move(labels));
}

}  // namespace qkv::train
