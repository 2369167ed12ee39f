#include "support/test_support.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace qkv::test {
namespace fs = std::filesystem;

static std::string slurp_and_remove(const std::string& path) {
  std::string s = read_file(path);
  std::remove(path.c_str());
  return s;
}

RunResult run(const std::string& cmdline) {
  char out_t[] = "/tmp/qkv-test-out-XXXXXX", err_t[] = "/tmp/qkv-test-err-XXXXXX";
  int fo = mkstemp(out_t), fe = mkstemp(err_t);
  close(fo);
  close(fe);
  std::string full = "PATH='" + std::string(QKV_BIN_DIR) + "':\"$PATH\"; export PATH; (" + cmdline + ") </dev/null >" +
                     out_t + " 2>" + err_t;
  int status = std::system(full.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = slurp_and_remove(out_t);
  r.err = slurp_and_remove(err_t);
  return r;
}

std::string mpirun(int n) {
  std::string exe = QKV_MPIEXEC;
  if (exe.empty() || access(exe.c_str(), X_OK) != 0) return "";
  // As root (CI) OpenMPI wants --allow-run-as-root; more ranks than cores need
  // --oversubscribe; without ssh even one machine needs --mca plm isolated;
  // -q drops OpenMPI's multi-line notices (a rank's own error line stays).
  return exe + " --allow-run-as-root --oversubscribe --mca plm isolated -q -np " + std::to_string(n) + " ";
}

std::string mpi_missing_reason() {
  return std::string(QKV_MPIEXEC).empty()
             ? "qkv was built without MPI (install libopenmpi-dev and openmpi-bin, then reconfigure)"
             : std::string(QKV_MPIEXEC) + " is missing (install openmpi-bin)";
}

std::string bin(const std::string& tool) { return std::string(QKV_BIN_DIR) + "/" + tool; }
std::string source_path(const std::string& rel) { return std::string(QKV_SOURCE_DIR) + "/" + rel; }

TempDir::TempDir() {
  char t[] = "/tmp/qkv-test-XXXXXX";
  if (!mkdtemp(t)) throw std::runtime_error("mkdtemp failed");
  path_ = t;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string shared_data(const std::string& rel) {
  std::string p = std::string(QKV_SHARED_DATA) + "/" + rel;
  return exists(p) ? p : "";
}

const char* const kRealFiles[8] = {"tok.h5", "chars.h5", "tokens.h5", "pairs.h5",
                                   "patches.h5", "gpt.h5", "vit.h5", "s2s.h5"};

std::string make_real_files(const std::string& dir) {
  const std::string d = dir + "/";
  std::mt19937 rng(1);
  const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "with", "hat", "ran", "far", "from", "home"};
  std::string text, pairs;
  for (int line = 0; line < 200; ++line) {
    for (int w = 0, n = 3 + static_cast<int>(rng() % 10); w < n; ++w)
      text += std::string(words[rng() % 12]) + (w + 1 == n ? "\n" : " ");
  }
  for (const char* w : words) {
    std::string up;
    for (const char* c = w; *c; ++c) up += std::string(up.empty() ? "" : " ") + char(*c - 32);
    pairs += std::string(w) + "\t" + up + "\n";
  }
  write_file(d + "c.txt", text);
  write_file(d + "p.tsv", pairs);
  // 20 random 8x8 images in 3 classes, MNIST-style IDX.
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  std::string images = be32(0x803) + be32(20) + be32(8) + be32(8), labels = be32(0x801) + be32(20);
  for (int i = 0; i < 20 * 64; ++i) images += char(rng() % 256);
  for (int i = 0; i < 20; ++i) labels += char(rng() % 3);
  write_file(d + "img-idx3-ubyte", images);
  write_file(d + "lab-idx1-ubyte", labels);
  const std::string tiny = " --layers 1 --heads 2 --d-model 16 --d-ff 16 --steps 2 -b 4 ";
  for (const std::string& cmd : {
           std::string("qkv-tokenize -q learn --vocab-size 300 c.txt -o tok.h5"),
           std::string("qkv-tokenize -q encode -t tok.h5 c.txt -o tokens.h5"),
           std::string("qkv-tokenize -q learn --model char c.txt -o chars.h5"),
           std::string("qkv-tokenize -q encode --tsv -t chars.h5 --tgt-tokenizer chars.h5 --bos --eos p.tsv -o pairs.h5"),
           std::string("qkv-patchify -q img-idx3-ubyte --labels lab-idx1-ubyte --patch 4 -o patches.h5"),
           "qkv-train -q lm tokens.h5 --context 16" + tiny + "-o gpt.h5",
           "qkv-train -q vit patches.h5" + tiny + "-o vit.h5",
           "qkv-train -q seq2seq pairs.h5" + tiny + "-o s2s.h5",
       }) {
    auto r = run("cd " + d + " && " + cmd);
    if (r.exit_code != 0) return cmd + ": " + r.err;
  }
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace qkv::test
