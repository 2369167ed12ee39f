#include "nn/teacher_forcing.h"

#include <algorithm>

namespace qkv::nn {

std::vector<int32_t> strip_bos_eos(const int32_t* y, int64_t n, int32_t bos, int32_t eos) {
  int64_t a = 0, b = n;
  if (b > a && y[a] == bos) ++a;
  if (b > a && y[b - 1] == eos) --b;
  return std::vector<int32_t>(y + a, y + b);
}

int64_t pair_length(int64_t src_len, int64_t tgt_len, int64_t max_src, int64_t max_tgt) {
  int64_t s = src_len, t = tgt_len + 1;
  if (max_src > 0) s = std::min(s, max_src);
  if (max_tgt > 0) t = std::min(t, max_tgt);
  return std::max(s, t);
}

Batch pair_batch(const std::vector<std::vector<int32_t>>& src, const std::vector<std::vector<int32_t>>& y,
                 int64_t max_tgt, const PairIds& ids) {
  const int64_t B = static_cast<int64_t>(src.size());
  int64_t S = 1, T = 1;
  for (int64_t r = 0; r < B; ++r) {
    S = std::max<int64_t>(S, static_cast<int64_t>(src[r].size()));
    int64_t t = static_cast<int64_t>(y[r].size()) + 1;
    if (max_tgt > 0) t = std::min(t, max_tgt);
    T = std::max(T, t);
  }
  std::vector<int32_t> s(B * S, ids.src_pad);                                // (B, S)
  std::vector<int32_t> tgt_in(B * T, ids.tgt_pad), tgt_out(B * T, ids.tgt_pad);  // (B, T) each
  for (int64_t r = 0; r < B; ++r) {
    std::copy(src[r].begin(), src[r].end(), s.begin() + r * S);
    const std::vector<int32_t>& yr = y[r];
    int32_t* ti = tgt_in.data() + r * T;
    int32_t* to = tgt_out.data() + r * T;
    const int64_t n = static_cast<int64_t>(yr.size()), L = std::min<int64_t>(n + 1, T);
    for (int64_t t = 0; t < L; ++t) {
      ti[t] = t == 0 ? ids.bos : yr[t - 1];
      to[t] = t < n ? yr[t] : ids.eos;
    }
  }
  return Batch::seq2seq(B, S, T, std::move(s), std::move(tgt_in), std::move(tgt_out));
}

}  // namespace qkv::nn
