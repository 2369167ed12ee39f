// Progress for long tokenizer jobs: cli::Progress, but silent for the first
// two seconds, so small runs print nothing and long learns report on stderr.
#pragma once
#include <chrono>
#include <string>

#include "cli/tool.h"

namespace qkv::tokenize {

class QuietStartProgress {
 public:
  QuietStartProgress(std::string label, int64_t total, std::string unit)
      : bar_(std::move(label), total, std::move(unit)), start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, const std::string& extra = "") {
    if (!shown_ && std::chrono::steady_clock::now() - start_ < std::chrono::seconds(2)) return;
    shown_ = true;
    bar_.update(done, extra);
  }
  void finish(const std::string& extra = "") {
    if (shown_) bar_.finish(extra);
  }

 private:
  cli::Progress bar_;
  std::chrono::steady_clock::time_point start_;
  bool shown_ = false;
};

}  // namespace qkv::tokenize
