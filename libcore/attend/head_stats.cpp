#include "attend/head_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace qkv::attend {

namespace {
constexpr const char* kNames[kNumHeadStats] = {"entropy", "distance", "distance_px", "confidence", "first",
                                               "special", "prev",     "next",        "monotone"};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Running means of the statistics over query rows (each with its own count).
struct Means {
  double sum[kNumHeadStats] = {};
  int64_t n[kNumHeadStats] = {};
  void add(int s, double v) { sum[s] += v, ++n[s]; }
  float get(int s) const { return static_cast<float>(n[s] ? sum[s] / static_cast<double>(n[s]) : kNaN); }
};

double pixel_distance(const PatchGrid& g, int64_t p, int64_t q) {  // patches p, q (grid order)
  const double dy = static_cast<double>((p / g.cols - q / g.cols) * g.stride_h);
  const double dx = static_cast<double>((p % g.cols - q % g.cols) * g.stride_w);
  return std::sqrt(dy * dy + dx * dx);
}
}  // namespace

const char* head_stat_name(int s) { return kNames[s]; }
std::vector<const char*> head_stat_names() { return {kNames, kNames + kNumHeadStats}; }

void head_stats(float* out, const float* att, int64_t H, int64_t Tq, int64_t Tk, const HeadStatsInput& in) {
  const PatchGrid* g = in.grid;
  if (g) QKV_CHECK(g->first_patch + g->rows * g->cols == Tk && Tq == Tk, "patch grid does not match the map");
  for (int64_t h = 0; h < H; ++h) {
    Means m;
    int64_t prev_arg = -1;  // argmax key of the previous row that attends
    for (int64_t i = 0; i < Tq; ++i) {
      const float* a = att + (h * Tq + i) * Tk;  // (Tk)
      double total = 0, entropy = 0, dist = 0, special = 0, dist_px = 0;
      float mx = 0.0f;
      const int64_t pos = i + Tk - Tq;
      for (int64_t j = 0; j < Tk; ++j) {
        const double w = a[j];
        total += w;
        if (w > 0) entropy -= w * std::log(w);
        mx = std::max(mx, a[j]);
        dist += w * static_cast<double>(std::llabs(pos - j));
        if (in.special && in.special[j]) special += w;
        if (g && i >= g->first_patch && j >= g->first_patch)
          dist_px += w * pixel_distance(*g, i - g->first_patch, j - g->first_patch);
      }
      if (total <= 0) continue;  // every key masked
      m.add(kEntropy, entropy);
      m.add(kConfidence, mx);
      m.add(kFirst, a[0]);
      if (in.special) m.add(kSpecial, special);
      if (g && i >= g->first_patch) m.add(kDistancePx, dist_px);
      if (!in.aligned) {
        const int64_t arg = std::max_element(a, a + Tk) - a;  // the first of equal maxima
        if (prev_arg >= 0) m.add(kMonotone, arg >= prev_arg ? 1.0 : 0.0);
        prev_arg = arg;
        continue;
      }
      m.add(kDistance, dist);
      if (pos - 1 >= 0 && pos - 1 < Tk) m.add(kPrev, a[pos - 1]);
      if (pos + 1 < Tk) m.add(kNext, a[pos + 1]);
    }
    for (int s = 0; s < kNumHeadStats; ++s) out[h * kNumHeadStats + s] = m.get(s);
  }
}

}  // namespace qkv::attend
