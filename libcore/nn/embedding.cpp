#include "nn/embedding.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "nn/fast_math.h"

namespace qkv::nn {

void embedding_forward(float* out, const int32_t* ids, const float* weight, int64_t N, int64_t V, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t id = ids[n];
    if (id < 0 || id >= V)
      throw DataError("token id " + std::to_string(id) + " at position " + std::to_string(n) +
                      " is outside the vocabulary [0, " + std::to_string(V) + ")");
    std::memcpy(out + n * C, weight + id * C, sizeof(float) * C);  // (C)
  }
}

QKV_SIMD_CLONES
void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t N, int64_t C,
                        int64_t padding_idx) {
  for (int64_t n = 0; n < N; ++n) {
    int64_t id = ids[n];
    if (id == padding_idx) continue;
    float* dw = dweight + id * C;      // (C)
    const float* d = dout + n * C;     // (C)
    for (int64_t c = 0; c < C; ++c) dw[c] += d[c];
  }
}

}  // namespace qkv::nn
