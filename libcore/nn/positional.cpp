#include "nn/positional.h"

#include <cmath>

#include "nn/fast_math.h"

namespace qkv::nn {

void sinusoidal_table(float* table, int64_t T, int64_t C, int64_t offset) {
  for (int64_t t = 0; t < T; ++t) {
    double pos = static_cast<double>(t + offset);
    for (int64_t i = 0; i < C; i += 2) {
      double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(C));
      table[t * C + i] = static_cast<float>(std::sin(pos * freq));
      if (i + 1 < C) table[t * C + i + 1] = static_cast<float>(std::cos(pos * freq));
    }
  }
}

QKV_SIMD_CLONES
void add_positional(float* x, const float* table, int64_t B, int64_t T, int64_t C, float scale) {
  for (int64_t b = 0; b < B; ++b) {
    float* xb = x + b * T * C;  // (T, C)
    for (int64_t i = 0; i < T * C; ++i) xb[i] = xb[i] * scale + table[i];
  }
}

QKV_SIMD_CLONES
void add_positional_backward(float* dinp, const float* dout, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += scale * dout[i];
}

}  // namespace qkv::nn
