// Mutation fuzzing through the release tools: byte flips, bit flips,
// truncations and splices of real qkv files (tokenizers, tokens, token pairs,
// patches, gpt/vit/seq2seq checkpoints made here by the tools themselves),
// each mutant read by the tools that take that kind of file. Every run must
// end with exit 0, 1 or 2, one error line, within the time limit: a signal
// death, a hang or a multi-line error (an HDF5 error stack) fails the test,
// and the mutant is saved for replay with the command that failed.
//
// Deterministic: seed QKV_FUZZ_SEED (default 1), QKV_FUZZ_MUTANTS mutants
// (default 240, spread over the kinds). `make fuzz-mutants` runs thousands with a
// fresh seed. Findings go to QKV_FUZZ_FINDINGS (default /tmp/qkv-fuzz-findings).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "support/test_support.h"

using namespace qkv;

namespace {

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Kind {
  std::string file;               // in the corpus folder
  std::vector<std::string> cmds;  // {M}: the mutant, {O}: an output path
};

// Small real files, made by the tools (test::make_real_files).
class FuzzMutants : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const std::string d = dir_->path() + "/";
    std::string failed = test::make_real_files(dir_->path());
    ASSERT_EQ(failed, "");
    const std::string t = " --layers 1 --heads 2 --d-model 16 --d-ff 16 --steps 1 -b 4 ";
    kinds_ = {
        {"tok.h5", {"qkv-tokenize encode -t {M} c.txt -o {O}", "qkv-tokenize decode -t {M} tokens.h5",
                    "qkv-tokenize vocab -t {M}"}},
        {"chars.h5", {"qkv-tokenize encode -t {M} c.txt -o {O}"}},
        {"tokens.h5", {"qkv-tokenize decode -t tok.h5 {M}", "qkv-train lm {M} --context 16" + t + "-o {O}"}},
        {"pairs.h5", {"qkv-train seq2seq {M}" + t + "-o {O}", "qkv-train rnn {M} --steps 1 -b 4 --hidden 8 -o {O}"}},
        {"patches.h5", {"qkv-train vit {M}" + t + "-o {O}", "qkv-patchify unpatchify {M} -o {O}.d"}},
        {"gpt.h5", {"qkv-model info {M}", "qkv-train lm tokens.h5 --init {M} --eval-only"}},
        {"vit.h5", {"qkv-model info {M}", "qkv-train vit patches.h5 --init {M} --eval-only"}},
        {"s2s.h5", {"qkv-model info {M}", "qkv-train seq2seq pairs.h5 --init {M} --eval-only"}},
    };
    for (auto& k : kinds_) {
      k.cmds.push_back("qkv-inspect {M}");
      originals_[k.file] = test::read_file(d + k.file);
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // One mutant of file: a few random bytes, a few flipped bits, a truncation,
  // or a run of bytes from another corpus file spliced in.
  static std::string mutate(const std::string& file, std::mt19937_64& rng) {
    std::string b = originals_.at(file);
    auto pick = [&](uint64_t n) { return static_cast<size_t>(rng() % n); };
    switch (rng() % 4) {
      case 0: {
        const int counts[] = {1, 1, 2, 4, 8, 32};
        for (int i = counts[pick(6)]; i > 0; --i) b[pick(b.size())] = static_cast<char>(rng());
        break;
      }
      case 1:
        for (int i = 1 + static_cast<int>(pick(4)); i > 0; --i) b[pick(b.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 2: b.resize(pick(b.size())); break;
      default: {
        auto it = originals_.begin();
        std::advance(it, static_cast<long>(pick(originals_.size())));
        const std::string& o = it->second;
        size_t at = pick(b.size()), from = pick(o.size()), n = 1 + pick(512);
        n = std::min({n, o.size() - from, b.size() - at});
        b.replace(at, n, o, from, n);
      }
    }
    return b;
  }

  static test::TempDir* dir_;
  static std::vector<Kind> kinds_;
  static std::map<std::string, std::string> originals_;
};

test::TempDir* FuzzMutants::dir_ = nullptr;
std::vector<Kind> FuzzMutants::kinds_;
std::map<std::string, std::string> FuzzMutants::originals_;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

TEST_F(FuzzMutants, NoCrashNoHangOneErrorLine) {
  ASSERT_FALSE(kinds_.empty()) << "no corpus";
  const uint64_t seed = env_or("QKV_FUZZ_SEED", 1), mutants = env_or("QKV_FUZZ_MUTANTS", 240);
  const uint64_t limit = env_or("QKV_FUZZ_TIMEOUT", 60);  // seconds a run may take
  const char* f = std::getenv("QKV_FUZZ_FINDINGS");
  const std::string findings = f && *f ? f : "/tmp/qkv-fuzz-findings";
  std::mt19937_64 rng(seed);
  const std::string d = dir_->path() + "/", m = d + "mutant.h5", o = d + "out.h5";
  std::map<std::string, int> outcomes;  // "exit N" -> count
  int bad = 0;
  for (uint64_t i = 0; i < mutants; ++i) {
    const Kind& k = kinds_[i % kinds_.size()];
    std::string bytes = mutate(k.file, rng);
    const std::string& cmd = k.cmds[rng() % k.cmds.size()];
    test::write_file(m, bytes);
    auto r = test::run("cd " + d + " && exec timeout -s KILL " + std::to_string(limit) + " " +
                       replace_all(replace_all(cmd, "{M}", m), "{O}", o) + " >/dev/null");
    test::run("rm -rf " + o + " " + o + ".d");
    const int lines = static_cast<int>(std::count(r.err.begin(), r.err.end(), '\n'));
    const bool ok = (r.exit_code == 0 || r.exit_code == 1 || r.exit_code == 2) && (r.exit_code == 0 || lines == 1);
    outcomes[r.exit_code == 137 ? "timeout" : "exit " + std::to_string(r.exit_code)]++;
    if (ok) continue;
    ++bad;
    // Saved for replay: the mutant and the command that failed on it.
    mkdir(findings.c_str(), 0755);
    const std::string name = findings + "/" + k.file + "-seed" + std::to_string(seed) + "-" + std::to_string(i);
    test::write_file(name, bytes);
    test::write_file(name + ".cmd", "cd " + d + "  # the corpus folder (rebuilt by the test)\n" +
                                        replace_all(replace_all(cmd, "{M}", name), "{O}", "/tmp/out.h5") + "\n");
    ADD_FAILURE() << "mutant " << i << " of " << k.file << ": exit " << r.exit_code
                  << (r.exit_code == 137 ? " (killed after " + std::to_string(limit) + " s: a hang)" : "") << ", "
                  << lines << " stderr lines\n  " << cmd << "\n  saved: " << name << "\n" << r.err.substr(0, 1000);
  }
  std::string summary;
  for (auto& [what, n] : outcomes) summary += " " + what + ": " + std::to_string(n) + ";";
  std::printf("%llu mutants (seed %llu):%s bad: %d\n", static_cast<unsigned long long>(mutants),
              static_cast<unsigned long long>(seed), summary.c_str(), bad);
  EXPECT_EQ(bad, 0);
}
