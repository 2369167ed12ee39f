#include "train/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "score/error_rate.h"

namespace qkv::train {

double LossMeter::perplexity() const {
  double m = mean_loss();
  return m > 700 ? INFINITY : std::exp(m);
}

void SequenceScorer::add_reference(const std::vector<int32_t>& src, const std::vector<int32_t>& ref) {
  auto it = refs_.find(src);
  if (it == refs_.end()) {
    order_.push_back(src);
    refs_[src].push_back(ref);
  } else if (std::find(it->second.begin(), it->second.end(), ref) == it->second.end()) {
    it->second.push_back(ref);
  }
}

void SequenceScorer::score(const std::vector<int32_t>& src, const std::vector<int32_t>& hyp) {
  auto it = refs_.find(src);
  QKV_CHECK(it != refs_.end(), "scoring a source with no reference");
  score::Closest c = score::closest_reference(hyp, it->second);
  ++scored_;
  if (c.edits != 0) ++wrong_;
  edits_ += c.edits;
  ref_tokens_ += c.ref_len;
}

void MetricsLog::open(const std::string& path, bool append) {
  if (f_) std::fclose(f_);
  path_ = path;
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!f_) throw DataError(path + ": cannot open for writing: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

std::string MetricsLog::format(const std::vector<Field>& fields) {
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) s += ", ";
    s += "\"" + fields[i].key + "\": ";
    if (fields[i].is_str) {
      s += "\"";
      for (char c : fields[i].str) {
        if (c == '"' || c == '\\') { s += '\\'; s += c; }
        else if (static_cast<unsigned char>(c) < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); s += b; }
        else s += c;
      }
      s += "\"";
    } else if (!std::isfinite(fields[i].num)) {
      s += "null";
    } else if (fields[i].num == std::floor(fields[i].num) && std::fabs(fields[i].num) < 1e15) {
      s += std::to_string(static_cast<int64_t>(fields[i].num));
    } else {
      char b[32];
      std::snprintf(b, sizeof b, "%.7g", fields[i].num);
      s += b;
    }
  }
  return s + "}";
}

void MetricsLog::write(const std::vector<Field>& fields) {
  if (!f_) return;
  std::string line = format(fields) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    throw DataError(path_ + ": write failed: " + std::strerror(errno));
}

}  // namespace qkv::train
