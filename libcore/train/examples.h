// Training examples and the batches made from them, one class per task:
//
//   LmStream     all sequences as one token stream cut into context windows
//                (inp = w[0:T], tgt = w[1:T+1]) starting every S tokens (S = T:
//                non-overlapping; S = 1: every position, like nanoGPT's random
//                windows); each epoch may shift the cut
//                by a seeded offset so windows differ from epoch to epoch.
//   LmSequences  one sequence per example, truncated to T+1 tokens, pad-filled.
//   PairExamples seq2seq pairs: src pad-filled, tgt_in = [bos] y, tgt_out = y [eos].
//   PatchExamples image patches and their labels.
//
// Batches are pad-filled to the longest example in the batch; LM targets past
// a sequence's end are nn::kIgnoreIndex, seq2seq targets there are pad_id,
// and neither is counted by the models' losses.
// The batch rules themselves live in nn/batch_rules.h, shared with
// qkv-model forward (which reads the same files without libqkvtrain).
#pragma once
#include <cstdint>
#include <vector>

#include "nn/model.h"
#include "train/data.h"

namespace qkv::train {

using nn::Batch;

class Examples {
 public:
  virtual ~Examples() = default;
  virtual int64_t size() const = 0;
  // Tokens (or 1) the example adds to a batch, for length bucketing.
  virtual int64_t length(int64_t i) const { (void)i; return 1; }
  // Positions the example fills in a padded batch (nn/batch_rules.h), for --batch-tokens; 0: not made of tokens.
  virtual int64_t padded_length(int64_t i) const { (void)i; return 0; }
  // Called before each training epoch (LmStream shifts its windows).
  virtual void set_epoch(uint64_t seed, int64_t epoch) { (void)seed; (void)epoch; }
  virtual Batch batch(const std::vector<int64_t>& idx) const = 0;
  std::vector<int64_t> lengths() const;
};

class LmStream : public Examples {
 public:
  // Windows start every `stride` tokens (0 = context: non-overlapping).
  // shift_windows: each epoch > 0 shifts the cut by a seeded offset in [0, stride).
  LmStream(const Sequences& s, int64_t context, bool shift_windows, int64_t stride = 0);
  int64_t size() const override { return n_; }
  void set_epoch(uint64_t seed, int64_t epoch) override;
  int64_t padded_length(int64_t) const override { return T_; }
  Batch batch(const std::vector<int64_t>& idx) const override;
  int64_t stream_tokens() const { return static_cast<int64_t>(stream_.size()); }

 private:
  std::vector<int32_t> stream_;
  int64_t T_, S_, n_, shift_ = 0;
  bool shift_windows_;
};

class LmSequences : public Examples {
 public:
  LmSequences(const Sequences& s, int64_t context);
  int64_t size() const override { return s_.n(); }
  int64_t length(int64_t i) const override;
  int64_t padded_length(int64_t i) const override;
  Batch batch(const std::vector<int64_t>& idx) const override;

 private:
  const Sequences& s_;
  int64_t T_;
};

class PairExamples : public Examples {
 public:
  // max_src / max_tgt: longer sequences are truncated (0 = no limit).
  PairExamples(const Pairs& p, int64_t max_src, int64_t max_tgt);
  int64_t size() const override { return p_.n(); }
  int64_t length(int64_t i) const override;
  int64_t padded_length(int64_t i) const override;
  Batch batch(const std::vector<int64_t>& idx) const override;
  // The target of pair i without any leading bos / trailing eos (what a
  // greedy decode is compared with).
  std::vector<int32_t> reference(int64_t i) const;
  std::vector<int32_t> source(int64_t i) const;
  const Vocab& src_vocab() const { return p_.src.vocab; }
  const Vocab& tgt_vocab() const { return p_.tgt.vocab; }

 private:
  const Pairs& p_;
  int64_t max_src_, max_tgt_;
};

class PatchExamples : public Examples {
 public:
  explicit PatchExamples(const Patches& x) : x_(x) {}
  // Training batches from now on are augmented (train/augment.h); throws
  // DataError when the file lacks the image geometry attributes.
  void set_augment(const Augment& a, uint64_t seed);
  void set_epoch(uint64_t seed, int64_t epoch) override { (void)seed; epoch_ = epoch; }
  int64_t size() const override { return x_.n(); }
  Batch batch(const std::vector<int64_t>& idx) const override;

 private:
  const Patches& x_;
  Augment aug_;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0;
};

}  // namespace qkv::train
