#include "nn/batch_rules.h"

#include <algorithm>

namespace qkv::nn {

int64_t lm_window_count(int64_t tokens, int64_t T, int64_t S, int64_t spare) {
  const int64_t usable = tokens - 1 - spare;  // a window's start + T must stay <= usable
  return usable >= T ? (usable - T) / S + 1 : 0;
}

Batch lm_window_batch(const int32_t* stream, const std::vector<int64_t>& starts, int64_t T) {
  const int64_t B = static_cast<int64_t>(starts.size());
  std::vector<int32_t> inp(B * T), tgt(B * T);  // (B, T) each
  for (int64_t r = 0; r < B; ++r) {
    const int32_t* w = stream + starts[r];
    std::copy(w, w + T, inp.begin() + r * T);
    std::copy(w + 1, w + 1 + T, tgt.begin() + r * T);
  }
  return Batch::lm(B, T, std::move(inp), std::move(tgt));
}

int64_t lm_sequence_length(int64_t len, int64_t T) { return std::min(len - 1, T); }

int64_t lm_sequence_padded_length(int64_t len, int64_t T) { return std::max<int64_t>(1, lm_sequence_length(len, T)); }

Batch lm_sequence_batch(const formats::Sequences& s, const std::vector<int64_t>& idx, int64_t T, int64_t min_T) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t W = std::max<int64_t>(1, min_T);
  for (int64_t i : idx) W = std::max(W, lm_sequence_padded_length(s.len(i), T));
  std::vector<int32_t> inp(B * W, s.vocab.pad_id), tgt(B * W, kIgnoreIndex);  // (B, W) each
  for (int64_t r = 0; r < B; ++r) {
    const int32_t* w = s.seq(idx[r]);
    const int64_t L = lm_sequence_length(s.len(idx[r]), T);
    std::copy(w, w + L, inp.begin() + r * W);
    std::copy(w + 1, w + 1 + L, tgt.begin() + r * W);
  }
  return Batch::lm(B, W, std::move(inp), std::move(tgt));
}

std::vector<int32_t> pair_reference(const int32_t* y, int64_t len, const formats::Vocab& v) {
  int64_t a = 0, b = len;
  if (b > a && y[a] == v.bos_id) ++a;
  if (b > a && y[b - 1] == v.eos_id) --b;
  return std::vector<int32_t>(y + a, y + b);
}

int64_t pair_source_length(int64_t src_len, int64_t max_src) {
  return max_src > 0 ? std::min(src_len, max_src) : src_len;
}

int64_t pair_target_length(int64_t reference_len, int64_t max_tgt) {
  return max_tgt > 0 ? std::min(reference_len + 1, max_tgt) : reference_len + 1;
}

int64_t pair_padded_length(const formats::Pairs& p, int64_t i, int64_t max_src, int64_t max_tgt) {
  const int64_t ref = static_cast<int64_t>(pair_reference(p.tgt.seq(i), p.tgt.len(i), p.tgt.vocab).size());
  return std::max({int64_t{1}, pair_source_length(p.src.len(i), max_src), pair_target_length(ref, max_tgt)});
}

std::vector<std::vector<int64_t>> token_batches(const std::vector<int64_t>& order, const std::vector<int64_t>& lengths,
                                                int64_t max_tokens) {
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> cur;
  int64_t longest = 0;
  for (int64_t i : order) {
    const int64_t l = std::max(longest, lengths[i]);
    if (!cur.empty() && l * static_cast<int64_t>(cur.size() + 1) > max_tokens) {
      batches.push_back(std::move(cur));
      cur.clear();
      longest = 0;
    }
    cur.push_back(i);
    longest = std::max(longest, lengths[i]);
  }
  if (!cur.empty()) batches.push_back(std::move(cur));
  return batches;
}

Batch pair_batch(const formats::Pairs& p, const std::vector<int64_t>& idx, int64_t max_src, int64_t max_tgt,
                 int64_t min_S, int64_t min_T) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t S = std::max<int64_t>(1, min_S), T = std::max<int64_t>(1, min_T);
  std::vector<std::vector<int32_t>> ys;
  for (int64_t i : idx) {
    S = std::max(S, pair_source_length(p.src.len(i), max_src));
    ys.push_back(pair_reference(p.tgt.seq(i), p.tgt.len(i), p.tgt.vocab));
    T = std::max(T, pair_target_length(static_cast<int64_t>(ys.back().size()), max_tgt));
  }
  const formats::Vocab& sv = p.src.vocab;
  const formats::Vocab& tv = p.tgt.vocab;
  std::vector<int32_t> src(B * S, sv.pad_id);                                 // (B, S)
  std::vector<int32_t> tgt_in(B * T, tv.pad_id), tgt_out(B * T, tv.pad_id);  // (B, T) each
  for (int64_t r = 0; r < B; ++r) {
    const int64_t i = idx[r];
    std::copy(p.src.seq(i), p.src.seq(i) + pair_source_length(p.src.len(i), max_src), src.begin() + r * S);
    // tgt_in = bos y, tgt_out = y eos, both cut to the pair's target length.
    const std::vector<int32_t>& y = ys[r];
    int32_t* ti = tgt_in.data() + r * T;
    int32_t* to = tgt_out.data() + r * T;
    const int64_t L = pair_target_length(static_cast<int64_t>(y.size()), max_tgt);
    for (int64_t t = 0; t < L; ++t) {
      ti[t] = t == 0 ? tv.bos_id : y[t - 1];
      to[t] = t < static_cast<int64_t>(y.size()) ? y[t] : tv.eos_id;
    }
  }
  return Batch::seq2seq(B, S, T, std::move(src), std::move(tgt_in), std::move(tgt_out));
}

}  // namespace qkv::nn
