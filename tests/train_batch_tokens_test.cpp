// qkv-train --batch-tokens N (issue 17; fairseq's --max-tokens): batches of
// at most N padded tokens (B x the longest example's padded length: the
// longer of source and target for pairs), length-bucketed, formed once per run
// from the seed and visited in a seeded order each epoch; an example longer
// than N is refused naming it; recorded so --resume continues exactly. (Data
// parallel: tests/dist_train_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "io/h5.h"
#include "nn/batch_rules.h"
#include "support/test_support.h"
#include "train/examples.h"
#include "train/order.h"
#include "train_fixtures.h"

using namespace qkv;
using test::run;

namespace {

int64_t cost(const std::vector<int64_t>& batch, const std::vector<int64_t>& len) {
  int64_t longest = 0;
  for (int64_t i : batch) longest = std::max(longest, len[i]);
  return longest * static_cast<int64_t>(batch.size());
}

std::vector<int64_t> some_lengths(int n) {
  std::vector<int64_t> len;
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    len.push_back(1 + static_cast<int64_t>(x % 30));
  }
  return len;
}

std::string transformer(const test::TempDir& d, const std::string& flags, const std::string& out) {
  return "qkv-train --no-provenance --threads 1 -q seq2seq " + d.file("pairs.h5") +
         " --layers 1 --heads 2 --d-model 8 --d-ff 16 --dropout 0.1 " + flags + " -o " + d.file(out);
}


}  // namespace

TEST(BatchTokens, FullBatchesWithinTheLimitEachExampleOnce) {
  const std::vector<int64_t> len = some_lengths(500);
  for (int64_t N : {30, 64, 200}) {
    const auto batches = train::plan_token_batches(len, N, 7, true);
    std::multiset<int64_t> seen;
    for (size_t k = 0; k < batches.size(); ++k) {
      EXPECT_LE(cost(batches[k], len), N);
      seen.insert(batches[k].begin(), batches[k].end());
      if (k + 1 < batches.size()) {  // greedy: the next example would not have fit
        std::vector<int64_t> more = batches[k];
        more.push_back(batches[k + 1][0]);
        EXPECT_GT(cost(more, len), N) << "batch " << k << " closed early";
      }
    }
    EXPECT_EQ(seen.size(), len.size());
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), len.size());
    // bucketed: sorted by length, so a batch's lengths lie between its neighbours'
    for (size_t k = 0; k + 1 < batches.size(); ++k) EXPECT_LE(len[batches[k].back()], len[batches[k + 1].front()]);
  }
  // Deterministic in the seed; ties are ordered by it.
  EXPECT_EQ(train::plan_token_batches(len, 64, 7, true), train::plan_token_batches(len, 64, 7, true));
  EXPECT_NE(train::plan_token_batches(len, 64, 7, true), train::plan_token_batches(len, 64, 8, true));
  // Each epoch visits the same batches in its own seeded order (in order without shuffling).
  const auto batches = train::plan_token_batches(len, 64, 7, true);
  auto e1 = train::token_epoch(batches, 7, 1, true), e2 = train::token_epoch(batches, 7, 2, true);
  EXPECT_NE(e1, e2);
  EXPECT_EQ(e1, train::token_epoch(batches, 7, 1, true));
  std::sort(e1.begin(), e1.end());
  auto sorted = batches;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(e1, sorted);
  EXPECT_EQ(train::token_epoch(batches, 7, 3, false), batches);
}

// The padded length is what the batch tensors really take: every batch made from the plan holds at most N
// positions in its source and in its target tensors (target length: the reference + bos or eos).
TEST(BatchTokens, PaddedLengthIsWhatPairBatchesTake) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 300, 4);
  const train::Pairs p = train::read_token_pairs(d.file("pairs.h5"));
  for (int64_t max_tgt : {0, 4}) {
    const train::PairExamples ex(p, 0, max_tgt);
    std::vector<int64_t> len;
    for (int64_t i = 0; i < ex.size(); ++i) len.push_back(ex.padded_length(i));
    for (int64_t N : {7, 20, 50}) {
      int64_t full = 0;
      for (const auto& idx : train::plan_token_batches(len, N, 1, true)) {
        const nn::Batch b = ex.batch(idx);
        EXPECT_LE(b.B * std::max(b.S, b.T), N);
        EXPECT_EQ(b.B * std::max(b.S, b.T), cost(idx, len));
        full = std::max(full, b.B * std::max(b.S, b.T));
      }
      EXPECT_GT(full, N / 2);
    }
  }
}

TEST(BatchTokens, TrainsRecordsAndResumesExactly) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 60, 1);  // ~10 batches of 40 tokens an epoch
  const std::string flags = "--batch-tokens 40 --steps 14 --schedule cosine ";
  auto a = run(transformer(d, flags, "whole.h5"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(test::train_state_int(d.file("whole.h5"), "batch_tokens"), 40);
  auto b = run(transformer(d, flags + "--save-every 6 --keep-last 3", "part.h5"));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(test::params_of(d.file("whole.h5")), test::params_of(d.file("part.h5")));
  auto c = run(transformer(d, "--resume " + d.file("part-step6.h5"), "resumed.h5"));  // --batch-tokens restored
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(test::params_of(d.file("whole.h5")), test::params_of(d.file("resumed.h5")));
  auto e = run(transformer(d, "--batch-tokens 80 --steps 14 --schedule cosine", "other.h5"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(test::params_of(d.file("whole.h5")), test::params_of(d.file("other.h5")));
  // --epochs counts the token batches
  auto f = run(transformer(d, "--batch-tokens 40 --epochs 1", "epoch.h5"));
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_GE(test::train_state_int(d.file("epoch.h5"), "step"), 60 * 4 / 40);  // at least total tokens / N
  EXPECT_LE(test::train_state_int(d.file("epoch.h5"), "step"), 60 / 2);

  // lm sequences: one sequence per example
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 40; ++i) seqs.push_back(std::vector<int32_t>(3 + i % 9, 4 + i % 7));
  test::write_tokens(d.file("tok.h5"), seqs, 12);
  auto l = run("qkv-train --no-provenance --threads 1 -q lm " + d.file("tok.h5") +
               " --lm-mode sequence --context 12 --layers 1 --heads 2 --d-model 8 --batch-tokens 30 --epochs 1 -o " +
               d.file("lm.h5"));
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_GT(test::train_state_int(d.file("lm.h5"), "step"), 40 * 3 / 30);
}

// An example longer than N is an error naming the file, the example and what it needs: nothing is written.
TEST(BatchTokens, LongerExampleIsRefused) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 30, 1);  // sources of 3-6 tokens, targets + eos: up to 7
  auto r = run(transformer(d, "--batch-tokens 6 --steps 2", "m.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const std::string& s : {std::string("--batch-tokens 6"), d.file("pairs.h5"), std::string("fills 7")})
    EXPECT_NE(r.err.find(s), std::string::npos) << s << " not in: " << r.err;
  EXPECT_FALSE(test::exists(d.file("m.h5")));
  EXPECT_EQ(run(transformer(d, "--batch-tokens 7 --steps 2", "m.h5")).exit_code, 0);
  EXPECT_EQ(run(transformer(d, "--batch-tokens 6 --max-tgt-len 6 --max-src-len 6 --steps 2", "n.h5")).exit_code, 0);
}
