#include "score/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "score/text.h"

namespace qkv::score {

namespace {

using NgramCounts = std::unordered_map<std::u32string, int64_t>;  // n-gram (tokens joined by a space) -> count

// Every n-gram of order 1..max_order.
NgramCounts count_ngrams(const std::vector<std::u32string>& w, int max_order) {
  NgramCounts c;
  for (size_t i = 0; i < w.size(); ++i) {
    std::u32string key;
    for (size_t n = 0; n < static_cast<size_t>(max_order) && i + n < w.size(); ++n) {
      if (n) key.push_back(U' ');
      key += w[i + n];
      ++c[key];
    }
  }
  return c;
}

int order_of(const std::u32string& key) {
  return 1 + static_cast<int>(std::count(key.begin(), key.end(), U' '));
}

double smooth_value(const BleuOptions& o) {
  if (o.smooth_value >= 0) return o.smooth_value;
  return o.smooth == Smooth::kAddK ? 1.0 : 0.1;
}

// log with log(0) floored to a very low number, as sacreBLEU does.
double floored_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

BleuStats bleu_stats(const Lines& hyps, const References& refs, const BleuOptions& o) {
  QKV_CHECK(hyps.size() == refs.size(), "one list of references per hypothesis");
  QKV_CHECK(o.max_order >= 1, "BLEU order >= 1");
  BleuStats st;
  st.correct.assign(o.max_order, 0);
  st.total.assign(o.max_order, 0);
  for (size_t i = 0; i < hyps.size(); ++i) {
    QKV_CHECK(!refs[i].empty(), "every hypothesis needs a reference");
    NgramCounts ref_max;  // most of each n-gram any one reference has
    int64_t hyp_len = 0, ref_len = -1;
    std::vector<std::u32string> hw = words(decode_utf8(hyps[i], "hypothesis"), o.tokenize, o.lowercase);
    hyp_len = static_cast<int64_t>(hw.size());
    for (const auto& r : refs[i]) {
      std::vector<std::u32string> rw = words(decode_utf8(r, "reference"), o.tokenize, o.lowercase);
      for (const auto& [k, c] : count_ngrams(rw, o.max_order)) ref_max[k] = std::max(ref_max[k], c);
      // The closest reference length; between two equally close, the shorter.
      int64_t len = static_cast<int64_t>(rw.size());
      if (ref_len < 0 || std::llabs(hyp_len - len) < std::llabs(hyp_len - ref_len) ||
          (std::llabs(hyp_len - len) == std::llabs(hyp_len - ref_len) && len < ref_len))
        ref_len = len;
    }
    for (const auto& [k, c] : count_ngrams(hw, o.max_order)) {
      int n = order_of(k) - 1;
      st.total[n] += c;
      auto it = ref_max.find(k);
      if (it != ref_max.end()) st.correct[n] += std::min(c, it->second);
    }
    st.sys_len += hyp_len;
    st.ref_len += ref_len;
  }
  return st;
}

BleuScore bleu_from_stats(const BleuStats& stats, const BleuOptions& o) {
  BleuScore s;
  s.stats = stats;
  const int N = static_cast<int>(stats.correct.size());
  s.precisions.assign(N, 0.0);
  s.bp = 1.0;
  if (stats.sys_len < stats.ref_len)
    s.bp = stats.sys_len > 0 ? std::exp(1.0 - static_cast<double>(stats.ref_len) / stats.sys_len) : 0.0;
  if (std::all_of(stats.correct.begin(), stats.correct.end(), [](int64_t c) { return c == 0; })) return s;
  const double v = smooth_value(o);
  double mteval = 1.0;  // exp smoothing: 1/2, 1/4, ... matches for successive orders with none
  int eff_order = N;
  for (int n = 0; n < N; ++n) {
    double correct = static_cast<double>(stats.correct[n]), total = static_cast<double>(stats.total[n]);
    if (o.smooth == Smooth::kAddK && n > 0) {
      correct += v;
      total += v;
    }
    if (total == 0) break;
    if (o.effective_order) eff_order = n + 1;
    if (correct == 0) {
      if (o.smooth == Smooth::kExp) {
        mteval *= 2;
        s.precisions[n] = 100.0 / (mteval * total);
      } else if (o.smooth == Smooth::kFloor) {
        s.precisions[n] = 100.0 * v / total;
      }
    } else {
      s.precisions[n] = 100.0 * correct / total;
    }
  }
  double sum = 0;
  for (int n = 0; n < eff_order; ++n) sum += floored_log(s.precisions[n]);
  s.score = s.bp * std::exp(sum / eff_order);
  return s;
}

BleuScore corpus_bleu(const Lines& hyps, const References& refs, const BleuOptions& o) {
  return bleu_from_stats(bleu_stats(hyps, refs, o), o);
}

std::string nrefs_label(const References& refs) {
  std::set<size_t> counts;
  for (const auto& r : refs) counts.insert(r.size());
  return counts.size() == 1 ? std::to_string(*counts.begin()) : "var";
}

std::string bleu_signature(const BleuOptions& o, const std::string& nrefs) {
  std::string smooth = o.smooth == Smooth::kExp ? "exp" : o.smooth == Smooth::kNone ? "none"
                       : o.smooth == Smooth::kFloor ? "floor" : "add-k";
  if (o.smooth == Smooth::kFloor || o.smooth == Smooth::kAddK) smooth += fmt("[%.2f]", smooth_value(o));
  return "nrefs:" + nrefs + "|case:" + (o.lowercase ? "lc" : "mixed") + "|eff:" + (o.effective_order ? "yes" : "no") +
         "|tok:" + tokenize_name(o.tokenize) + "|smooth:" + smooth + "|version:" + kSacrebleuVersion;
}

std::string format_bleu(const BleuScore& s, const BleuOptions& o, const std::string& nrefs) {
  std::string line = "BLEU|" + bleu_signature(o, nrefs) + " = " + fmt("%.2f", s.score) + " ";
  for (size_t n = 0; n < s.precisions.size(); ++n) line += (n ? "/" : "") + fmt("%.1f", s.precisions[n]);
  double ratio = s.stats.ref_len ? static_cast<double>(s.stats.sys_len) / s.stats.ref_len : 0.0;
  return line + " (BP = " + fmt("%.3f", s.bp) + " ratio = " + fmt("%.3f", ratio) +
         " hyp_len = " + std::to_string(s.stats.sys_len) + " ref_len = " + std::to_string(s.stats.ref_len) + ")";
}

}  // namespace qkv::score
