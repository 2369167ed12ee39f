// Mutation fuzzing through the release tools: byte flips, bit flips,
// truncations and splices of real qkv files (tokenizers, tokens, token pairs,
// patches, gpt/vit/seq2seq checkpoints made here by the tools themselves),
// each mutant read by the tools that take that kind of file. Every run must
// end with exit 0, 1 or 2, one error line (beside progress lines), within the time limit: a signal
// death, a hang or a multi-line error (an HDF5 error stack) fails the test,
// and the mutant is saved for replay with the command that failed.
//
// Deterministic: seed QKV_FUZZ_SEED (default 1), QKV_FUZZ_MUTANTS mutants
// (default 240, the same number for each of the 5 file kinds); mutant i is made by its own
// generator, seeded from (seed, i), so QKV_FUZZ_JOBS workers (default 1) give
// the same mutants and outcomes as one. `make fuzz-mutants` runs 5,000 per file kind
// with a fresh seed. Findings go to QKV_FUZZ_FINDINGS (default
// /tmp/qkv-fuzz-findings).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
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
  std::string format;             // its qkv_format: the file kind mutants are counted by
  int share = 1;                  // its share of that kind's mutants
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
        {"tok.h5", "tokenizer", 3, {"qkv-tokenize encode -t {M} c.txt -o {O}", "qkv-tokenize decode -t {M} tokens.h5",
                    "qkv-tokenize vocab -t {M}"}},
        {"chars.h5", "tokenizer", 3, {"qkv-tokenize encode -t {M} c.txt -o {O}"}},
        {"tokens.h5", "tokens", 6, {"qkv-tokenize decode -t tok.h5 {M}", "qkv-train lm {M} --context 16" + t + "-o {O}"}},
        {"pairs.h5", "token_pairs", 6, {"qkv-train seq2seq {M}" + t + "-o {O}", "qkv-train rnn {M} --steps 1 -b 4 --hidden 8 -o {O}"}},
        {"patches.h5", "patches", 6, {"qkv-train vit {M}" + t + "-o {O}", "qkv-patchify unpatchify {M} -o {O}.d"}},
        {"gpt.h5", "checkpoint", 2, {"qkv-model info {M}", "qkv-train lm tokens.h5 --init {M} --eval-only"}},
        {"vit.h5", "checkpoint", 2, {"qkv-model info {M}", "qkv-train vit patches.h5 --init {M} --eval-only"}},
        {"s2s.h5", "checkpoint", 2, {"qkv-model info {M}", "qkv-train seq2seq pairs.h5 --init {M} --eval-only"}},
    };
    // Each file kind (tokenizer, tokens, token pairs, patches, checkpoint) gets
    // the same number of mutants: 6 of every 30, shared among its files.
    for (size_t i = 0; i < kinds_.size(); ++i)
      for (int n = 0; n < kinds_[i].share; ++n) schedule_.push_back(i);
    std::mt19937_64 shuffle(7);
    std::shuffle(schedule_.begin(), schedule_.end(), shuffle);
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
  static std::vector<size_t> schedule_;  // mutant i is of kind schedule_[i % size]
  static std::map<std::string, std::string> originals_;
};

test::TempDir* FuzzMutants::dir_ = nullptr;
std::vector<Kind> FuzzMutants::kinds_;
std::vector<size_t> FuzzMutants::schedule_;
std::map<std::string, std::string> FuzzMutants::originals_;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// Lines of stderr that are not the tools' progress ("qkv-train: info: ..."):
// a run that fails after starting its work has printed what it started. Under
// `make test-asan` (allocator_may_return_null=1) ASan's own notice of a request
// it refused (libhdf5's, sized by a corrupt file) is not the tool's either.
int error_lines(const std::string& err) {
  int n = 0;
  for (size_t at = 0; at < err.size();) {
    size_t end = err.find('\n', at);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(at, end - at);
    const bool progress = line.rfind("qkv-", 0) == 0 && line.find(": info: ") != std::string::npos;
    const bool asan_note = line.rfind("==", 0) == 0 && line.find("WARNING: AddressSanitizer failed to allocate") != std::string::npos;
    if (!progress && !asan_note) ++n;
    at = end + 1;
  }
  return n;
}

}  // namespace

// What one mutant did: the command's exit and stderr.
struct Outcome {
  std::string file, format, cmd, bytes, err;
  int exit_code = 0;
};

TEST_F(FuzzMutants, NoCrashNoHangOneErrorLine) {
  ASSERT_FALSE(kinds_.empty()) << "no corpus";
  const uint64_t seed = env_or("QKV_FUZZ_SEED", 1), mutants = env_or("QKV_FUZZ_MUTANTS", 240);
  const uint64_t limit = env_or("QKV_FUZZ_TIMEOUT", 60);  // seconds a run may take
  const uint64_t jobs = std::max<uint64_t>(1, env_or("QKV_FUZZ_JOBS", 1));
  const char* f = std::getenv("QKV_FUZZ_FINDINGS");
  const std::string findings = f && *f ? f : "/tmp/qkv-fuzz-findings";
  const std::string d = dir_->path() + "/";
  std::vector<Outcome> outcomes(mutants);
  auto worker = [&](uint64_t w) {  // mutants w, w + jobs, ...; its own mutant and output paths
    const std::string m = d + "mutant" + std::to_string(w) + ".h5", o = d + "out" + std::to_string(w) + ".h5";
    for (uint64_t i = w; i < mutants; i += jobs) {
      std::seed_seq ss{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(i),
                       static_cast<uint32_t>(i >> 32)};
      std::mt19937_64 rng(ss);
      const Kind& k = kinds_[schedule_[i % schedule_.size()]];
      Outcome& r = outcomes[i];
      r.file = k.file;
      r.format = k.format;
      r.bytes = mutate(k.file, rng);
      r.cmd = k.cmds[rng() % k.cmds.size()];
      test::write_file(m, r.bytes);
      auto run = test::run("cd " + d + " && exec timeout -s KILL " + std::to_string(limit) + " " +
                           replace_all(replace_all(r.cmd, "{M}", m), "{O}", o) + " >/dev/null");
      test::run("rm -rf " + o + " " + o + ".d");
      r.exit_code = run.exit_code;
      r.err = std::move(run.err);
      const int lines = error_lines(r.err);
      const bool ok = (r.exit_code == 0 || r.exit_code == 1 || r.exit_code == 2) && (r.exit_code == 0 || lines == 1);
      if (ok) r.bytes.clear();  // kept only for the findings
    }
  };
  std::vector<std::thread> pool;
  for (uint64_t w = 0; w < jobs; ++w) pool.emplace_back(worker, w);
  for (auto& t : pool) t.join();

  std::map<std::string, int> counts;  // "exit N" or "timeout" -> mutants
  std::map<std::string, int> per_kind;
  int bad = 0;
  for (uint64_t i = 0; i < mutants; ++i) {
    const Outcome& r = outcomes[i];
    counts[r.exit_code == 137 ? "timeout" : "exit " + std::to_string(r.exit_code)]++;
    per_kind[r.format]++;
    if (r.bytes.empty()) continue;
    ++bad;
    // Saved for replay: the mutant and the command that failed on it.
    mkdir(findings.c_str(), 0755);
    const std::string name = findings + "/" + r.file + "-seed" + std::to_string(seed) + "-" + std::to_string(i);
    test::write_file(name, r.bytes);
    test::write_file(name + ".cmd", "cd " + d + "  # the corpus folder (rebuilt by the test)\n" +
                                        replace_all(replace_all(r.cmd, "{M}", name), "{O}", "/tmp/out.h5") + "\n");
    const int lines = error_lines(r.err);
    ADD_FAILURE() << "mutant " << i << " of " << r.file << ": exit " << r.exit_code
                  << (r.exit_code == 137 ? " (killed after " + std::to_string(limit) + " s: a hang)" : "") << ", "
                  << lines << " stderr lines\n  " << r.cmd << "\n  saved: " << name << "\n" << r.err.substr(0, 1000);
  }
  std::string summary, kinds;
  for (auto& [what, n] : counts) summary += " " + what + ": " + std::to_string(n) + ";";
  for (auto& [kind, n] : per_kind) kinds += " " + kind + " " + std::to_string(n);
  std::printf("%llu mutants (seed %llu, %llu jobs):%s bad: %d\nper kind:%s\n", static_cast<unsigned long long>(mutants),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(jobs), summary.c_str(), bad,
              kinds.c_str());
  EXPECT_EQ(bad, 0);
}
