#include "train/accumulate.h"

#include <cmath>

namespace qkv::train {

Accumulator::Accumulator(nn::Model& model) : model_(model) { model_.params().zero_grad(); }

void Accumulator::add(const nn::Batch& b, bool counts, StepReduce* overlap) {
  const nn::Stats s = model_.forward(b, true);
  if (!counts) return;
  local_ += s;
  if (s.count <= 0 || !std::isfinite(s.loss_sum)) return;
  if (overlap) overlap->backward_begins(model_.params());
  // backward(scale) adds d(scale * loss_sum / count): with scale = count, the loss sum's gradient
  model_.backward(static_cast<float>(s.count));
}

StepResult Accumulator::step(nn::Optimizer& opt, double lr, double clip, StepReduce* reduce) {
  StepResult r;
  r.stats = local_;
  nn::ParamStore& ps = model_.params();
  if (reduce) {  // the gradients' sum first: the last backward may have started it (backward_begins)
    reduce->sum_gradients(ps);
    reduce->sum_stats(r.stats);
  }
  r.grad_norm = NAN;
  if (!std::isfinite(r.stats.loss_sum)) return r;  // every process sees the same sums: all stop here
  if (r.stats.count > 0) {  // the loss sums' gradient -> the union's mean loss's
    const float inv = static_cast<float>(1.0 / static_cast<double>(r.stats.count));
    float* g = ps.grads();
    for (int64_t i = 0, n = ps.size(); i < n; ++i) g[i] *= inv;
  }
  r.grad_norm = nn::clip_grad_norm(ps, clip);
  if (!std::isfinite(r.grad_norm)) return r;
  opt.step(lr);
  r.stepped = true;
  return r;
}

}  // namespace qkv::train
