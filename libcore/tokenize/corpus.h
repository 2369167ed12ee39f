// Reading text corpora in bounded memory: files (or "-" for stdin) one after
// another, in blocks of whole lines, each input's SHA-256 noted for provenance.
//
//   LineBlocks in({"a.txt", "-"});
//   std::string_view block;  // valid until the next call
//   while (in.next(block)) for_each_line(block, [&](std::string_view line) { ... });
//
// Lines are split on '\n', which is not part of the line; a '\r' before it
// stays (byte-exact round trips of CRLF text). A file's last line needs no
// newline. A block never mixes two files.
#pragma once
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "formats/shard.h"
#include "io/sha256.h"

namespace qkv::tokenize {

class LineBlocks {
 public:
  // block_bytes: target block size; a longer line makes a longer block.
  explicit LineBlocks(std::vector<std::string> paths, size_t block_bytes = 16 << 20);
  ~LineBlocks();
  LineBlocks(const LineBlocks&) = delete;
  LineBlocks& operator=(const LineBlocks&) = delete;

  // Fills block with the next lines, each terminated by '\n' except possibly
  // the last line of a file. False at the end of all inputs. Opens every
  // input up front, so a missing file fails before any work.
  // The block stays valid (and must not change) until the next call.
  bool next(std::string_view& block);

  // Sum of the regular files' sizes (0 when unknown, e.g. stdin), for progress.
  int64_t total_bytes() const { return total_bytes_; }
  int64_t bytes_read() const { return bytes_read_; }
  // Whether the last non-empty input ended with '\n' (true when all were empty).
  bool ended_with_newline() const { return ended_with_newline_; }
  // Name of the input the last block came from ("stdin" for -).
  const std::string& current_name() const { return current_name_; }

 private:
  void finish_current();
  void join_hasher();
  std::vector<std::string> paths_;
  std::vector<std::FILE*> files_;
  size_t index_ = 0;
  size_t block_bytes_;
  std::string block_;  // the block handed out
  std::string carry_;  // partial line from the previous read
  std::thread hasher_;  // hashes the handed-out block meanwhile
  io::Sha256* sha_ = nullptr;
  std::string current_name_;
  int64_t total_bytes_ = 0, bytes_read_ = 0;
  int last_byte_ = -1;  // of the current input, -1 before any byte
  bool ended_with_newline_ = true, current_open_ = false;
};

// Calls fn(std::string_view line) for each line of a block from LineBlocks.
template <class Fn>
void for_each_line(std::string_view block, Fn&& fn) {
  size_t i = 0;
  while (i < block.size()) {
    size_t j = block.find('\n', i);
    if (j == std::string_view::npos) j = block.size();
    fn(block.substr(i, j - i));
    i = j + 1;
  }
}

// Splits a block into about n ranges of whole lines: boundaries[k]..boundaries[k+1].
std::vector<size_t> split_lines(std::string_view block, int n);

// Splits block into up to `threads` ranges of whole lines and runs
// fn(int k, std::string_view range) on each, range 0 on the calling thread and
// the others on their own threads; rethrows the first failure. Returns the
// number of ranges.
template <class Fn>
int for_line_ranges(std::string_view block, int threads, Fn&& fn) {
  std::vector<size_t> cuts = split_lines(block, threads);
  int parts = static_cast<int>(cuts.size()) - 1;
  auto range = [&](int k) { return block.substr(cuts[k], cuts[k + 1] - cuts[k]); };
  std::vector<std::exception_ptr> errs(static_cast<size_t>(parts));
  std::vector<std::thread> pool;
  for (int k = 1; k < parts; ++k)
    pool.emplace_back([&, k] {
      try {
        fn(k, range(k));
      } catch (...) {
        errs[k] = std::current_exception();
      }
    });
  try {
    fn(0, range(0));
  } catch (...) {
    errs[0] = std::current_exception();
  }
  for (auto& t : pool) t.join();
  for (auto& e : errs)
    if (e) std::rethrow_exception(e);
  return parts;
}

// The lines of one shard of the inputs (encode --shard K/N): lines are
// numbered across all inputs as LineBlocks reads them, and the shard keeps
// lines [shard.begin, shard.end). The constructor counts every input's lines
// (files only: stdin cannot be read twice) and fills the shard's range.
//
//   ShardLines keep(inputs, shard);
//   while (in.next(block)) { std::string_view mine = keep.take(block); ... }
class ShardLines {
 public:
  ShardLines(const std::vector<std::string>& paths, formats::Shard& shard);
  // The whole lines of the next block that belong to the shard (maybe none).
  std::string_view take(std::string_view block);

 private:
  int64_t begin_, end_, next_ = 0;  // next_: number of the block's first line
};

// Reads a whole input ("-" = stdin) and notes it for provenance.
std::string read_document(const std::string& path);

}  // namespace qkv::tokenize
