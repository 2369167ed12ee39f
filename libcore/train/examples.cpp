#include "train/examples.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "nn/teacher_forcing.h"
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
  int64_t usable = len - 1 - (shift_windows_ ? S_ - 1 : 0);  // window starts + T must stay <= usable
  n_ = usable >= T_ ? (usable - T_) / S_ + 1 : 0;
  if (n_ == 0)
    throw DataError(s.path + ": " + std::to_string(len) + " tokens are too few for one window of context " +
                    std::to_string(T_) + " (+1 target)");
}

void LmStream::set_epoch(uint64_t seed, int64_t epoch) {
  shift_ = shift_windows_ && epoch > 0 ? static_cast<int64_t>(mix_seed(seed, 0x1000 + epoch) % S_) : 0;
}

Batch LmStream::batch(const std::vector<int64_t>& idx) const {
  int64_t B = static_cast<int64_t>(idx.size());
  std::vector<int32_t> inp(B * T_), tgt(B * T_);  // (B, T) each
  for (int64_t r = 0; r < B; ++r) {
    const int32_t* w = stream_.data() + shift_ + idx[r] * S_;
    std::copy(w, w + T_, inp.begin() + r * T_);
    std::copy(w + 1, w + 1 + T_, tgt.begin() + r * T_);
  }
  return Batch::lm(B, T_, std::move(inp), std::move(tgt));
}

// ---------------------------------------------------------------------------

LmSequences::LmSequences(const Sequences& s, int64_t context) : s_(s), T_(context) {
  if (T_ <= 0) throw UsageError("context length must be positive");
  for (int64_t i = 0; i < s.n(); ++i)
    if (s.len(i) < 2)
      throw DataError(s.path + ": sequence " + std::to_string(i) + " has " + std::to_string(s.len(i)) +
                      " token(s); one-sequence-per-example LM training needs at least 2 (encode with --bos/--eos?)");
}

int64_t LmSequences::length(int64_t i) const { return std::min(s_.len(i) - 1, T_); }

Batch LmSequences::batch(const std::vector<int64_t>& idx) const {
  int64_t B = static_cast<int64_t>(idx.size()), T = 1;
  for (int64_t i : idx) T = std::max(T, length(i));
  std::vector<int32_t> inp(B * T, s_.vocab.pad_id), tgt(B * T, nn::kIgnoreIndex);  // (B, T) each
  for (int64_t r = 0; r < B; ++r) {
    const int32_t* w = s_.seq(idx[r]);
    int64_t L = length(idx[r]);
    std::copy(w, w + L, inp.begin() + r * T);
    std::copy(w + 1, w + 1 + L, tgt.begin() + r * T);
  }
  return Batch::lm(B, T, std::move(inp), std::move(tgt));
}

// ---------------------------------------------------------------------------

PairExamples::PairExamples(const Pairs& p, int64_t max_src, int64_t max_tgt)
    : p_(p), max_src_(max_src), max_tgt_(max_tgt) {
  for (int64_t i = 0; i < p.n(); ++i) {
    if (p.src.len(i) == 0)
      throw DataError(p.path + ": pair " + std::to_string(i) + " has an empty source sequence");
  }
}

std::vector<int32_t> PairExamples::reference(int64_t i) const {
  return nn::strip_bos_eos(p_.tgt.seq(i), p_.tgt.len(i), p_.tgt.vocab.bos_id, p_.tgt.vocab.eos_id);
}

std::vector<int32_t> PairExamples::source(int64_t i) const {
  int64_t L = p_.src.len(i);
  if (max_src_ > 0) L = std::min(L, max_src_);
  return std::vector<int32_t>(p_.src.seq(i), p_.src.seq(i) + L);
}

int64_t PairExamples::length(int64_t i) const { return nn::pair_length(p_.src.len(i), p_.tgt.len(i), max_src_, max_tgt_); }

Batch PairExamples::batch(const std::vector<int64_t>& idx) const {
  std::vector<std::vector<int32_t>> xs, ys;
  for (int64_t i : idx) xs.push_back(source(i)), ys.push_back(reference(i));
  const nn::PairIds ids{p_.src.vocab.pad_id, p_.tgt.vocab.pad_id, p_.tgt.vocab.bos_id, p_.tgt.vocab.eos_id};
  return nn::pair_batch(xs, ys, max_tgt_, ids);
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
