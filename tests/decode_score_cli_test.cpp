// `qkv-decode score` as a user runs it: sacreBLEU's lines, several and
// tab-separated references, --lowercase, --tokenize none, --json, stdin, and
// bad input failing with one clear line and exit 1 or 2, nothing on stdout.
#include <gtest/gtest.h>

#include <algorithm>

#include "support/test_support.h"

using qkv::test::run;
using qkv::test::TempDir;
using qkv::test::write_file;

namespace {

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class DecodeScoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // sacreBLEU's README example (test/test_bleu.py), without a final newline on one file.
    write_file(hyps(), "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
    write_file(ref1(), "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n");
    write_file(ref2(), "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.");
  }
  std::string hyps() const { return dir.file("hyps.txt"); }
  std::string ref1() const { return dir.file("ref1.txt"); }
  std::string ref2() const { return dir.file("ref2.txt"); }
  void expect_fails(const std::string& args, int code, const std::string& needle) {
    auto r = run("qkv-decode score " + args);
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << "stderr: " << r.err;
    EXPECT_EQ(r.out, "") << args;
  }
  TempDir dir;
};

}  // namespace

TEST_F(DecodeScoreCli, SacrebleuLines) {
  auto r = run("qkv-decode score -r " + ref1() + " -r " + ref2() + " " + hyps());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // BLEU and chrF2 as sacreBLEU 2.6.0 prints them for these files (Score.format, width 2).
  EXPECT_EQ(r.out,
            "BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/45.5/37.5 "
            "(BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n"
            "chrF2|nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.73\n"
            "WER|nrefs:2|case:mixed|tok:13a = 33.33 (edits = 6 ref_tokens = 18)\n"
            "SER|nrefs:2|case:mixed|tok:13a = 66.67 (wrong = 2 lines = 3)\n");
  auto none = run("qkv-decode score --tokenize none -m bleu -r " + ref1() + " -r " + ref2() + " " + hyps());
  EXPECT_NE(none.out.find("tok:none|smooth:exp|version:2.6.0 = 49.19 "), std::string::npos) << none.out;
}

TEST_F(DecodeScoreCli, TabReferencesStdinLowercaseJson) {
  // The G2P layout: one line per word, its pronunciations separated by tabs.
  write_file(dir.file("phones.tsv"), "hh ah l ow\nt ah m aa t ow\tt ah m ey t ow\nk ae t s\tk ae\n");
  write_file(dir.file("g2p.txt"), "HH AH L OW\nt ah m ey t ow\nk ae t\n");
  auto r = run("qkv-decode score --tab-refs --tokenize none --lowercase -m ser,wer --json -r " +
               dir.file("phones.tsv") + " - < " + dir.file("g2p.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"ser\": {\"score\": 33.33333333, \"signature\": \"nrefs:var|case:lc|tok:none\", \"wrong\": 1, "
            "\"lines\": 3}, \"wer\": {\"score\": 7.142857143, \"signature\": \"nrefs:var|case:lc|tok:none\", "
            "\"edits\": 1, \"ref_tokens\": 14}}\n");
  auto mixed = run("qkv-decode score --tab-refs -m ser -r " + dir.file("phones.tsv") + " " + dir.file("g2p.txt"));
  EXPECT_NE(mixed.out.find("= 66.67 (wrong = 2 lines = 3)"), std::string::npos) << mixed.out;
}

TEST_F(DecodeScoreCli, BadInput) {
  write_file(dir.file("two.txt"), "a\nb\n");
  write_file(dir.file("bad.txt"), "fine\nnot \xff utf-8\nfine\n");
  write_file(dir.file("empty.txt"), "");
  expect_fails("-r " + ref1() + " " + dir.file("two.txt"), 1, "two.txt: 2 lines, but " + ref1() + " has 3");
  expect_fails("-r " + ref1() + " -r " + dir.file("two.txt") + " " + hyps(), 1, "two.txt: 2 lines, but");
  expect_fails("-r " + ref1() + " " + dir.file("bad.txt"), 1, "bad.txt: line 2: not valid UTF-8 (byte 5)");
  expect_fails("-r " + dir.file("empty.txt") + " " + dir.file("empty.txt"), 1, "empty.txt: no lines to score");
  expect_fails("-r " + ref1() + " " + dir.file("missing.txt"), 1, "missing.txt");
  expect_fails("-r " + ref1() + " -m bleu,ter " + hyps(), 2, "unknown metric 'ter'");
  expect_fails("-r " + ref1() + " --tokenize intl " + hyps(), 2, "--tokenize");
  expect_fails(hyps(), 2, "--ref");
}
