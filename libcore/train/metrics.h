// Evaluation metrics of qkv-train and the JSON-lines metrics log.
//
//   LossMeter m;  m.add(loss_sum, n_targets, n_correct);
//   m.mean_loss(); m.perplexity(); m.accuracy();
//
//   SequenceScorer s;                       // greedy decodes vs references
//   s.add_reference(src, ref);              // several references per source allowed
//   s.score(src, hypothesis);               // once per distinct source
//   s.wer(); s.ter();
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qkv::train {

struct LossMeter {
  double loss_sum = 0;   // summed over targets
  int64_t targets = 0;   // counted targets (tokens or images)
  int64_t correct = 0;   // argmax == target
  void add(double loss, int64_t n, int64_t c) { loss_sum += loss; targets += n; correct += c; }
  double mean_loss() const { return targets ? loss_sum / targets : 0.0; }
  double perplexity() const;
  double accuracy() const { return targets ? static_cast<double>(correct) / targets : 0.0; }
};

// Word error rate (a whole output sequence right or wrong; right when it equals
// ANY reference of its source) and token error rate (edit distance to the
// closest reference / that reference's length, summed over sources): the
// rates of score/error_rate.h over token ids, its SER and WER.
class SequenceScorer {
 public:
  void add_reference(const std::vector<int32_t>& src, const std::vector<int32_t>& ref);
  // Distinct sources, in the order first seen.
  const std::vector<std::vector<int32_t>>& sources() const { return order_; }
  const std::vector<std::vector<int32_t>>& references(const std::vector<int32_t>& src) const { return refs_.at(src); }
  void score(const std::vector<int32_t>& src, const std::vector<int32_t>& hyp);
  int64_t scored() const { return scored_; }
  double wer() const { return scored_ ? static_cast<double>(wrong_) / scored_ : 0.0; }
  double ter() const { return ref_tokens_ ? static_cast<double>(edits_) / ref_tokens_ : 0.0; }
  // The running totals (scored, wrong, edits, reference tokens), e.g. to sum over processes.
  std::array<double, 4> totals() const;
  void set_totals(const std::array<double, 4>& t);

 private:
  std::map<std::vector<int32_t>, std::vector<std::vector<int32_t>>> refs_;
  std::vector<std::vector<int32_t>> order_;
  int64_t scored_ = 0, wrong_ = 0, edits_ = 0, ref_tokens_ = 0;
};

// One JSON object per line, flushed after each line so `tail -f` and a killed
// run both see whole records. Appends (a resumed run continues the file).
// The same class reads the records back (parse, read) and cuts a file at a
// step (truncate: a resumed run drops what came after its checkpoint).
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path, bool append) { open(path, append); }
  void open(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  bool enabled() const { return f_ != nullptr; }
  // fields: name and value; values are numbers (non-finite written as null) or strings.
  struct Field {
    std::string key;
    double num = 0;
    std::string str;
    bool is_str = false;
    Field(std::string k, double v) : key(std::move(k)), num(v) {}
    Field(std::string k, int64_t v) : key(std::move(k)), num(static_cast<double>(v)) {}
    Field(std::string k, int v) : key(std::move(k)), num(v) {}
    Field(std::string k, std::string v) : key(std::move(k)), str(std::move(v)), is_str(true) {}
    Field(std::string k, const char* v) : key(std::move(k)), str(v), is_str(true) {}
  };
  using Record = std::vector<Field>;
  void write(const Record& fields);
  static std::string format(const Record& fields);  // one line, no newline
  // A line format() wrote (null as NaN); false for anything else.
  static bool parse(const std::string& line, Record& out);
  // The records of a metrics file (none when it does not exist); lines that do not parse are skipped.
  static std::vector<Record> read(const std::string& path);
  // Drops the records whose "step" is beyond step, keeping every other line as it is (atomic rewrite).
  static void truncate(const std::string& path, int64_t step);
  static const Field* find(const Record& r, const std::string& key);

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace qkv::train
