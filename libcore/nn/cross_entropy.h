// Softmax cross-entropy over logits (PyTorch F.cross_entropy with
// label_smoothing, ignore_index and reduction="mean"):
//   loss_n = -(1 - eps) log p[n, t_n] - (eps / V) sum_j log p[n, j]
//   loss   = sum over rows whose target != ignore_index, / count of those rows.
// With every row ignored the loss is 0 and count 0 (PyTorch gives NaN).
#pragma once
#include <cstdint>

namespace qkv::nn {

struct CrossEntropyResult {
  double loss = 0.0;   // mean over counted rows (0 when count == 0)
  double sum = 0.0;    // sum over counted rows (for accumulating over batches)
  int64_t count = 0;   // rows whose target != ignore_index
};

// probs (N, V) receives softmax(logits) for the backward; probs may equal
// logits (in place). logits (N, V), targets (N). losses (N), if not null,
// gets each row's loss (0 for ignored rows). Throws DataError for a target
// outside [0, V) that is not ignore_index.
CrossEntropyResult cross_entropy_forward(float* probs, const float* logits, const int32_t* targets, int64_t N,
                                         int64_t V, float label_smoothing = 0.0f, int64_t ignore_index = -100,
                                         float* losses = nullptr);

// dlogits (N, V) += dloss / fwd.count * (probs - q), q = (1 - eps) onehot(t) + eps / V,
// for counted rows; ignored rows get nothing. probs (N, V) from the forward.
void cross_entropy_backward(float* dlogits, const float* probs, const int32_t* targets, int64_t N, int64_t V,
                            const CrossEntropyResult& fwd, float label_smoothing = 0.0f,
                            int64_t ignore_index = -100, float dloss = 1.0f);

}  // namespace qkv::nn
