// Lossless round trips through the real tool: decode(encode(x)) == x byte for
// byte with byte-level BPE on any input, and for char/word models on text
// their vocabulary covers.
#include <gtest/gtest.h>

#include <random>

#include "support/test_support.h"

using qkv::test::run;
using qkv::test::TempDir;
using qkv::test::read_file;
using qkv::test::write_file;

namespace {

const char* kCorpus =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\r\n"
    "Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87 \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 emoji\n"
    "You are all resolved rather to die than to famish?\n";

class TokenizeRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string corpus;
    for (int i = 0; i < 20; ++i) corpus += kCorpus;
    write_file(dir.file("corpus.txt"), corpus);
    auto r = run("qkv-tokenize learn --vocab-size 400 " + dir.file("corpus.txt") + " -o " + dir.file("tok.h5"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // encode | decode through a pipe, and through files; both must give input back.
  void expect_round_trip(const std::string& input, const std::string& extra = "") {
    write_file(dir.file("in.txt"), input);
    std::string tok = dir.file("tok.h5");
    auto r = run("qkv-tokenize encode " + extra + " -t " + tok + " < " + dir.file("in.txt") +
                 " | qkv-tokenize decode -t " + tok + " > " + dir.file("out.txt"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(read_file(dir.file("out.txt")), input) << "pipe round trip differs";
    r = run("qkv-tokenize encode " + extra + " -t " + tok + " " + dir.file("in.txt") + " -o " + dir.file("t.h5") +
            " && qkv-tokenize decode -t " + tok + " " + dir.file("t.h5") + " -o " + dir.file("out2.txt"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(read_file(dir.file("out2.txt")), input) << "file round trip differs";
  }
  TempDir dir;
};

}  // namespace

TEST_F(TokenizeRoundTrip, TrainingText) { expect_round_trip(kCorpus); }

TEST_F(TokenizeRoundTrip, RandomBytes) {
  std::mt19937 rng(11);
  std::string s;
  for (int i = 0; i < 200000; ++i) s.push_back(static_cast<char>(rng() % 256));
  expect_round_trip(s);
}

TEST_F(TokenizeRoundTrip, InvalidUtf8) {
  expect_round_trip("\xC3\x28 \xA0\xA1 \xE2\x28\xA1 \xF0\x28\x8C\xBC \xFF\xFE\xC0\xAF \xED\xA0\x80 trunc\xE6\x97\n\xF0\x9F\x98");
}

TEST_F(TokenizeRoundTrip, CjkAndEmoji) {
  expect_round_trip("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\xE7\xAB\xA0\n"
                    "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\n"
                    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\n");
}

TEST_F(TokenizeRoundTrip, EmptyLinesCrlfAndNoFinalNewline) {
  expect_round_trip("");
  expect_round_trip("\n");
  expect_round_trip("\n\n\n");
  expect_round_trip("a\r\nb\r\n\r\n");
  expect_round_trip("no newline at the end");
  expect_round_trip("  leading and trailing spaces  \n\t tabs\t\n");
}

TEST_F(TokenizeRoundTrip, OneMegabyteLine) {
  std::mt19937 rng(5);
  std::string s;
  const char* words[] = {"speak", " ", "citizen", ", ", "\xE6\x97\xA5", "famish", "\xF0\x9F\x98\x80", "  "};
  while (s.size() < (1u << 20)) s += words[rng() % 8];
  s += "\n";
  expect_round_trip(s);
}

TEST_F(TokenizeRoundTrip, OneMegabyteLineWithoutPretokenizer) {
  auto r = run("qkv-tokenize learn --pretokenize none --vocab-size 300 " + dir.file("corpus.txt") + " -o " +
               dir.file("tok.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string s;
  while (s.size() < (1u << 20)) s += "Speak, speak. All: ";
  expect_round_trip(s + "\n");
}

TEST_F(TokenizeRoundTrip, DocumentMode) {
  expect_round_trip("line one\nline two\n\nno final newline", "--document");
}

TEST_F(TokenizeRoundTrip, BosEosAreDroppedOnDecode) { expect_round_trip(kCorpus, "--bos --eos"); }

TEST_F(TokenizeRoundTrip, UserSpecials) {
  auto r = run("qkv-tokenize learn --vocab-size 300 --special '<sep>' " + dir.file("corpus.txt") + " -o " +
               dir.file("tok.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_round_trip("a<sep>b <sep> <se <pad> <unk>\n");
  r = run("printf 'x<sep>y\\n' | qkv-tokenize encode --pieces -t " + dir.file("tok.h5"));
  EXPECT_EQ(r.out, "x <sep> y\n");
}

TEST_F(TokenizeRoundTrip, CharModelOnCoveredText) {
  write_file(dir.file("words.txt"), "HELLO\nWORLD\nCAF\xC3\x89\n");
  auto r = run("qkv-tokenize learn --model char " + dir.file("words.txt") + " -o " + dir.file("tok.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_round_trip("HELLO\nLOW\nOLD\n\xC3\x89\xC3\x89\n\nCRWD\n");
  // Uncovered characters become <unk>.
  r = run("printf 'HQZ\\n' | qkv-tokenize encode --pieces -t " + dir.file("tok.h5"));
  EXPECT_EQ(r.out, "H <unk> <unk>\n");
}

// A char LM reads whole documents: learn --document puts '\n' in the vocabulary,
// so encode --document | decode gives the text back; without it, encode says
// how many newlines became <unk> (and the round trip is lossy).
TEST_F(TokenizeRoundTrip, CharModelOnDocuments) {
  const std::string text = "First Citizen:\nSpeak, speak.\n\nAll:\nResolved.\n";
  write_file(dir.file("doc.txt"), text);
  auto r = run("qkv-tokenize learn --model char --document " + dir.file("doc.txt") + " -o " + dir.file("tok.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("qkv-tokenize vocab -t " + dir.file("tok.h5"));
  EXPECT_NE(r.out.find("\\n\tchar\t5"), std::string::npos) << r.out;  // 5 newlines counted
  expect_round_trip(text, "--document");
  EXPECT_EQ(run("qkv-tokenize encode --document -t " + dir.file("tok.h5") + " " + dir.file("doc.txt") + " -o " +
                dir.file("d.h5")).err.find("<unk>"),
            std::string::npos);

  r = run("qkv-tokenize learn --model char " + dir.file("doc.txt") + " -o " + dir.file("lines.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("qkv-tokenize vocab -t " + dir.file("lines.h5"));
  EXPECT_EQ(r.out.find("\\n\t"), std::string::npos) << "line-based vocabularies stay without newline: " << r.out;
  r = run("qkv-tokenize encode --document -t " + dir.file("lines.h5") + " " + dir.file("doc.txt") + " -o " +
          dir.file("d.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("doc.txt: 5 newlines become <unk>"), std::string::npos) << r.err;
}

TEST_F(TokenizeRoundTrip, WordModelOnCoveredText) {
  write_file(dir.file("phones.txt"), "HH AH0 L OW1\nW ER1 L D\n");
  auto r = run("qkv-tokenize learn --model word " + dir.file("phones.txt") + " -o " + dir.file("tok.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_round_trip("HH AH0 L OW1\nL OW1 D\n\nW ER1\n");
  r = run("printf 'HH  XX\\n' | qkv-tokenize encode --pieces -t " + dir.file("tok.h5"));
  EXPECT_EQ(r.out, "HH <unk>\n");
}
