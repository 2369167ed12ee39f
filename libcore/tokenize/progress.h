// Progress for long tokenizer jobs: cli::Progress, but silent for the first
// two seconds, so small runs print nothing and long learns report on stderr.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "cli/tool.h"

namespace qkv::tokenize {

class QuietStartProgress {
 public:
  QuietStartProgress(std::string label, int64_t total, std::string unit)
      : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, const std::string& extra = "") {
    if (!bar_) {
      if (std::chrono::steady_clock::now() - start_ < std::chrono::seconds(2)) return;
      bar_.emplace(label_, total_, unit_);
    }
    bar_->update(done, extra);
  }
  void finish(const std::string& extra = "") {
    if (bar_) bar_->finish(extra);
  }

 private:
  std::string label_, unit_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_;
  std::optional<cli::Progress> bar_;
};

}  // namespace qkv::tokenize
