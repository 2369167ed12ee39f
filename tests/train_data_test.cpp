// qkv-train's data side: reading and checking tokens / token_pairs / patches
// files, the deterministic example order, batching, and the G2P preparation.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.h"
#include "io/h5.h"
#include "support/test_support.h"
#include "train_fixtures.h"
#include "train/cmudict.h"
#include "train/data.h"
#include "train/examples.h"
#include "train/order.h"

using namespace qkv;
using namespace qkv::train;

namespace {

std::string tokens_file(const test::TempDir& d, const std::string& name, const std::vector<std::vector<int32_t>>& s,
                        int64_t vocab) {
  return test::write_tokens(d.file(name), s, vocab);
}

// Sequences of the ids 0, 1, 2, ... in turn, of the given lengths (a stream to cut into windows).
Sequences counting(const std::vector<int64_t>& lengths) {
  Sequences s;
  s.path = "t.h5";
  s.vocab.vocab_size = 100;
  int32_t next = 0;
  for (int64_t n : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    std::iota(ids.begin(), ids.end(), next);
    next += static_cast<int32_t>(n);
    s.push(ids.data(), n);
  }
  return s;
}

}  // namespace

TEST(TrainData, ReadsTokensAndChecksThem) {
  test::TempDir d;
  std::string p = tokens_file(d, "t.h5", {{1, 5, 6, 2}, {1, 7, 2}}, 10);
  Sequences s = read_tokens(p);
  ASSERT_EQ(s.n(), 2);
  EXPECT_EQ(s.len(0), 4);
  EXPECT_EQ(s.seq(1)[1], 7);
  EXPECT_EQ(s.vocab.vocab_size, 10);
  EXPECT_EQ(s.vocab.tokenizer_sha256, "abc");
  Sequences sub = s.subset({1});
  EXPECT_EQ(sub.n(), 1);
  EXPECT_EQ(sub.len(0), 3);

  // An id outside the vocabulary names the file and the position.
  std::string bad = tokens_file(d, "bad.h5", {{1, 5, 12}}, 10);
  try {
    read_tokens(bad);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.h5"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("token id 12"), std::string::npos);
  }
  // Offsets that do not end at the number of ids.
  {
    io::H5Out out(d.file("off.h5"), "tokens");
    out.write("ids", Tensor::from(std::vector<int32_t>{1, 2, 3}, {3}));
    out.write("offsets", Tensor::from(std::vector<int64_t>{0, 2, 5}, {3}));
    out.set_attr("/", "vocab_size", int64_t{10});
    out.commit();
  }
  EXPECT_THROW(read_tokens(d.file("off.h5")), DataError);
  // The wrong kind of file.
  {
    io::H5Out out(d.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", {{4}}, 10);
    test::write_sequences(out, "tgt", {{5}}, 10);
    out.commit();
  }
  EXPECT_THROW(read_tokens(d.file("pairs.h5")), DataError);
  Pairs pr = read_token_pairs(d.file("pairs.h5"));
  EXPECT_EQ(pr.n(), 1);
}

TEST(TrainData, VocabularyChecks) {
  Vocab v;
  v.vocab_size = 300;
  EXPECT_NO_THROW(check_vocab_fits(v, "t.h5", 300, "the model's"));
  try {
    check_vocab_fits(v, "t.h5", 256, "the model's (gpt)");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()), "t.h5: vocabulary of 300 tokens exceeds the 256 of the model's (gpt)");
  }
  Vocab w = v;
  w.tokenizer_sha256 = "other";
  EXPECT_THROW(check_same_vocab(v, "a.h5", w, "b.h5", "validation data"), DataError);
}

TEST(TrainData, ReadsPatchesScalingBytes) {
  test::TempDir d;
  {
    io::H5Out out(d.file("p.h5"), "patches");
    std::vector<uint8_t> px(2 * 4 * 3);
    std::iota(px.begin(), px.end(), uint8_t{0});
    px[5] = 255;
    out.write("patches", Tensor::from(px, {2, 4, 3}));
    out.write("labels", Tensor::from(std::vector<int32_t>{1, 0}, {2}));
    out.set_attr("/", "num_classes", int64_t{3});
    out.commit();
  }
  Patches x = load_patches(d.file("p.h5"));
  EXPECT_EQ(x.n(), 2);
  EXPECT_EQ(x.num_patches(), 4);
  EXPECT_EQ(x.patch_dim(), 3);
  EXPECT_FLOAT_EQ(x.patches.data<float>()[5], 1.0f);
  EXPECT_FLOAT_EQ(x.patches.data<float>()[1], 1.0f / 255.0f);
  Patches s = x.subset({1});
  EXPECT_EQ(s.labels[0], 0);
  EXPECT_FLOAT_EQ(s.patches.data<float>()[0], 12.0f / 255.0f);
  {
    io::H5Out out(d.file("badlabel.h5"), "patches");
    out.write("patches", Tensor({2, 4, 3}));
    out.write("labels", Tensor::from(std::vector<int32_t>{1, 7}, {2}));
    out.set_attr("/", "num_classes", int64_t{3});
    out.commit();
  }
  EXPECT_THROW(load_patches(d.file("badlabel.h5")), DataError);
}

TEST(TrainOrder, DeterministicPermutations) {
  auto a = epoch_order(100, 7, 0, true), b = epoch_order(100, 7, 0, true), c = epoch_order(100, 7, 1, true);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, epoch_order(100, 8, 0, true));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(100);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_EQ(epoch_order(100, 7, 3, false), iota);
  // Pinned values: the order must not change between machines or releases
  // (a resumed run recomputes it).
  EXPECT_EQ(epoch_order(8, 1, 0, true), (std::vector<int64_t>{6, 0, 1, 4, 7, 3, 5, 2}));
  auto batches = plan_epoch(10, 4, 1, 0, false, nullptr);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2], (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(batches_per_epoch(10, 4), 3);
}

TEST(TrainOrder, BucketingGroupsSimilarLengths) {
  std::vector<int64_t> len(400);
  for (size_t i = 0; i < len.size(); ++i) len[i] = static_cast<int64_t>((i * 37) % 50);
  auto batches = plan_epoch(400, 8, 3, 0, true, &len);
  std::set<int64_t> seen;
  int64_t spread = 0;
  for (const auto& b : batches) {
    int64_t lo = 1000, hi = -1;
    for (int64_t i : b) {
      seen.insert(i);
      lo = std::min(lo, len[i]);
      hi = std::max(hi, len[i]);
    }
    spread += hi - lo;
  }
  EXPECT_EQ(seen.size(), 400u);
  EXPECT_LT(spread / static_cast<int64_t>(batches.size()), 5);  // random batches would spread ~40
  EXPECT_EQ(batches, plan_epoch(400, 8, 3, 0, true, &len));
}

TEST(TrainExamples, LmStreamWindows) {
  Sequences s = counting({20, 21});
  std::vector<int32_t> all(41);
  std::iota(all.begin(), all.end(), 0);
  LmStream fixed(s, 8, false);
  EXPECT_EQ(fixed.size(), 5);  // (41 - 1) / 8
  Batch b = fixed.batch({0, 4});
  EXPECT_EQ(b.B, 2);
  EXPECT_EQ(b.T, 8);
  EXPECT_EQ(b.inp[0], 0);
  EXPECT_EQ(b.tgt[0], 1);
  EXPECT_EQ(b.inp[8], 32);
  EXPECT_EQ(b.tgt[15], 40);
  LmStream shifting(s, 8, true);
  EXPECT_EQ(shifting.size(), 4);  // keeps room for a shift of up to 7
  shifting.set_epoch(5, 0);
  EXPECT_EQ(shifting.batch({0}).inp[0], 0);
  bool moved = false;
  for (int e = 1; e < 6; ++e) {
    shifting.set_epoch(5, e);
    Batch x = shifting.batch({3});
    EXPECT_EQ(x.tgt[7], x.inp[7] + 1);
    EXPECT_LE(x.tgt[7], 40);
    moved |= x.inp[0] != 24;
  }
  EXPECT_TRUE(moved);
  // Overlapping windows: every position (nanoGPT-style) and a stride of 3 with shifts.
  LmStream every(s, 8, false, 1);
  EXPECT_EQ(every.size(), 33);  // starts 0..32, the last target is token 40
  Batch last = every.batch({32, 5});
  EXPECT_EQ(last.inp[0], 32);
  EXPECT_EQ(last.tgt[7], 40);
  EXPECT_EQ(last.inp[8], 5);
  EXPECT_EQ(last.tgt[8], 6);
  LmStream strided(s, 8, true, 3);
  EXPECT_EQ(strided.size(), 11);  // (41 - 1 - 2 - 8) / 3 + 1: room for a shift of up to 2
  for (int e = 0; e < 8; ++e) {
    strided.set_epoch(9, e);
    Batch x = strided.batch({0, 10});
    EXPECT_LE(x.inp[0], 2);
    EXPECT_EQ(x.inp[8], x.inp[0] + 30);
    EXPECT_LE(x.tgt[15], 40);
  }
  EXPECT_THROW(LmStream(s, 8, false, 9), qkv::UsageError);
  Sequences tiny = s.subset({});
  tiny.push(all.data(), 4);
  EXPECT_THROW(LmStream(tiny, 8, false), DataError);
}

TEST(TrainExamples, LmSequencesPadAndIgnore) {
  Sequences s;
  s.vocab.vocab_size = 100;
  std::vector<int32_t> a{1, 10, 11, 2}, b{1, 12, 13, 14, 15, 16, 2};
  s.push(a.data(), 4);
  s.push(b.data(), 7);
  LmSequences ex(s, 5);
  Batch x = ex.batch({0, 1});
  EXPECT_EQ(x.T, 5);
  EXPECT_EQ((std::vector<int32_t>(x.inp.begin(), x.inp.begin() + 5)), (std::vector<int32_t>{1, 10, 11, 0, 0}));
  EXPECT_EQ((std::vector<int32_t>(x.tgt.begin(), x.tgt.begin() + 5)),
            (std::vector<int32_t>{10, 11, 2, nn::kIgnoreIndex, nn::kIgnoreIndex}));
  EXPECT_EQ((std::vector<int32_t>(x.tgt.begin() + 5, x.tgt.end())), (std::vector<int32_t>{12, 13, 14, 15, 16}));
}

TEST(TrainExamples, PairsTeacherForcing) {
  Pairs p;
  p.src.vocab.vocab_size = p.tgt.vocab.vocab_size = 50;
  std::vector<int32_t> s0{7, 8, 9}, t0{1, 20, 21, 2}, s1{7}, t1{22};
  p.src.push(s0.data(), 3);
  p.tgt.push(t0.data(), 4);  // already has bos/eos: not doubled
  p.src.push(s1.data(), 1);
  p.tgt.push(t1.data(), 1);
  PairExamples ex(p, 0, 0);
  EXPECT_EQ(ex.reference(0), (std::vector<int32_t>{20, 21}));
  Batch b = ex.batch({0, 1});
  EXPECT_EQ(b.S, 3);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.src, (std::vector<int32_t>{7, 8, 9, 7, 0, 0}));
  EXPECT_EQ(b.tgt_in, (std::vector<int32_t>{1, 20, 21, 1, 22, 0}));
  EXPECT_EQ(b.tgt_out, (std::vector<int32_t>{20, 21, 2, 22, 2, 0}));
}

// docs/FORMATS.md, "How qkv-train makes examples": with the default stride
// (the context T) window k is tokens [kT, kT + T] of the stream, so window
// k's last target is window k+1's first input; the tail that fills no window is unused.
TEST(TrainExamples, LmStreamDefaultWindowsShareOneToken) {
  Sequences s = counting({27});
  LmStream ex(s, 4, false);
  ASSERT_EQ(ex.size(), 6);  // (27 - 1 - 4) / 4 + 1: tokens 25 and 26 fill no window
  for (int32_t k = 0; k < ex.size(); ++k) {
    Batch b = ex.batch({k});
    EXPECT_EQ(b.inp, (std::vector<int32_t>{4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3}));
    EXPECT_EQ(b.tgt, (std::vector<int32_t>{4 * k + 1, 4 * k + 2, 4 * k + 3, 4 * k + 4}));
    if (k + 1 < ex.size()) EXPECT_EQ(b.tgt.back(), ex.batch({k + 1}).inp.front());
  }
}

// tgt_in = bos + y, tgt_out = y + eos, where y is the stored target without a
// leading bos and a trailing eos; both cut to --max-tgt-len; pad after.
TEST(TrainExamples, Seq2seqTargetsAsDocumented) {
  Pairs p;
  p.src.vocab.vocab_size = p.tgt.vocab.vocab_size = 50;
  std::vector<int32_t> s{7, 8, 9, 10}, only_bos{1, 20, 21}, only_eos{22, 23, 2}, bare{24, 25, 26};
  for (const auto* t : {&only_bos, &only_eos, &bare}) {
    p.src.push(s.data(), 4);
    p.tgt.push(t->data(), static_cast<int64_t>(t->size()));
  }
  PairExamples full(p, 0, 0);
  Batch b = full.batch({0, 1, 2});
  EXPECT_EQ(b.T, 4);
  EXPECT_EQ(b.tgt_in, (std::vector<int32_t>{1, 20, 21, 0, 1, 22, 23, 0, 1, 24, 25, 26}));
  EXPECT_EQ(b.tgt_out, (std::vector<int32_t>{20, 21, 2, 0, 22, 23, 2, 0, 24, 25, 26, 2}));
  // --max-src-len 2 --max-tgt-len 3: the target loses its end (and eos) first.
  PairExamples cut(p, 2, 3);
  Batch c = cut.batch({2});
  EXPECT_EQ(c.src, (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(c.tgt_in, (std::vector<int32_t>{1, 24, 25}));
  EXPECT_EQ(c.tgt_out, (std::vector<int32_t>{24, 25, 26}));
}

TEST(G2pPrepare, ParsesCmudictAndSplitsByWord) {
  std::string text =
      "MNCL\n"
      "(\"a\" dt (((ax) 0)))\n"
      "(\"a\" n (((ey) 1)))\n"
      "(\"aardvark\" nil (((aa r d) 1) ((v aa r k) 1)))\n"
      "(\"lead\" v_p (((l eh d) 1)))\n";
  auto e = parse_cmudict(text, "dict");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[2].word, "aardvark");
  EXPECT_EQ(e[2].phones, (std::vector<std::string>{"aa", "r", "d", "v", "aa", "r", "k"}));
  EXPECT_EQ(e[1].phones, (std::vector<std::string>{"ey"}));
  EXPECT_THROW(parse_cmudict("(\"x\" nil (((a b) 1))\n", "dict"), DataError);
  EXPECT_THROW(parse_cmudict("garbage\n", "dict"), DataError);
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);

  test::TempDir d;
  auto st = write_g2p_split(e, d.path(), 500);
  EXPECT_EQ(st.train_lines + st.val_lines, 4);
  std::string train = test::read_file(d.file("train.tsv")), val = test::read_file(d.file("val.tsv"));
  // Both pronunciations of "a" on the same side.
  const std::string& side = g2p_is_val("a", 500) ? val : train;
  EXPECT_NE(side.find("a\tax\n"), std::string::npos);
  EXPECT_NE(side.find("a\tey\n"), std::string::npos);
  EXPECT_NE((train + val).find("aardvark\taa r d v aa r k\n"), std::string::npos);
}

TEST(G2pPrepare, RealDictionary) {
  const std::string dict = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";
  if (!test::exists(dict)) GTEST_SKIP() << dict << " absent (Debian package festlex-cmu)";
  test::TempDir d;
  auto r = test::run("qkv-train prepare-g2p " + dict + " -o " + d.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string val = test::read_file(d.file("val.tsv"));
  size_t lines = static_cast<size_t>(std::count(val.begin(), val.end(), '\n'));
  EXPECT_GT(lines, 9000u);
  EXPECT_LT(lines, 12000u);
  EXPECT_EQ(val.find('('), std::string::npos);
  EXPECT_EQ(val.find('1'), std::string::npos);  // stress dropped
}
