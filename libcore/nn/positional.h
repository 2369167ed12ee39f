// Sinusoidal positional encoding ("Attention Is All You Need", 3.5):
//   PE[pos, 2i] = sin(pos / 10000^(2i/C)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/C))
// (the same table as the PyTorch tutorial's PositionalEncoding). A learned
// positional embedding is an Embedding indexed by position (nn/embedding.h).
#pragma once
#include <cstdint>

namespace qkv::nn {

// table (T, C) = PE for positions offset .. offset + T - 1 (computed in double).
void sinusoidal_table(float* table, int64_t T, int64_t C, int64_t offset = 0);

// x (B, T, C) = x * scale + table (T, C) broadcast over B. The paper scales
// embeddings by sqrt(C) before adding; pass scale = 1 for none.
void add_positional(float* x, const float* table, int64_t B, int64_t T, int64_t C, float scale = 1.0f);
// Backward of add_positional (the table is constant): dinp (n) += scale * dout (n).
void add_positional_backward(float* dinp, const float* dout, int64_t n, float scale = 1.0f);

}  // namespace qkv::nn
