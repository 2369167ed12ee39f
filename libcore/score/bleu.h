// Corpus BLEU as sacreBLEU 2.x computes it (Papineni et al. 2002; smoothing
// methods of Chen & Cherry 2014): n-gram matches clipped by the most any one
// reference has, summed over the corpus; the brevity penalty from the summed
// hypothesis length and the summed closest reference lengths (ties: the
// shorter reference).
//
//   score::BleuOptions o;                       // 13a, exp smoothing, orders 1-4
//   score::BleuScore s = score::corpus_bleu(hyps, refs, o);   // refs[i]: the references of hyps[i]
//   std::cout << score::format_bleu(s, o, score::nrefs_label(refs)) << "\n";
//   // BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/... (BP = ...)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "score/tokenize.h"

namespace qkv::score {

// The sacreBLEU release whose behaviour (and test values) qkv's scores reproduce.
inline constexpr const char* kSacrebleuVersion = "2.6.0";

using Lines = std::vector<std::string>;             // UTF-8, one segment each
using References = std::vector<std::vector<std::string>>;  // references of each segment (>= 1)

enum class Smooth { kExp, kNone, kFloor, kAddK };

struct BleuOptions {
  Tokenize tokenize = Tokenize::k13a;
  bool lowercase = false;
  Smooth smooth = Smooth::kExp;
  double smooth_value = -1;      // floor / add-k; -1: 0.1 / 1
  int max_order = 4;
  bool effective_order = false;  // average only the orders the hypotheses have (sentence BLEU)
};

// Sufficient statistics, summed over segments.
struct BleuStats {
  int64_t sys_len = 0, ref_len = 0;
  std::vector<int64_t> correct, total;  // (max_order): matched and hypothesis n-grams of order n+1
};

struct BleuScore {
  double score = 0;   // 0-100
  double bp = 0;      // brevity penalty
  std::vector<double> precisions;  // (max_order) percent
  BleuStats stats;
};

BleuStats bleu_stats(const Lines& hyps, const References& refs, const BleuOptions& o);
BleuScore bleu_from_stats(const BleuStats& stats, const BleuOptions& o);
BleuScore corpus_bleu(const Lines& hyps, const References& refs, const BleuOptions& o);

// "1", "2", ... or "var" when segments have different numbers of references.
std::string nrefs_label(const References& refs);

std::string bleu_signature(const BleuOptions& o, const std::string& nrefs);
// sacreBLEU's line: "BLEU|<signature> = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)".
std::string format_bleu(const BleuScore& s, const BleuOptions& o, const std::string& nrefs);

}  // namespace qkv::score
