// Helpers shared by the test suite: running the tools as a user would, temp
// folders, and the optional ../shared/data corpora.
#pragma once
#include <string>
#include <vector>

namespace qkv::test {

struct RunResult {
  int exit_code = -1;
  std::string out, err;  // stdout, stderr
};

// Runs a shell command line (through /bin/sh -c) with the tools' folder first
// on PATH; stdin from /dev/null unless the command redirects it.
RunResult run(const std::string& cmdline);

std::string bin(const std::string& tool);  // absolute path of a built tool
std::string source_path(const std::string& rel);  // absolute path in the repo

// A fresh empty folder, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> entries() const;  // names in the folder, sorted

 private:
  std::string path_;
};

// The command that starts n processes of one MPI job on this machine, ending
// with a space ("mpirun --allow-run-as-root ... -np 2 "), or "" when qkv was
// built without MPI or mpirun is missing (callers GTEST_SKIP() with
// mpi_missing_reason()). Tests that use it run one at a time (RESOURCE_LOCK).
std::string mpirun(int n);
std::string mpi_missing_reason();

// ../shared/data/<rel> when present, else "" (callers GTEST_SKIP() with a reason).
std::string shared_data(const std::string& rel);

// Small real qkv files made by the tools in folder dir (about 10 s on 2 busy
// cores): tok.h5 (bpe), chars.h5 (char tokenizer), tokens.h5, pairs.h5
// (token_pairs), patches.h5 (labelled, 3 classes), gpt.h5, vit.h5, s2s.h5
// (tiny trained checkpoints), beside their sources c.txt, p.tsv and the IDX
// files img-idx3-ubyte / lab-idx1-ubyte. Returns "" or the failing command
// and its error.
std::string make_real_files(const std::string& dir);
extern const char* const kRealFiles[8];  // the eight .h5 names above

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
bool exists(const std::string& path);

}  // namespace qkv::test
