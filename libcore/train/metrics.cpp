#include "train/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/file_io.h"
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

std::array<double, 4> SequenceScorer::totals() const {
  return {static_cast<double>(scored_), static_cast<double>(wrong_), static_cast<double>(edits_),
          static_cast<double>(ref_tokens_)};
}

void SequenceScorer::set_totals(const std::array<double, 4>& t) {
  scored_ = static_cast<int64_t>(t[0]);
  wrong_ = static_cast<int64_t>(t[1]);
  edits_ = static_cast<int64_t>(t[2]);
  ref_tokens_ = static_cast<int64_t>(t[3]);
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

std::string MetricsLog::format(const Record& fields) {
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

void MetricsLog::write(const Record& fields) {
  if (!f_) return;
  std::string line = format(fields) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    throw DataError(path_ + ": write failed: " + std::strerror(errno));
}

}  // namespace qkv::train

namespace qkv::train {
namespace {

// A JSON string as format() writes it, from s[i] == '"'; i ends past the closing quote.
bool parse_string(const std::string& s, size_t& i, std::string& out) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= s.size()) return false;
    switch (s[i]) {
      case 'u':  // format() writes \u00XX for control characters only
        if (i + 4 >= s.size()) return false;
        out += static_cast<char>(std::strtol(s.substr(i + 1, 4).c_str(), nullptr, 16));
        i += 4;
        break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      default: out += s[i];  // \" \\ \/
    }
  }
  return false;
}

void skip_space(const std::string& s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
}

}  // namespace

bool MetricsLog::parse(const std::string& line, Record& out) {
  out.clear();
  size_t i = 0;
  skip_space(line, i);
  if (i >= line.size() || line[i++] != '{') return false;
  skip_space(line, i);
  if (i < line.size() && line[i] == '}') return true;
  for (;;) {
    std::string key, text;
    skip_space(line, i);
    if (!parse_string(line, i, key)) return false;
    skip_space(line, i);
    if (i >= line.size() || line[i++] != ':') return false;
    skip_space(line, i);
    if (i < line.size() && line[i] == '"') {
      if (!parse_string(line, i, text)) return false;
      out.emplace_back(key, text);
    } else if (line.compare(i, 4, "null") == 0) {
      i += 4;
      out.emplace_back(key, NAN);
    } else {
      const char* begin = line.c_str() + i;
      char* end = nullptr;
      double v = std::strtod(begin, &end);
      if (end == begin) return false;
      i += static_cast<size_t>(end - begin);
      out.emplace_back(key, v);
    }
    skip_space(line, i);
    if (i >= line.size()) return false;
    if (line[i] == '}') return true;
    if (line[i++] != ',') return false;
  }
}

std::vector<MetricsLog::Record> MetricsLog::read(const std::string& path) {
  std::vector<Record> records;
  if (path.empty() || io::file_size(path) < 0) return records;
  std::ifstream in(path);
  std::string line;
  Record r;
  while (std::getline(in, line))
    if (parse(line, r)) records.push_back(r);
  return records;
}

void MetricsLog::truncate(const std::string& path, int64_t step) {
  if (io::file_size(path) < 0) return;
  std::ifstream in(path);
  std::string line, kept;
  Record r;
  while (std::getline(in, line)) {
    const Field* s = parse(line, r) ? find(r, "step") : nullptr;
    if (s && !s->is_str && s->num > static_cast<double>(step)) continue;
    kept += line + "\n";
  }
  io::write_atomically(path, kept.data(), kept.size());
}

const MetricsLog::Field* MetricsLog::find(const Record& r, const std::string& key) {
  for (const auto& f : r)
    if (f.key == key) return &f;
  return nullptr;
}

}  // namespace qkv::train
