// BPE learning and encoding: the hand-worked corpus, determinism, and the
// incremental learner against a naive recount-every-merge reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/error.h"
#include "tokenize/learn.h"
#include "tokenize/tokenizer.h"

using namespace qkv::tokenize;

namespace {

LearnOptions bpe_options(int64_t vocab, int64_t min_freq = 2) {
  LearnOptions o;
  o.model = Model::bpe;
  o.pretokenizer = PreTokenizer::none;
  o.vocab_size = vocab;
  o.min_frequency = min_freq;
  o.progress = false;
  return o;
}

std::vector<std::string> merge_strings(const Tokenizer& t) {
  std::vector<std::string> out;
  for (int32_t id = t.first_merged(); id < t.vocab_size(); ++id) out.push_back(t.pieces[id]);
  return out;
}

// Reference BPE: recount every pair of every word before each merge.
struct NaiveBpe {
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<std::vector<int32_t>> words;  // final segmentation of each word
};

NaiveBpe naive_bpe(const Counts& counts, int32_t base, int32_t n_merges, int64_t min_freq) {
  NaiveBpe r;
  for (auto& [w, c] : counts) {
    std::vector<int32_t> s;
    for (unsigned char ch : w) s.push_back(base + ch);
    r.words.push_back(s);
  }
  int32_t next = base + 256;
  for (int32_t m = 0; m < n_merges; ++m) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pc;
    for (size_t w = 0; w < r.words.size(); ++w)
      for (size_t i = 0; i + 1 < r.words[w].size(); ++i) pc[{r.words[w][i], r.words[w][i + 1]}] += counts[w].second;
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t bc = 0;
    for (auto& [p, c] : pc)  // map order = ascending (a, b): first max wins ties
      if (c > bc) {
        bc = c;
        best = p;
      }
    if (bc < min_freq) break;
    r.merges.push_back(best);
    for (auto& s : r.words) {
      std::vector<int32_t> t;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          t.push_back(next);
          i += 2;
        } else t.push_back(s[i++]);
      }
      s = t;
    }
    ++next;
  }
  return r;
}

}  // namespace

TEST(TokenizeBpe, HandWorkedCorpusGivesExpectedMerges) {
  // Sennrich et al.'s example. Pair counts worked by hand (see the comments):
  // es 9 = st 9 (tie: 'e' < 's'), est 9, lo 7 = ow 7 (tie: 'l' < 'o'), low 7,
  // ew 6 = ne 6 = w+est 6 (tie: 'e' smallest), new 6 (n < ew), newest 6,
  // d+est 3 = i+d 3 = w+i 3 (tie: 'd' smallest), idest 3, widest 3,
  // er 2 (e < low), lower 2; then no pair occurs twice.
  Counts c = {{"low", 5}, {"lower", 2}, {"newest", 6}, {"widest", 3}};
  Tokenizer t = learn_from_counts(c, bpe_options(1000));
  std::vector<std::string> want = {"es", "est", "lo", "low", "ew", "new", "newest", "dest", "idest", "widest", "er", "lower"};
  EXPECT_EQ(merge_strings(t), want);
  EXPECT_EQ(t.first_merged(), 4 + 256);
  // Counts recorded at merge time.
  EXPECT_EQ(t.counts[t.first_merged()], 9);
  EXPECT_EQ(t.counts[t.first_merged() + 2], 7);
  EXPECT_EQ(t.counts.back(), 2);
  // The training words encode to one piece each.
  Encoder enc(t);
  for (auto& [w, n] : c) {
    std::vector<int32_t> ids;
    enc.encode(w, ids);
    ASSERT_EQ(ids.size(), 1u) << w;
    EXPECT_EQ(t.pieces[ids[0]], w);
  }
  std::vector<int32_t> ids;
  enc.encode("lowest", ids);  // low + est
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(t.pieces[ids[0]], "low");
  EXPECT_EQ(t.pieces[ids[1]], "est");
}

TEST(TokenizeBpe, VocabSizeLimitsMerges) {
  Counts c = {{"low", 5}, {"lower", 2}, {"newest", 6}, {"widest", 3}};
  Tokenizer t = learn_from_counts(c, bpe_options(4 + 256 + 3));
  EXPECT_EQ(merge_strings(t), (std::vector<std::string>{"es", "est", "lo"}));
  EXPECT_EQ(t.vocab_size(), 263);
}

TEST(TokenizeBpe, MinFrequencyStopsMerging) {
  Counts c = {{"low", 5}, {"lower", 2}, {"newest", 6}, {"widest", 3}};
  Tokenizer t = learn_from_counts(c, bpe_options(1000, 7));
  EXPECT_EQ(merge_strings(t), (std::vector<std::string>{"es", "est", "lo", "low"}));
}

TEST(TokenizeBpe, OverlappingPairsMergeLeftToRight) {
  Counts c = {{"aaaaa", 3}};
  Tokenizer t = learn_from_counts(c, bpe_options(1000, 1));
  // aaaaa: (a,a) x4 merges left to right -> [aa aa a]; then (aa,aa) 3 and
  // (aa,a) 3 tie, and id(a) < id(aa) -> aaa: [aa aaa]; then aaaaa.
  EXPECT_EQ(merge_strings(t), (std::vector<std::string>{"aa", "aaa", "aaaaa"}));
  Encoder enc(t);
  std::vector<int32_t> ids;
  enc.encode("aaaa", ids);  // [aa aa]: (aa,aa) was never merged
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(t.pieces[ids[0]], "aa");
  EXPECT_EQ(t.pieces[ids[1]], "aa");
}

TEST(TokenizeBpe, IncrementalLearnerMatchesNaiveRecount) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::map<std::string, int64_t> m;
    int nwords = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < nwords; ++i) {
      std::string w;
      int len = 1 + static_cast<int>(rng() % 12);
      for (int k = 0; k < len; ++k) w.push_back(static_cast<char>("abcab\xC3\xA9"[rng() % 6]));
      m[w] += 1 + rng() % 9;
    }
    Counts c(m.begin(), m.end());
    int64_t mf = 1 + trial % 3;
    Tokenizer t = learn_from_counts(c, bpe_options(4 + 256 + 40, mf));
    NaiveBpe ref = naive_bpe(c, 4, 40, mf);
    ASSERT_EQ(t.merges, ref.merges) << "trial " << trial;
    // Encoding each training word reproduces the learner's segmentation.
    Encoder enc(t);
    for (size_t w = 0; w < c.size(); ++w) {
      std::vector<int32_t> ids;
      enc.encode(c[w].first, ids);
      EXPECT_EQ(ids, ref.words[w]) << "trial " << trial << " word " << c[w].first;
    }
  }
}

TEST(TokenizeBpe, SameInputSameTokenizer) {
  Counts c = {{"the", 9}, {"then", 4}, {"than", 4}, {"hen", 3}, {"ten", 3}, {"tan", 3}};
  Tokenizer a = learn_from_counts(c, bpe_options(300));
  Counts shuffled(c.rbegin(), c.rend());
  std::sort(shuffled.begin(), shuffled.end());
  Tokenizer b = learn_from_counts(shuffled, bpe_options(300));
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.pieces, b.pieces);
}

TEST(TokenizeBpe, UserSpecialsAreNeverSplit) {
  LearnOptions o = bpe_options(300);
  o.specials = {"<sep>", "<mask>"};
  Counts c = {{"ab", 5}};
  Tokenizer t = learn_from_counts(c, o);
  EXPECT_EQ(t.pieces[4], "<sep>");
  EXPECT_EQ(t.pieces[5], "<mask>");
  EXPECT_EQ(t.first_base(), 6);
  Encoder enc(t);
  std::vector<int32_t> ids;
  enc.encode("ab<sep>x<mask><sep", ids);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[1], 4);
  EXPECT_EQ(ids[3], 5);
  EXPECT_EQ(t.decode(ids.data(), ids.size()), "ab<sep>x<mask><sep");
}

TEST(TokenizeBpe, VocabSmallerThanAlphabetIsRefused) {
  Counts c = {{"ab", 5}};
  EXPECT_THROW(learn_from_counts(c, bpe_options(259)), qkv::UsageError);
  EXPECT_NO_THROW(learn_from_counts(c, bpe_options(260)));
}
