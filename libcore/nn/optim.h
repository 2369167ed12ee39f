// Optimizers over a ParamStore's flat buffers (one loop over all parameters),
// learning-rate schedules and gradient clipping. Formulas follow PyTorch 1.13
// (torch.optim.AdamW, torch.optim.SGD) operation for operation, so a qkv run
// and the PyTorch equivalent agree to float rounding.
//
//   OptimConfig oc;  oc.kind = "adamw";  oc.weight_decay = 0.1;
//   Optimizer opt(oc, model.params());
//   Schedule sched{"cosine", base_lr, warmup, total_steps, min_lr};
//   double norm = clip_grad_norm(model.params(), 1.0);     // returns the norm before clipping
//   opt.step(sched.lr(opt.steps()));
//
// Weight decay applies only to parameters whose ParamInfo::decay is set
// (matrices and embeddings by default; not biases and norms).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "nn/config.h"
#include "nn/param_store.h"

namespace qkv::nn {

struct OptimConfig {
  std::string kind = "adamw";  // "adamw" | "sgd"
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adamw
  double momentum = 0.9;                          // sgd (0 = plain SGD)
  bool nesterov = false;                          // sgd
  double weight_decay = 0.0;  // adamw: decoupled (p -= lr*wd*p); sgd: L2 added to the gradient (as PyTorch)

  // "optim=adamw beta1=0.9 ..." as root attributes of /optimizer.
  Config to_config() const;
  static OptimConfig from_config(const Config& c);  // UsageError on bad values
};

class Optimizer {
 public:
  Optimizer(OptimConfig cfg, ParamStore& ps);
  const OptimConfig& config() const { return cfg_; }
  void step(double lr);           // one update with the current gradients
  int64_t steps() const { return step_; }  // updates done so far
  void set_steps(int64_t s) { step_ = s; }

  // Moments, flat, same layout as ParamStore::params() (size() floats).
  // adamw: m = exp_avg, v = exp_avg_sq; sgd: m = momentum buffer, v unused (empty).
  float* m() { return m_.get(); }
  float* v() { return v_.get(); }
  const float* m() const { return m_.get(); }
  const float* v() const { return v_.get(); }
  int64_t size() const { return n_; }
  bool has_v() const { return cfg_.kind == "adamw"; }

 private:
  OptimConfig cfg_;
  ParamStore& ps_;
  int64_t n_ = 0;
  int64_t step_ = 0;
  std::unique_ptr<float[]> m_, v_;
};

// Learning-rate schedules. step counts updates already done (0 for the first).
//   constant:  lr = base (after an optional linear warmup)
//   cosine:    linear warmup from base/warmup to base over `warmup` steps, then
//              cosine decay to min_lr at step `total`, min_lr afterwards
//   inv_sqrt:  Noam / "Attention Is All You Need": base * min((s+1)/warmup, sqrt(warmup/(s+1)));
//              peaks at base at s+1 = warmup. (AIAYN's d_model^-0.5 * warmup^-0.5 is base.)
struct Schedule {
  std::string kind = "constant";
  double base_lr = 1e-3;
  int64_t warmup = 0;
  int64_t total = 0;
  double min_lr = 0.0;
  double lr(int64_t step) const;
  void validate() const;  // UsageError on bad values
};

// Scales all gradients so their global L2 norm is at most max_norm (as
// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), only
// when < 1). max_norm <= 0 only measures. Returns the norm before clipping.
double clip_grad_norm(ParamStore& ps, double max_norm);

}  // namespace qkv::nn
