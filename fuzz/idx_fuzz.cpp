// IDX files (qkv-patchify on MNIST-style data): parse_idx on the bytes, and
// read_idx on them as a plain file and as a .gz file (gzip'd as given: the
// gzip layer is fuzzed too, its header claims checked while decompressing).
#include <fcntl.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "patchify/idx.h"

using namespace qkv;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::run([&] { (void)patchify::parse_idx(fuzz::bytes_of(data, size), "fuzz-idx3-ubyte"); });
  fuzz::MemFile file(data, size);
  if (file.ok()) fuzz::run([&] { (void)patchify::read_idx(file.path()); });
  // read_idx picks gzip by the name: one file in /dev/shm (memory), rewritten each run.
  static const std::string gz = "/dev/shm/qkv-fuzz-" + std::to_string(getpid()) + "-idx3-ubyte.gz";
  int fd = ::open(gz.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  bool ok = ::write(fd, data, size) == static_cast<ssize_t>(size);
  ::close(fd);
  if (ok) fuzz::run([&] { (void)patchify::read_idx(gz); });
  return 0;
}
