#include "train/valid_metric.h"

#include "core/error.h"
#include "score/chrf.h"

namespace qkv::train {
namespace {

score::BleuOptions bleu_options() {
  score::BleuOptions o;
  o.tokenize = score::Tokenize::kNone;
  return o;
}

constexpr size_t kBleuTotals = 2 + 2 * 4;  // sys_len, ref_len, correct[4], total[4]

}  // namespace

ValidMetric valid_metric_from_name(const std::string& name) {
  if (name == "loss") return ValidMetric::loss;
  if (name == "bleu") return ValidMetric::bleu;
  if (name == "chrf") return ValidMetric::chrf;
  if (name == "wer") return ValidMetric::wer;
  throw UsageError("--valid-metric " + name + ": choose loss, bleu, chrf or wer");
}

bool decodes(ValidMetric m) { return m != ValidMetric::loss; }
bool higher_is_better(ValidMetric m) { return m == ValidMetric::bleu || m == ValidMetric::chrf; }

std::string id_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

void IdScorer::add(const std::vector<int32_t>& hyp, const std::vector<std::vector<int32_t>>& refs) {
  hyps_.push_back(id_string(hyp));
  refs_.emplace_back();
  for (const auto& r : refs) refs_.back().push_back(id_string(r));
}

std::vector<double> IdScorer::totals() const {
  if (!totals_.empty()) return totals_;
  const score::BleuStats b = score::bleu_stats(hyps_, refs_, bleu_options());
  std::vector<double> t = {static_cast<double>(b.sys_len), static_cast<double>(b.ref_len)};
  for (int64_t c : b.correct) t.push_back(static_cast<double>(c));
  for (int64_t c : b.total) t.push_back(static_cast<double>(c));
  for (int64_t c : score::chrf_stats(hyps_, refs_, score::ChrfOptions())) t.push_back(static_cast<double>(c));
  return t;
}

void IdScorer::set_totals(const std::vector<double>& t) { totals_ = t; }

double IdScorer::bleu() const {
  const std::vector<double> t = totals();
  score::BleuStats b;
  b.sys_len = static_cast<int64_t>(t[0]);
  b.ref_len = static_cast<int64_t>(t[1]);
  for (size_t n = 0; n < 4; ++n) {
    b.correct.push_back(static_cast<int64_t>(t[2 + n]));
    b.total.push_back(static_cast<int64_t>(t[6 + n]));
  }
  return score::bleu_from_stats(b, bleu_options()).score;
}

double IdScorer::chrf() const {
  const std::vector<double> t = totals();
  std::vector<int64_t> c;
  for (size_t i = kBleuTotals; i < t.size(); ++i) c.push_back(static_cast<int64_t>(t[i]));
  return score::chrf_from_stats(c, score::ChrfOptions());
}

}  // namespace qkv::train
