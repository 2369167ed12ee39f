#include "nn/model.h"

#include <type_traits>

#include "core/error.h"
#include "nn/decoder.h"

namespace qkv::nn {

bool Batch::has_targets(Task task) const {
  switch (task) {
    case Task::language_model: return !tgt.empty();
    case Task::seq2seq: return !tgt_out.empty();
    case Task::classify: return !labels.empty();
  }
  return false;
}

Batch Batch::lm(int64_t B, int64_t T, std::vector<int32_t> inp, std::vector<int32_t> tgt) {
  Batch b;
  b.B = B;
  b.T = T;
  b.inp = std::move(inp);
  b.tgt = std::move(tgt);
  return b;
}

Batch Batch::seq2seq(int64_t B, int64_t S, int64_t T, std::vector<int32_t> src, std::vector<int32_t> tgt_in,
                     std::vector<int32_t> tgt_out) {
  Batch b;
  b.B = B;
  b.S = S;
  b.T = T;
  b.src = std::move(src);
  b.tgt_in = std::move(tgt_in);
  b.tgt_out = std::move(tgt_out);
  return b;
}

Batch Batch::images(int64_t B, int64_t P, int64_t D, std::vector<float> patches, std::vector<int32_t> labels) {
  Batch b;
  b.B = B;
  b.P = P;
  b.D = D;
  b.patches = std::move(patches);
  b.labels = std::move(labels);
  return b;
}

Batch Batch::rows(int64_t begin, int64_t end) const {
  QKV_CHECK(0 <= begin && begin <= end && end <= B, "Batch::rows outside the batch");
  auto cut = [&](const auto& v) {  // (B, ...) -> (end - begin, ...)
    using V = std::decay_t<decltype(v)>;
    if (v.empty()) return V();
    const size_t per_row = v.size() / static_cast<size_t>(B);
    return V(v.begin() + begin * per_row, v.begin() + end * per_row);
  };
  Batch b;
  b.B = end - begin;
  b.T = T;
  b.S = S;
  b.P = P;
  b.D = D;
  b.inp = cut(inp);
  b.tgt = cut(tgt);
  b.src = cut(src);
  b.tgt_in = cut(tgt_in);
  b.tgt_out = cut(tgt_out);
  b.patches = cut(patches);
  b.labels = cut(labels);
  return b;
}

std::unique_ptr<Decoder> Model::decoder() {
  throw UsageError("'" + arch_ + "' is a " + task_name(task()) + " model: it does not generate tokens");
}

void Model::backward_from_logits(const float*) {
  throw UsageError("'" + arch_ + "' has no multi-head attention: no gradients of attention heads to take");
}

}  // namespace qkv::nn
