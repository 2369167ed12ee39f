// Issue 17: a joint source+target vocabulary. One tokenizer learned on both
// sides' text encodes a TSV of pairs; qkv-train seq2seq --share-embeddings 1
// --tie-embeddings 1 trains one embedding for source, target and output.
// Pairs whose sides came from different tokenizers are refused even when the
// vocabulary sizes happen to agree (the ids would mean different pieces).
#include <gtest/gtest.h>

#include <fstream>

#include "io/h5.h"
#include "support/test_support.h"
#include "train_fixtures.h"

using namespace qkv;
using test::run;

TEST(TrainSharedVocab, JointTokenizerSharesOneEmbedding) {
  test::TempDir d;
  test::write_file(d.file("en.txt"), "a man rides a horse\ntwo dogs play in the snow\na woman sings\n");
  test::write_file(d.file("de.txt"), "ein mann reitet ein pferd\nzwei hunde spielen im schnee\neine frau singt\n");
  std::ofstream(d.file("pairs.tsv")) << "a man rides a horse\tein mann reitet ein pferd\n"
                                        "two dogs play in the snow\tzwei hunde spielen im schnee\n"
                                        "a woman sings\teine frau singt\n";
  ASSERT_EQ(run("qkv-tokenize learn --vocab-size 300 " + d.file("en.txt") + " " + d.file("de.txt") + " -o " +
                d.file("joint.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-tokenize encode --tsv -t " + d.file("joint.h5") + " --bos --eos " + d.file("pairs.tsv") +
                " -o " + d.file("pairs.h5")).exit_code, 0);
  auto r = run("qkv-train --threads 1 seq2seq " + d.file("pairs.h5") + " --share-embeddings 1 --tie-embeddings 1 "
               "--layers 1 --d-model 16 --heads 2 --d-ff 16 --steps 3 -o " + d.file("m.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In m(d.file("m.h5"));
  // one embedding table: the shared one, no separate source/target tables, no separate output weight
  size_t embeddings = 0;
  for (const std::string& n : m.list("params")) embeddings += n.find("embed") != std::string::npos;
  EXPECT_EQ(embeddings, 1u);
  EXPECT_EQ(m.attr_int("/", "src_vocab_size"), m.attr_int("/", "tgt_vocab_size"));
}

TEST(TrainSharedVocab, SidesFromDifferentTokenizersRefused) {
  test::TempDir d;
  {
    io::H5Out out(d.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", {{4, 5, 6}, {7, 8}}, 20, "aaaa1111");
    test::write_sequences(out, "tgt", {{5, 6}, {9, 4, 4}}, 20, "bbbb2222");  // same size, another tokenizer
    out.commit();
  }
  auto r = run("qkv-train seq2seq " + d.file("pairs.h5") + " --share-embeddings 1 --layers 1 --d-model 8 "
               "--heads 2 --d-ff 8 --steps 2 -o " + d.file("m.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(d.file("pairs.h5") + ": its source and target were encoded with different tokenizers "
                       "(sha256 aaaa1111 vs bbbb2222)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("learn a joint tokenizer"), std::string::npos);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(test::exists(d.file("m.h5")));
  // without sharing, the same file trains
  r = run("qkv-train seq2seq " + d.file("pairs.h5") + " --layers 1 --d-model 8 --heads 2 --d-ff 8 --steps 2 -o " +
          d.file("m.h5"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}
