// Outputs under hostile conditions, through the real tools: SIGKILL at random
// moments, a closed pipe on stdout, a full disk. The output path always holds
// the old complete file or the new complete one, and temporary files never
// pile up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>

#include "formats/tokens.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
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

// Runs cmd (writing out) once to the end, then 20 times SIGKILLed after a
// random delay in [lo_ms, hi_ms): after every kill, out holds a whole file
// (whole(out) is its size in the tool's own terms, the same every time) and at
// most the killed run's temporary lies beside it; a last run leaves none.
void kill_at_random_moments(const test::TempDir& dir, const std::string& cmd, const std::string& out, int lo_ms,
                            int hi_ms, const std::function<int64_t(const std::string&)>& whole) {
  auto first = test::run(cmd);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const int64_t size = whole(out);
  const std::string base = out.substr(out.rfind('/') + 1);
  std::mt19937 rng(11);
  int killed_mid_write = 0;
  for (int k = 0; k < 20; ++k) {
    const int ms = lo_ms + static_cast<int>(rng() % static_cast<unsigned>(hi_ms - lo_ms));
    auto r = test::run(cmd + " & pid=$!; sleep " + std::to_string(ms / 1000.0) +
                       "; kill -KILL $pid 2>/dev/null && echo killed; wait $pid 2>/dev/null; true");
    killed_mid_write += r.out.find("killed") != std::string::npos;
    // The path holds a whole file: the old one or the new one, never a part.
    EXPECT_EQ(whole(out), size) << cmd << ": after kill " << k;
    // At most the temporary of the run just killed: each run removes those of dead runs.
    EXPECT_LE(count(dir.entries(), base + ".tmp."), 1) << cmd << ": after kill " << k;
  }
  EXPECT_GE(killed_mid_write, 10) << cmd << ": too few kills landed while the tool ran";
  auto last = test::run(cmd);
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(count(dir.entries(), ".tmp."), 0);
}

TEST_F(KillSafety, SigkillAtRandomMomentsLeavesOldOrNewFileAndNoPileOfTemps) {
  kill_at_random_moments(dir, encode_cmd(dir.file("o.h5")), dir.file("o.h5"), 10, 160,
                         [](const std::string& p) { return formats::read_tokens(p).n(); });
}

// The same for qkv-patchify writing 64 MB of patches, and for qkv-train
// rewriting its checkpoint at every step (killed mid-save or between saves,
// the checkpoint loads and has every parameter).
TEST_F(KillSafety, SigkillDuringPatchifyAndCheckpointing) {
  std::string idx = std::string("\0\0\x08\x03", 4);
  const uint32_t dims[3] = {20000, 28, 28};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) idx += static_cast<char>((d >> s) & 0xff);
  std::mt19937 rng(5);
  for (size_t i = 0; i < size_t{20000} * 28 * 28; ++i) idx += static_cast<char>(rng() & 0xff);
  test::write_file(dir.file("img-idx3-ubyte"), idx);
  kill_at_random_moments(dir, "qkv-patchify -q --threads 1 " + dir.file("img-idx3-ubyte") + " --patch 4 -o " +
                                  dir.file("p.h5"),
                         dir.file("p.h5"), 50, 1200,
                         [](const std::string& p) { return io::H5In(p).shape("patches")[0]; });

  auto r = test::run("qkv-tokenize -q encode --document -t " + dir.file("tok.h5") + " " + dir.file("c.txt") +
                     " -o " + dir.file("doc.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  kill_at_random_moments(dir, "qkv-train -q --threads 1 --no-provenance lm " + dir.file("doc.h5") +
                                  " --context 16 --layers 1 --d-model 16 --heads 2 -b 8 --steps 400 --save-every 1 "
                                  "--best none -o " + dir.file("m.h5"),
                         dir.file("m.h5"), 50, 1500, [](const std::string& p) {
                           io::H5In in(p);
                           return nn::load_model(in)->params().size();
                         });
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
  // Under `make test-asan`, leak checks are off for this run: after the failed
  // H5Fclose libhdf5 keeps the file's 1 MB buffer, and freeing it through
  // H5_term_library at exit is what crashed (io/h5.cpp, silence_hdf5).
  auto r = test::run("ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" bash -c \"trap '' XFSZ; ulimit -f 512; " +
                     encode_cmd(dir.file("full.h5")) + "\"");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("full.h5"), std::string::npos) << r.err;
  EXPECT_EQ(count(dir.entries(), "full.h5"), 0);
}
