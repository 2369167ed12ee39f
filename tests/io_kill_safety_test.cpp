// Outputs under hostile conditions, through the real tools: SIGKILL at random
// moments, a closed pipe on stdout, a full disk. The output path always holds
// the old complete file or the new complete one, and temporary files never
// pile up.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "formats/tokens.h"
#include "io/h5.h"
#include "support/test_support.h"

using namespace qkv;

namespace {

int count(const std::vector<std::string>& names, const std::string& part) {
  return static_cast<int>(std::count_if(names.begin(), names.end(),
                                        [&](const std::string& n) { return n.find(part) != std::string::npos; }));
}

// A corpus that takes qkv-tokenize encode a few hundred milliseconds, and its tokenizer.
class KillSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    std::mt19937 rng(7);
    const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "while", "dogs", "ran", "far", "away"};
    while (text.size() < (12u << 20)) {
      for (int w = 0; w < 12; ++w) text += std::string(words[rng() % 11]) + (w == 11 ? "\n" : " ");
    }
    test::write_file(dir.file("c.txt"), text);
    auto r = test::run("qkv-tokenize learn --model word --vocab-size 40 " + dir.file("c.txt") + " -o " + dir.file("tok.h5"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string encode_cmd(const std::string& out) const {
    return "qkv-tokenize -q --threads 1 encode -t " + dir.file("tok.h5") + " " + dir.file("c.txt") + " -o " + out;
  }
  test::TempDir dir;
};

}  // namespace

TEST_F(KillSafety, SigkillAtRandomMomentsLeavesOldOrNewFileAndNoPileOfTemps) {
  const std::string out = dir.file("o.h5");
  auto first = test::run(encode_cmd(out));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const int64_t sequences = formats::read_tokens(out).n();
  std::mt19937 rng(11);
  int killed_mid_write = 0;
  for (int k = 0; k < 20; ++k) {
    int ms = 10 + static_cast<int>(rng() % 150);
    auto r = test::run(encode_cmd(out) + " & pid=$!; sleep " + std::to_string(ms / 1000.0) +
                       "; kill -KILL $pid 2>/dev/null && echo killed; wait $pid 2>/dev/null; true");
    killed_mid_write += r.out.find("killed") != std::string::npos;
    // The path holds a whole tokens file: the old one or the new one, never a part.
    EXPECT_EQ(formats::read_tokens(out).n(), sequences) << "after kill " << k;
    // At most the temporary of the run just killed: each run removes those of dead runs.
    EXPECT_LE(count(dir.entries(), "o.h5.tmp."), 1) << "after kill " << k;
  }
  EXPECT_GE(killed_mid_write, 10) << "too few kills landed while the tool ran";
  auto last = test::run(encode_cmd(out));
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(count(dir.entries(), ".tmp."), 0);
}

TEST_F(KillSafety, ClosedPipeOnStdoutLeavesNoTemporary) {
  // encode - builds its file in $TMPDIR and copies it out; `head` closes the pipe early.
  auto r = test::run("TMPDIR=" + dir.path() + " " + encode_cmd("-") + " | head -c 10 > /dev/null; echo status=${PIPESTATUS:-x}");
  EXPECT_EQ(count(dir.entries(), "qkv-stream.tmp"), 0) << r.err;
  auto direct = test::run("TMPDIR=" + dir.path() + " " + encode_cmd("-") + " | head -c 10 >/dev/null");
  EXPECT_EQ(count(dir.entries(), "qkv-stream.tmp"), 0) << direct.err;
}

TEST_F(KillSafety, FullDiskIsOneLineAndNoFile) {
  // A file size limit (SIGXFSZ ignored) makes writes fail as a full disk does.
  auto r = test::run("bash -c \"trap '' XFSZ; ulimit -f 512; " + encode_cmd(dir.file("full.h5")) + "\"");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("full.h5"), std::string::npos) << r.err;
  EXPECT_EQ(count(dir.entries(), "full.h5"), 0);
}
