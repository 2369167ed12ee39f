// chrF (Popović 2015) as sacreBLEU 2.x computes it: character n-grams of
// orders 1..6 (whitespace removed unless asked), per order hypothesis,
// reference and matched counts summed over the corpus (for each segment the
// reference with the best F), then F-beta of the precision and recall
// averaged over the orders both sides have (sacreBLEU's default, "eff:yes"),
// or averaged F-scores with epsilon smoothing (chrF++.py, "eff:no").
// Word n-grams (chrF++) are not offered.
//
//   score::ChrfOptions o;                                   // chrF2
//   double f = score::corpus_chrf(hyps, refs, o);           // 0-100
//   score::format_chrf(f, o, "1")   // chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 64.13
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "score/bleu.h"

namespace qkv::score {

struct ChrfOptions {
  int char_order = 6;
  int beta = 2;
  bool lowercase = false;
  bool whitespace = false;     // keep whitespace in the character n-grams
  bool eps_smoothing = false;
};

// (3 * char_order): hypothesis, reference and matched n-grams of each order, summed over segments.
std::vector<int64_t> chrf_stats(const Lines& hyps, const References& refs, const ChrfOptions& o);
double chrf_from_stats(const std::vector<int64_t>& stats, const ChrfOptions& o);
double corpus_chrf(const Lines& hyps, const References& refs, const ChrfOptions& o);

std::string chrf_signature(const ChrfOptions& o, const std::string& nrefs);
std::string format_chrf(double score, const ChrfOptions& o, const std::string& nrefs);

}  // namespace qkv::score
