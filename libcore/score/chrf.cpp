#include "score/chrf.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "core/error.h"
#include "score/text.h"

namespace qkv::score {

namespace {

using CharNgrams = std::vector<std::unordered_map<std::u32string, int64_t>>;  // (char_order): n-gram -> count

CharNgrams char_ngrams(const std::string& line, const ChrfOptions& o) {
  std::u32string s = decode_utf8(line, "chrF segment");
  if (o.lowercase) s = lower(s);
  if (!o.whitespace) {
    std::u32string joined;
    for (const auto& w : split(s)) joined += w;
    s = std::move(joined);
  }
  CharNgrams c(o.char_order);
  for (int n = 1; n <= o.char_order; ++n)
    for (size_t i = 0; i + n <= s.size(); ++i) ++c[n - 1][s.substr(i, n)];
  return c;
}

}  // namespace

std::vector<int64_t> chrf_stats(const Lines& hyps, const References& refs, const ChrfOptions& o) {
  QKV_CHECK(hyps.size() == refs.size(), "one list of references per hypothesis");
  const int N = o.char_order;
  std::vector<int64_t> sum(3 * N, 0);
  for (size_t i = 0; i < hyps.size(); ++i) {
    QKV_CHECK(!refs[i].empty(), "every hypothesis needs a reference");
    CharNgrams h = char_ngrams(hyps[i], o);
    std::vector<int64_t> best;
    double best_f = -1;
    for (const auto& r : refs[i]) {
      CharNgrams rc = char_ngrams(r, o);
      std::vector<int64_t> st(3 * N, 0);
      for (int n = 0; n < N; ++n) {
        int64_t hyp = 0, ref = 0, match = 0;
        for (const auto& [k, c] : h[n]) {
          hyp += c;
          auto it = rc[n].find(k);
          if (it != rc[n].end()) match += std::min(c, it->second);
        }
        for (const auto& kc : rc[n]) ref += kc.second;
        st[3 * n] = rc[n].empty() ? 0 : hyp;  // no hypothesis n-grams counted where the reference has none
        st[3 * n + 1] = ref;
        st[3 * n + 2] = match;
      }
      double f = chrf_from_stats(st, o);
      if (f > best_f) {  // the first of equally good references
        best_f = f;
        best = std::move(st);
      }
    }
    for (int k = 0; k < 3 * N; ++k) sum[k] += best[k];
  }
  return sum;
}

double chrf_from_stats(const std::vector<int64_t>& stats, const ChrfOptions& o) {
  const double eps = 1e-16, factor = static_cast<double>(o.beta) * o.beta;
  const int N = static_cast<int>(stats.size() / 3);
  double score = 0, avg_prec = 0, avg_rec = 0;
  int effective_order = 0;
  for (int n = 0; n < N; ++n) {
    double hyp = static_cast<double>(stats[3 * n]), ref = static_cast<double>(stats[3 * n + 1]),
           match = static_cast<double>(stats[3 * n + 2]);
    double prec = hyp > 0 ? match / hyp : eps;
    double rec = ref > 0 ? match / ref : eps;
    double denom = factor * prec + rec;
    score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
    if (hyp > 0 && ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (o.eps_smoothing) return 100 * score / N;
  if (effective_order == 0) return 0.0;
  avg_prec /= effective_order;
  avg_rec /= effective_order;
  if (avg_prec + avg_rec == 0) return 0.0;
  return 100 * ((1 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec));
}

double corpus_chrf(const Lines& hyps, const References& refs, const ChrfOptions& o) {
  return chrf_from_stats(chrf_stats(hyps, refs, o), o);
}

std::string chrf_signature(const ChrfOptions& o, const std::string& nrefs) {
  return "nrefs:" + nrefs + "|case:" + (o.lowercase ? "lc" : "mixed") + "|eff:" + (o.eps_smoothing ? "no" : "yes") +
         "|nc:" + std::to_string(o.char_order) + "|nw:0|space:" + (o.whitespace ? "yes" : "no") +
         "|version:" + kSacrebleuVersion;
}

std::string format_chrf(double score, const ChrfOptions& o, const std::string& nrefs) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", score);
  return "chrF" + std::to_string(o.beta) + "|" + chrf_signature(o, nrefs) + " = " + b;
}

}  // namespace qkv::score
