// Whole-file reads and atomic writes, shared by every tool's output path.
//
// write_atomically(path, bytes): "-" writes to stdout (refused when stdout is a
// terminal); a path is written to a temporary file in the same folder, fsynced
// and renamed over the target, so a failure or a kill never leaves a partial
// output. SIGINT/SIGTERM during the write remove the temporary file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv::io {

// Reads a whole file ("-" = stdin, refused when stdin is a terminal).
// max_bytes guards against reading something absurd (e.g. /dev/zero).
std::vector<uint8_t> read_all(const std::string& path, uint64_t max_bytes = UINT64_MAX);

// durable = false skips the fsync (still atomic for readers: the old file or
// the whole new one): for writing many small files, followed by one
// sync_filesystem() at the end instead of an fsync per file.
void write_atomically(const std::string& path, const void* data, size_t n, bool durable = true);
inline void write_atomically(const std::string& path, const std::vector<uint8_t>& bytes, bool durable = true) {
  write_atomically(path, bytes.data(), bytes.size(), durable);
}

// Flushes the filesystem holding path (syncfs) to disk; throws DataError on failure.
void sync_filesystem(const std::string& path);

// Throws UsageError when path is "-" and stdout is a terminal: binary data is
// never written to a terminal. Tools call it before doing any work.
void refuse_binary_to_terminal(const std::string& path);

// Throws (one line naming path) unless a file can be written at path: its
// folder exists and takes a new file there (tried by creating and removing a
// temporary beside it), and path is no folder. "-", devices and FIFOs pass
// (opened at write time). Tools check every output this way before working,
// so a run never ends by losing its work to an unwritable -o.
void check_writable(const std::string& path);

// Size of a regular file in bytes, or -1 when it is not a regular file.
int64_t file_size(const std::string& path);

// The one way a temporary file beside `target` is made: creates and opens
// TARGET.tmp.HOST-PID.XXXXXX (mode 0600) and returns its fd, its name in *name.
// First it removes the temporaries of the same target left by processes of
// this host that no longer run (a SIGKILL leaves one that nothing else could
// remove), so killed runs never pile up; those of live processes and of other
// hosts (a shared cluster folder) are left alone.
int create_temp_beside(const std::string& target, std::string* name);

// On (the default): write_atomically handles SIGINT/SIGTERM during a write by
// removing its temporary file and re-raising. Off: a program that handles
// those signals itself (qkv-train saves a checkpoint and exits) lets the write
// finish instead; the temporary file is still never left behind on errors.
void set_signal_cleanup(bool on);

// While it lives, SIGINT/SIGTERM remove the temporary file path before the
// program dies (when signal cleanup is on). One at a time: write_atomically
// uses one for its own temporary file, H5StreamOut for its.
class TempFileGuard {
 public:
  explicit TempFileGuard(const std::string& path);
  ~TempFileGuard();
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;

 private:
  bool active_;
};

}  // namespace qkv::io
