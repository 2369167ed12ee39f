// Embedding (PyTorch nn.Embedding): rows of a (V, C) table picked by token ids.
// A learned positional embedding is the same layer indexed by position.
#pragma once
#include <cstdint>

namespace qkv::nn {

// out (N, C) = weight (V, C)[ids (N)]. Throws DataError naming the id when one
// is outside [0, V).
void embedding_forward(float* out, const int32_t* ids, const float* weight, int64_t N, int64_t V, int64_t C);

// dweight (V, C) += scatter-add of dout (N, C) at ids (N). Rows whose id equals
// padding_idx get no gradient (PyTorch's padding_idx); -1 = none.
void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t N, int64_t C,
                        int64_t padding_idx = -1);

}  // namespace qkv::nn
