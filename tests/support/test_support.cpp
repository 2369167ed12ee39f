#include "support/test_support.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
