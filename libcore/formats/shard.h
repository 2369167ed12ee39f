// One of N shards of a dataset: qkv-tokenize encode --shard K/N takes lines
// [begin, end) of its input, qkv-patchify --shard K/N images [begin, end),
// the K-th of N contiguous ranges whose sizes differ by at most one. The
// shard is recorded in the output's root attributes (shard_index,
// shard_count, shard_range = [begin, end, total]), so that tools reading
// several files as one dataset can check that they are the shards 0..N-1 of
// one whole, in order, none missing (their union is then the unsharded file).
//
//   Shard s = parse_shard("2/4");  s.cover(total_lines);   // s.begin, s.end
//   write_shard_attrs(out, s);
//   check_shards({{"a.h5", read_shard(in_a)}, {"b.h5", read_shard(in_b)}});
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/h5.h"

namespace qkv::formats {

struct Shard {
  int64_t index = 0, count = 1;        // K of N (0-based K)
  int64_t begin = 0, end = 0, total = 0;  // items [begin, end) of total
  // Sets begin/end: the K-th of N contiguous ranges over total items.
  void cover(int64_t items);
  std::string str() const;  // "2/4"
};

// "K/N" with 0 <= K < N; UsageError (naming the option) otherwise.
Shard parse_shard(const std::string& spec, const std::string& option = "--shard");

template <class Out>  // io::H5Out or io::H5StreamOut
void write_shard_attrs(Out& out, const Shard& s) {
  out.set_attr("/", "shard_index", s.index);
  out.set_attr("/", "shard_count", s.count);
  out.set_attr("/", "shard_range", std::vector<int64_t>{s.begin, s.end, s.total});
}

// The file's shard attributes, or nullopt for a whole (unsharded) file;
// DataError naming the file when they are inconsistent.
std::optional<Shard> read_shard(const io::H5In& in);

// Files read as one dataset: a single file of any kind, or shards 0..N-1 of
// one whole in that order. DataError naming the gap (a missing shard, shards
// out of order, a shard of another split) otherwise.
void check_shards(const std::vector<std::pair<std::string, std::optional<Shard>>>& files);

// The input files of a tool that reads several as one dataset: the paths as
// given, each "@LIST" replaced by the files LIST names (one per line; empty
// lines and lines starting with # skipped). "-" (stdin) only alone.
std::vector<std::string> expand_list_files(const std::vector<std::string>& paths);
// "a.h5", or "a.h5 .. d.h5 (4 files)" for messages.
std::string files_name(const std::vector<std::string>& paths);

}  // namespace qkv::formats
