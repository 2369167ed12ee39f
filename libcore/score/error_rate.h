// Error rates from Levenshtein distances (unit costs), summed over a corpus:
//   WER, word error rate: edits between the hypothesis' and the reference's
//     tokens / reference tokens (for phone strings, the phone error rate);
//   SER, sequence error rate: the share of hypotheses equal to no reference
//     (in G2P, where a line is one word, what is called the word error rate).
// With several references, each hypothesis is scored against the closest one
// (fewest edits; among those, the longest).
//
//   score::ErrorRates e = score::error_rates(hyps, refs, score::Tokenize::k13a, false);
//   e.wer(); e.ser();
//   score::closest_reference(hyp, refs)   // any token type: ids, words
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "score/bleu.h"

namespace qkv::score {

template <class T>
int64_t edit_distance(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<int64_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

struct Closest {
  int64_t edits = -1, ref_len = 0;
};

// The reference with the fewest edits from hyp; among equally close ones the
// longest (the kinder rate). refs must not be empty.
template <class T>
Closest closest_reference(const std::vector<T>& hyp, const std::vector<std::vector<T>>& refs) {
  Closest best;
  for (const auto& r : refs) {
    int64_t d = edit_distance(hyp, r), len = static_cast<int64_t>(r.size());
    if (best.edits < 0 || d < best.edits || (d == best.edits && len > best.ref_len)) best = {d, len};
  }
  return best;
}

struct ErrorRates {
  int64_t edits = 0, ref_tokens = 0;  // summed over the closest references
  int64_t wrong = 0, lines = 0;       // hypotheses equal to no reference, all hypotheses
  void add(const Closest& c) {
    edits += c.edits;
    ref_tokens += c.ref_len;
    wrong += c.edits != 0;
    ++lines;
  }
  double wer() const { return ref_tokens ? static_cast<double>(edits) / ref_tokens : 0.0; }
  double ser() const { return lines ? static_cast<double>(wrong) / lines : 0.0; }
};

// Tokens as BLEU counts them (score/tokenize.h).
ErrorRates error_rates(const Lines& hyps, const References& refs, Tokenize t, bool lowercase);

}  // namespace qkv::score
