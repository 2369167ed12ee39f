// Per-head statistics of one attention map of one example, each a mean over
// the query rows that attend to something (a row of all zeros, a query whose
// every key is masked, is skipped):
//
//   entropy      -sum_j a_ij ln a_ij (nats)
//   distance     sum_j a_ij |pos(i) - j|, in tokens, pos(i) = i + Tk - Tq
//                (the causal alignment of nn/attention.h); aligned maps only
//   distance_px  sum_j a_ij ||c_i - c_j||, in pixels between patch centres,
//                over patch queries and patch keys only (a [CLS] token has no
//                place; its weight is left out, not renormalised), as the ViT
//                paper's figure 7 and the Keras "investigating ViT
//                representations" code; patch grids only
//   confidence   max_j a_ij (Voita et al. 2019)
//   first        a_i0: the share on the first token
//   special      sum over special keys j of a_ij (special: the caller's mask)
//   prev, next   a_i,pos(i)-1 and a_i,pos(i)+1 (rows where that key exists);
//                aligned maps only
//   monotone     share of query rows whose argmax key (the first of equal
//                maxima) is not left of the previous row's: 1 when the
//                alignment moves left to right (G2P letters -> phones);
//                cross-attention only (rows after the first)
//
// A statistic that does not apply (distance for cross-attention, monotone for
// self-attention, distance_px
// without a patch grid, special without a mask) is NaN.
#pragma once
#include <cstdint>
#include <vector>

namespace qkv::attend {

enum HeadStat : int {
  kEntropy, kDistance, kDistancePx, kConfidence, kFirst, kSpecial, kPrev, kNext, kMonotone, kNumHeadStats
};
const char* head_stat_name(int s);
std::vector<const char*> head_stat_names();  // in HeadStat order

// Where the tokens of a ViT sit in the image: tokens [first_patch, T) are the
// patches of a rows x cols grid in row-major order, patch (r, c) covering
// pixels [r * stride_h, r * stride_h + patch_h) x [c * stride_w, ...).
struct PatchGrid {
  int64_t first_patch = 0;  // 1 with a [CLS] token in front
  int64_t rows = 0, cols = 0;
  int64_t patch_h = 0, patch_w = 0, stride_h = 0, stride_w = 0;
};

struct HeadStatsInput {
  bool aligned = true;                // self-attention: query i sits at key position i + Tk - Tq
  const uint8_t* special = nullptr;   // (Tk), nonzero = special key; null = no mask
  const PatchGrid* grid = nullptr;    // keys and queries are image tokens; null = text
};

// out (H, kNumHeadStats) from att (H, Tq, Tk).
void head_stats(float* out, const float* att, int64_t H, int64_t Tq, int64_t Tk, const HeadStatsInput& in);

}  // namespace qkv::attend
