// qkv-train --valid-metric loss|bleu|chrf|wer: the validation number that
// chooses the best checkpoint (--best) and drives --early-stopping. bleu, chrf
// and wer decode the validation sources (nn/decoding.h, beam --valid-beam K,
// greedy when K = 1, as qkv-decode does); wer is qkv-train's word error rate
// (a decoded sequence is wrong unless equal to one of its source's references,
// SequenceScorer); bleu and chrf are corpus BLEU and chrF2 of libcore/score
// (as `qkv-decode score --tokenize none` computes them) on the token ids
// written as space-separated numbers: a token_pairs file records its
// tokenizer's SHA-256, not the tokenizer, so ids are what can be scored.
//
//   IdScorer s;  s.add(hyp_ids, {ref_ids, ...});   // per decoded source
//   s.totals() / s.set_totals(sums over processes);  s.bleu(); s.chrf();   // percent
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "score/bleu.h"

namespace qkv::train {

enum class ValidMetric { loss, bleu, chrf, wer };

ValidMetric valid_metric_from_name(const std::string& name);  // UsageError on another name
bool decodes(ValidMetric m);          // bleu, chrf, wer
bool higher_is_better(ValidMetric m);  // bleu, chrf

// "5 17 3": how ids are written for BLEU and chrF.
std::string id_string(const std::vector<int32_t>& ids);

class IdScorer {
 public:
  void add(const std::vector<int32_t>& hyp, const std::vector<std::vector<int32_t>>& refs);
  // BLEU (sys_len, ref_len, correct[4], total[4]) then chrF's 3 x 6 statistics: sums over segments.
  std::vector<double> totals() const;
  void set_totals(const std::vector<double>& t);
  double bleu() const;
  double chrf() const;

 private:
  score::Lines hyps_;
  score::References refs_;
  std::vector<double> totals_;  // set_totals: replaces the lines' statistics
};

}  // namespace qkv::train
