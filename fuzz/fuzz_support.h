// Shared by the libFuzzer targets in fuzz/ (built by `make fuzz-targets`,
// run by `make fuzz`; see fuzz/CMakeLists.txt).
//
// Each target feeds its bytes to one of qkv's readers of outside data exactly
// as the tools do, and catches only qkv::Error (DataError / UsageError: the
// one-line error every tool prints). Anything else escaping (another
// exception, a crash, a sanitizer report, a hang, an allocation over
// -malloc_limit_mb) is a finding.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/h5.h"
#include "io/provenance.h"

namespace qkv::fuzz {

inline std::vector<uint8_t> bytes_of(const uint8_t* data, size_t size) { return {data, data + size}; }

// The bytes as a file without touching disk (memfd): readers that take a path
// (text corpora, gzip'd IDX) read "/proc/self/fd/N".
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size, const char* name = "qkv-fuzz") {
    fd_ = memfd_create(name, 0);
    size_t off = 0;
    while (fd_ >= 0 && off < size) {
      ssize_t n = ::write(fd_, data + off, size - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    if (fd_ >= 0) lseek(fd_, 0, SEEK_SET);
  }
  ~MemFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

// Runs f, accepting the one-line errors of qkv (DataError, UsageError).
// H5In notes every input for provenance (process-wide): cleared each run so
// the fuzzer's memory stays flat.
template <class F>
void run(F&& f) {
  io::provenance::reset_for_tests();
  try {
    f();
  } catch (const qkv::Error&) {
  }
}

}  // namespace qkv::fuzz
