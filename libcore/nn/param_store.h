// ParamStore: every parameter of a model in one flat float buffer, with a
// gradient buffer of the same layout, so the optimizer, gradient clipping and
// checkpoints are single loops over contiguous memory.
//
// Two phases: a model's constructor add()s each parameter (PyTorch name and
// shape, e.g. "transformer.h.0.attn.in_proj_weight", {3*d, d}) and keeps the
// returned handle; finalize() allocates (params and grads zero-filled,
// 64-byte aligned, each parameter starting on a 16-float boundary); after that
// param(h) / grad(h) give stable pointers.
//
//   ParamStore ps;
//   ParamId w = ps.add("lm_head.weight", {V, C});            // decays by default if ndim >= 2
//   ParamId b = ps.add("ln_f.bias", {C});                     // no decay (1-D)
//   ps.finalize();
//   Rng rng(seed); ps.init_normal(w, rng, 0.02f); ps.init_const(b, 0.0f);
//   float* pw = ps.param(w);  float* gw = ps.grad(w);         // (V, C)
//
// Weight decay default: parameters of rank >= 2 (matrices, embeddings, conv
// kernels) decay; rank-1 (biases, norm gains, [CLS] token vectors of rank 1)
// do not. add() can override it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tensor/tensor.h"

namespace qkv::nn {

using ParamId = int;

struct ParamInfo {
  std::string name;  // PyTorch state_dict name
  Shape shape;       // PyTorch shape
  int64_t offset = 0;  // in floats, into params() / grads()
  int64_t numel = 0;
  bool decay = true;   // weight decay applies
};

enum class Decay { by_rank, yes, no };

class ParamStore {
 public:
  ParamStore() = default;
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  // Registers a parameter (before finalize()). Names must be unique.
  ParamId add(const std::string& name, Shape shape, Decay decay = Decay::by_rank);
  void finalize();  // allocates params and grads (zero); no add() afterwards
  bool finalized() const { return finalized_; }

  int count() const { return static_cast<int>(infos_.size()); }
  const std::vector<ParamInfo>& infos() const { return infos_; }
  const ParamInfo& info(ParamId id) const { return infos_.at(static_cast<size_t>(id)); }
  ParamId find(const std::string& name) const;  // -1 when absent
  int64_t size() const { return total_; }        // floats in the flat buffers (with alignment padding)
  int64_t num_params() const;                    // sum of numel (no padding)

  float* params() { return params_.get(); }
  const float* params() const { return params_.get(); }
  float* grads() { return grads_.get(); }
  const float* grads() const { return grads_.get(); }
  float* param(ParamId id) { return params_.get() + info(id).offset; }
  const float* param(ParamId id) const { return params_.get() + info(id).offset; }
  float* grad(ParamId id) { return grads_.get() + info(id).offset; }
  const float* grad(ParamId id) const { return grads_.get() + info(id).offset; }

  // A parameter as a Tensor copy with its PyTorch shape (for checkpoints and tests).
  Tensor param_tensor(ParamId id) const;
  Tensor grad_tensor(ParamId id) const;

  void zero_grad();

  // Overlap of the backward with the gradients' sum over ranks (data
  // parallel: train/grad_sum.h). Parameters are registered in forward order
  // and a backward runs the layers in reverse, so it finishes the gradients
  // from the end of the buffer down. A model marks where each layer begins
  // (mark() before add()ing its first parameter: the offset that parameter
  // gets) and, once its backward is done with the layer, calls
  // grads_final_from(that mark): every gradient from there to the end of the
  // buffer then holds its final value for this backward. That holds only if
  // no parameter beyond the mark is touched later, tied ones included: tied
  // and shared embeddings, written at the end of a backward, are registered
  // first (tests/train_grad_sum_test.cpp checks every model). The hook, when
  // set, may start summing that region; offsets only decrease within one
  // backward.
  int64_t mark();
  const std::vector<int64_t>& marks() const { return marks_; }  // increasing
  using GradsFinalHook = std::function<void(int64_t offset)>;
  void set_grads_final_hook(GradsFinalHook hook) { grads_final_hook_ = std::move(hook); }
  void grads_final_from(int64_t offset) const {
    if (grads_final_hook_) grads_final_hook_(offset);
  }

  // Initializers (PyTorch conventions; bounds/std given by the caller).
  void init_normal(ParamId id, Rng& rng, float std, float mean = 0.0f);
  void init_uniform(ParamId id, Rng& rng, float lo, float hi);
  void init_const(ParamId id, float value);
  // PyTorch nn.Linear / nn.Conv default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = numel / shape[0].
  void init_fan_in_uniform(ParamId id, Rng& rng);
  // Xavier/Glorot uniform with fan_in = shape[1], fan_out = shape[0] (as nn.init.xavier_uniform_ on a 2-D weight).
  void init_xavier_uniform(ParamId id, Rng& rng, float gain = 1.0f);

 private:
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  static std::unique_ptr<float[], FreeDeleter> alloc(int64_t n);

  std::vector<ParamInfo> infos_;
  int64_t total_ = 0;
  bool finalized_ = false;
  std::unique_ptr<float[], FreeDeleter> params_, grads_;
  std::vector<int64_t> marks_;
  GradsFinalHook grads_final_hook_;
};

}  // namespace qkv::nn
