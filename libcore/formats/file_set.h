// Several files of one kind read as one dataset (issue 16): one file, or the
// shards 0..N-1 of one whole in order (formats/shard.h checks them), each
// opened with its reader; item i of the whole is item i - first(f) of file f.
//
//   FileSet<TokensReader> set(paths, [&](const io::H5In& in) { /* kind checks */ });
//   auto [f, i] = set.locate(1234);   set.file(f).read(i, i + 1);
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/shard.h"
#include "io/h5.h"

namespace qkv::formats {

template <class Reader>
class FileSet {
 public:
  // before: called on each opened file before its reader is made (e.g. a kind check with a better message).
  explicit FileSet(const std::vector<std::string>& paths,
                   const std::function<void(const io::H5In&)>& before = nullptr) {
    std::vector<std::pair<std::string, std::optional<Shard>>> shards;
    for (const std::string& p : paths) {
      ins_.push_back(std::make_unique<io::H5In>(p));
      if (before) before(*ins_.back());
      readers_.push_back(std::make_unique<Reader>(*ins_.back()));
      if (paths.size() > 1) shards.emplace_back(p, read_shard(*ins_.back()));
      first_.push_back(first_.back() + readers_.back()->size());
    }
    check_shards(shards);
  }
  size_t files() const { return readers_.size(); }
  const Reader& file(size_t f) const { return *readers_[f]; }
  int64_t first(size_t f) const { return first_[f]; }
  int64_t size() const { return first_.back(); }
  // The file holding item i (0 <= i < size()) and its index there.
  std::pair<size_t, int64_t> locate(int64_t i) const {
    const size_t f = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), i) - first_.begin()) - 1;
    return {f, i - first_[f]};
  }

 private:
  std::vector<std::unique_ptr<io::H5In>> ins_;  // readers keep references to their files
  std::vector<std::unique_ptr<Reader>> readers_;
  std::vector<int64_t> first_{0};  // (files + 1,)
};

}  // namespace qkv::formats
