#include "tokenize/corpus.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/file_io.h"
#include "io/provenance.h"

namespace qkv::tokenize {

static std::string display_name(const std::string& p) { return p == "-" ? "stdin" : p; }

LineBlocks::LineBlocks(std::vector<std::string> paths, size_t block_bytes)
    : paths_(std::move(paths)), block_bytes_(block_bytes) {
  if (paths_.empty()) paths_.push_back("-");
  int stdin_uses = 0;
  for (auto& p : paths_) {
    std::FILE* f;
    if (p == "-") {
      if (++stdin_uses > 1) {
        for (auto* g : files_) if (g != stdin) std::fclose(g);
        throw UsageError("stdin (-) given more than once");
      }
      if (isatty(STDIN_FILENO)) {
        for (auto* g : files_) if (g != stdin) std::fclose(g);
        throw UsageError("stdin is a terminal: give a file or pipe text in");
      }
      f = stdin;
    } else {
      f = std::fopen(p.c_str(), "rb");
      struct stat st;
      int err = errno;
      if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        std::fclose(f);
        f = nullptr;
        err = EISDIR;
      }
      if (!f) {
        for (auto* g : files_) if (g != stdin) std::fclose(g);
        throw DataError(p + ": cannot open: " + std::strerror(err));
      }
      int64_t sz = io::file_size(p);
      if (sz > 0) total_bytes_ += sz;
    }
    files_.push_back(f);
  }
}

LineBlocks::~LineBlocks() {
  join_hasher();
  delete sha_;
  for (auto* f : files_) if (f && f != stdin) std::fclose(f);
}

void LineBlocks::finish_current() {
  if (!current_open_) return;
  io::provenance::note_input(current_name_, sha_->hex());
  if (last_byte_ >= 0) ended_with_newline_ = last_byte_ == '\n';
  last_byte_ = -1;
  delete sha_;
  sha_ = nullptr;
  current_open_ = false;
  if (files_[index_] != stdin) std::fclose(files_[index_]);
  files_[index_] = nullptr;
  ++index_;
}

void LineBlocks::join_hasher() {
  if (hasher_.joinable()) hasher_.join();
}

bool LineBlocks::next(std::string_view& out) {
  join_hasher();  // the previous block is hashed: its buffer may be reused
  std::string& block = block_;
  block.clear();
  while (index_ < files_.size()) {
    if (!current_open_) {
      current_open_ = true;
      current_name_ = display_name(paths_[index_]);
      sha_ = new io::Sha256();
      carry_.clear();
    }
    std::FILE* f = files_[index_];
    block.swap(carry_);
    carry_.clear();
    size_t want = block_bytes_;
    bool eof = false;
    for (;;) {
      size_t old = block.size();
      block.resize(old + want);
      size_t got = std::fread(&block[old], 1, want, f);
      block.resize(old + got);
      if (got > 0) {
        last_byte_ = static_cast<unsigned char>(block[old + got - 1]);
        bytes_read_ += static_cast<int64_t>(got);
      }
      if (got < want) {
        if (std::ferror(f)) throw DataError(current_name_ + ": read failed: " + std::strerror(errno));
        eof = true;
        break;
      }
      // Stop at a line boundary once the block is big enough.
      size_t nl = block.rfind('\n');
      if (nl != std::string::npos) {
        carry_.assign(block, nl + 1, std::string::npos);
        block.resize(nl + 1);
        break;
      }
      want = block.size();  // one very long line: keep reading
    }
    out = block;
    if (eof) {
      sha_->update(block.data(), block.size());
      finish_current();
      if (block.empty()) continue;
      return true;
    }
    // Hash while the caller works on the block (SHA-256 is slower than tokenizing).
    hasher_ = std::thread([sha = sha_, p = block.data(), n = block.size()] { sha->update(p, n); });
    return true;
  }
  return false;
}

std::vector<size_t> split_lines(std::string_view block, int n) {
  std::vector<size_t> b{0};
  if (n < 1) n = 1;
  for (int k = 1; k < n; ++k) {
    size_t target = block.size() * k / n;
    if (target <= b.back()) continue;
    size_t nl = block.find('\n', target);
    size_t cut = nl == std::string_view::npos ? block.size() : nl + 1;
    if (cut > b.back() && cut < block.size()) b.push_back(cut);
  }
  b.push_back(block.size());
  return b;
}

std::string read_document(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_all(path);
  std::string name = display_name(path);
  io::provenance::note_input(name, io::sha256_hex(bytes.data(), bytes.size()));
  return std::string(bytes.begin(), bytes.end());
}

namespace {
// Lines as LineBlocks counts them: split on '\n', a last line without one counts.
int64_t count_lines(const std::string& path) {
  if (path == "-") throw UsageError("--shard counts the lines of its inputs first: give files, not stdin");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open: " + std::strerror(errno));
  std::vector<char> buf(1 << 20);
  int64_t lines = 0;
  int last = '\n';
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    lines += std::count(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(got), '\n');
    last = buf[got - 1];
  }
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw DataError(path + ": read error");
  return lines + (last != '\n' ? 1 : 0);
}
}  // namespace

ShardLines::ShardLines(const std::vector<std::string>& paths, formats::Shard& shard) {
  int64_t total = 0;
  for (const auto& p : paths.empty() ? std::vector<std::string>{"-"} : paths) total += count_lines(p);
  shard.cover(total);
  begin_ = shard.begin;
  end_ = shard.end;
}

std::string_view ShardLines::take(std::string_view block) {
  size_t from = std::string_view::npos, to = block.size();
  for (size_t i = 0; i < block.size(); ++next_) {
    if (next_ >= begin_ && from == std::string_view::npos) from = i;
    if (next_ >= end_ && to == block.size()) to = i;
    size_t nl = block.find('\n', i);
    i = nl == std::string_view::npos ? block.size() : nl + 1;
  }
  if (from == std::string_view::npos || from >= to) return {};
  return block.substr(from, to - from);
}

}  // namespace qkv::tokenize
