// Errors every qkv tool reports the same way: one line, one exit code.
//
//   DataError  (exit 1): the input is wrong (bad file, bad values, wrong kind).
//   UsageError (exit 2): the command line is wrong.
//
// Messages name the file first: "tok.h5: dataset /ids: expected int32, found float64".
#pragma once
#include <stdexcept>
#include <string>

namespace qkv {

enum ExitCode : int { kExitOk = 0, kExitData = 1, kExitUsage = 2 };

class Error : public std::runtime_error {
 public:
  Error(const std::string& msg, int exit_code) : std::runtime_error(msg), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

class DataError : public Error {
 public:
  explicit DataError(const std::string& msg) : Error(msg, kExitData) {}
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& msg) : Error(msg, kExitUsage) {}
};

// QKV_CHECK(cond, msg): internal invariant; a failure is a bug, reported as DataError
// rather than an abort so tools still exit with one clear line.
#define QKV_CHECK(cond, msg)                                                             \
  do {                                                                                   \
    if (!(cond)) throw ::qkv::DataError(std::string("internal check failed: ") + (msg)); \
  } while (0)

}  // namespace qkv
