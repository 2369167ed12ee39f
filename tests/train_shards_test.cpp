// Sharded preprocessing: qkv-tokenize encode --shard K/N writes the K-th of N
// contiguous line ranges, and qkv-train reads the N shards, in order, as the
// unsharded file (bitwise the same training); a missing or misplaced shard is
// one clear line.
#include <gtest/gtest.h>

#include <string>

#include "formats/shard.h"
#include "formats/tokens.h"
#include "io/h5.h"
#include "support/test_support.h"

namespace qkv {
namespace {

using test::run;

struct Corpus {
  test::TempDir d;
  Corpus() {
    std::string text, tsv;
    const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"};
    for (int i = 0; i < 47; ++i) {  // 47 lines: shards of 15, 16, 16 for N = 3
      std::string line;
      for (int k = 0; k <= i % 5; ++k) line += std::string(k ? " " : "") + words[(i * 7 + k * 3) % 10];
      text += line + (i % 9 == 4 ? "\n\n" : "\n");  // a few empty lines: sequences too
      tsv += line + "\t" + words[i % 10] + "\n";
    }
    test::write_file(d.file("corpus.txt"), text);
    test::write_file(d.file("pairs.tsv"), tsv);
    auto r = run("qkv-tokenize learn --model char " + d.file("corpus.txt") + " -o " + d.file("tok.h5"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  std::string encode(const std::string& extra, const std::string& out) {
    auto r = run("qkv-tokenize --no-provenance encode -t " + d.file("tok.h5") + " " + extra + " -o " + d.file(out));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d.file(out);
  }
  // Encodes `input` in n shards (flags before it, e.g. "--tsv"); returns their paths, space-separated.
  std::string shards(const std::string& flags, const std::string& input, int n, const std::string& prefix) {
    std::string paths;
    for (int k = 0; k < n; ++k)
      paths += " " + encode(flags + " --shard " + std::to_string(k) + "/" + std::to_string(n) + " " + d.file(input),
                            prefix + std::to_string(k) + ".h5");
    return paths;
  }
  // Trains on `a` and on `b`: true when both runs give the same checkpoint bytes.
  bool same_training(const std::string& task, const std::string& a, const std::string& b) {
    auto ra = train(task, a, "a.h5"), rb = train(task, b, "b.h5");
    EXPECT_EQ(ra.exit_code, 0) << ra.err;
    EXPECT_EQ(rb.exit_code, 0) << rb.err;
    return ra.exit_code == 0 && test::read_file(d.file("a.h5")) == test::read_file(d.file("b.h5"));
  }
  test::RunResult train(const std::string& task, const std::string& inputs, const std::string& out) {
    return run("qkv-train --no-provenance --threads 1 " + task + " " + inputs +
               " --steps 30 -b 4 --layers 1 --d-model 16 --heads 2 --dropout 0.1 --eval-every 10 --val-fraction 0.2 " +
               (task == "lm" ? "--context 8 " : "") + "-q -o " + d.file(out));
  }
};

TEST(TrainShards, ShardsAreContiguousLineRangesWhoseUnionIsTheWhole) {
  Corpus c;
  std::string whole = c.encode(c.d.file("corpus.txt"), "whole.h5");
  formats::Sequences all = formats::read_tokens(whole), joined;
  c.shards("", "corpus.txt", 3, "p");
  for (int k = 0; k < 3; ++k) {
    std::string part = c.d.file("p" + std::to_string(k) + ".h5");
    io::H5In in(part);
    auto s = formats::read_shard(in);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->index, k);
    EXPECT_EQ(s->count, 3);
    EXPECT_EQ(s->total, all.n());
    formats::Sequences p = formats::read_tokens(part);
    EXPECT_EQ(p.n(), s->end - s->begin);
    EXPECT_EQ(s->begin, joined.n());
    for (int64_t i = 0; i < p.n(); ++i) joined.push(p.seq(i), p.len(i));
  }
  EXPECT_EQ(joined.ids, all.ids);
  EXPECT_EQ(joined.offsets, all.offsets);
  io::H5In in(whole);
  EXPECT_FALSE(formats::read_shard(in).has_value());
}

TEST(TrainShards, UnionOfShardsTrainsBitwiseAsTheWholeFile) {
  Corpus c;
  std::string whole = c.encode(c.d.file("corpus.txt"), "whole.h5");
  std::string parts = c.shards("", "corpus.txt", 3, "p");
  EXPECT_TRUE(c.same_training("lm", whole, parts));
  // A list file names the same shards.
  test::write_file(c.d.file("shards.txt"), c.d.file("p0.h5") + "\n" + c.d.file("p1.h5") + "\n" + c.d.file("p2.h5") + "\n");
  EXPECT_TRUE(c.same_training("lm", whole, "@" + c.d.file("shards.txt")));
  // token_pairs (encode --tsv) shard the same way.
  EXPECT_TRUE(c.same_training("seq2seq", c.encode("--tsv " + c.d.file("pairs.tsv"), "wp.h5"),
                              c.shards("--tsv", "pairs.tsv", 2, "pp")));
}

// qkv-patchify --shard K/N: ranges of images, trained as the whole file.
TEST(TrainShards, PatchifyShardsTrainBitwiseAsTheWholeFile) {
  Corpus c;
  for (int cls = 0; cls < 2; ++cls) {  // an ImageFolder of 2 classes, 7 gray 8x8 PGM images each
    std::string dir = c.d.file("img/c" + std::to_string(cls));
    ASSERT_EQ(run("mkdir -p " + dir).exit_code, 0);
    for (int i = 0; i < 7; ++i) {
      std::string pgm = "P5\n8 8\n255\n";
      for (int p = 0; p < 64; ++p) pgm.push_back(static_cast<char>((p * (3 + i) + cls * 97) % 256));
      test::write_file(dir + "/" + std::to_string(i) + ".pgm", pgm);
    }
  }
  auto patchify = [&](const std::string& extra, const std::string& out) {
    auto r = run("qkv-patchify --no-provenance " + c.d.file("img") + " --patch 4 --dtype uint8 " + extra + " -o " +
                 c.d.file(out));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return c.d.file(out);
  };
  std::string whole = patchify("", "whole.h5"), parts;
  for (int k = 0; k < 3; ++k) parts += " " + patchify("--shard " + std::to_string(k) + "/3", "v" + std::to_string(k) + ".h5");
  io::H5In in(c.d.file("v1.h5"));
  auto s = formats::read_shard(in);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->begin, 4);  // 14 images: [0, 4), [4, 9), [9, 14)
  EXPECT_EQ(s->end, 9);
  EXPECT_TRUE(c.same_training("vit", whole, parts));
}

TEST(TrainShards, MissingOrMisplacedShardsAndBadSpecsAreOneLine) {
  Corpus c;
  c.shards("", "corpus.txt", 3, "p");
  std::string p0 = c.d.file("p0.h5"), p1 = c.d.file("p1.h5"), p2 = c.d.file("p2.h5");
  auto gap = c.train("lm", p0 + " " + p2, "m.h5");
  EXPECT_EQ(gap.exit_code, 1);
  EXPECT_EQ(gap.err, "qkv-train: error: " + p2 + ": is shard 2/3, but shard 1/3 should come after " + p0 + " (missing)\n");
  auto order = c.train("lm", p1 + " " + p0 + " " + p2, "m.h5");
  EXPECT_EQ(order.exit_code, 1);
  EXPECT_EQ(order.err, "qkv-train: error: " + p1 + ": is shard 1/3, but shard 0/3 should come first (missing)\n");
  auto tail = c.train("lm", p0 + " " + p1, "m.h5");
  EXPECT_EQ(tail.exit_code, 1);
  EXPECT_EQ(tail.err, "qkv-train: error: " + p1 + ": is shard 1/3, but shard 2/3 is missing after it\n");
  EXPECT_FALSE(test::exists(c.d.file("m.h5")));
  auto bad = run("qkv-tokenize encode -t " + c.d.file("tok.h5") + " --shard 3/2 " + c.d.file("corpus.txt") + " -o " +
                 c.d.file("x.h5"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "qkv-tokenize: error: --shard 3/2: K must be in 0..1\n");
  auto pipe = run("cat " + c.d.file("corpus.txt") + " | qkv-tokenize encode -t " + c.d.file("tok.h5") +
                  " --shard 0/2 -o " + c.d.file("x.h5"));
  EXPECT_EQ(pipe.exit_code, 2);
  EXPECT_NE(pipe.err.find("give files, not stdin"), std::string::npos) << pipe.err;
  EXPECT_FALSE(test::exists(c.d.file("x.h5")));
}

}  // namespace
}  // namespace qkv
