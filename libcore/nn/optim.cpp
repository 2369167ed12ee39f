#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {

Config OptimConfig::to_config() const {
  Config c;
  c.set("optim", ConfigValue(kind));
  c.set("beta1", ConfigValue(beta1));
  c.set("beta2", ConfigValue(beta2));
  c.set("eps", ConfigValue(eps));
  c.set("momentum", ConfigValue(momentum));
  c.set("nesterov", nesterov);
  c.set("weight_decay", ConfigValue(weight_decay));
  return c;
}

OptimConfig OptimConfig::from_config(const Config& c) {
  ConfigReader r(c, "optimizer");
  OptimConfig o;
  o.kind = r.get_choice("optim", o.kind, {"adamw", "sgd"});
  o.beta1 = r.get_double("beta1", o.beta1, 0.0, 0.999999);
  o.beta2 = r.get_double("beta2", o.beta2, 0.0, 0.999999999);
  o.eps = r.get_double("eps", o.eps, 0.0, 1.0);
  o.momentum = r.get_double("momentum", o.momentum, 0.0, 0.999999);
  o.nesterov = r.get_bool("nesterov", o.nesterov);
  o.weight_decay = r.get_double("weight_decay", o.weight_decay, 0.0, 10.0);
  r.finish();
  if (o.nesterov && (o.kind != "sgd" || o.momentum <= 0))
    throw UsageError("optimizer: nesterov needs optim=sgd with momentum > 0");
  return o;
}

namespace {

// torch.optim.AdamW (single-tensor, foreach=False), 1.13, on n floats:
//   p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g g;
//   step_size = lr / bc1; denom = sqrt(v) / sqrt(bc2) + eps; p -= step_size * m / denom
QKV_SIMD_CLONES
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float decay, float b1, float b2, float eps,
                  float step_size, float bc2_sqrt) {
  const float one_m_b1 = 1.0f - b1, one_m_b2 = 1.0f - b2;
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i] * decay;
    float gi = g[i];
    float mi = m[i] + one_m_b1 * (gi - m[i]);
    float vi = v[i] * b2 + one_m_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = __builtin_sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

}  // namespace

Optimizer::Optimizer(OptimConfig cfg, ParamStore& ps) : cfg_(std::move(cfg)), ps_(ps) {
  QKV_CHECK(ps.finalized(), "Optimizer over a ParamStore that is not finalized");
  if (cfg_.kind != "adamw" && cfg_.kind != "sgd") throw UsageError("unknown optimizer '" + cfg_.kind + "'");
  n_ = ps.size();
  m_.reset(new float[static_cast<size_t>(n_)]());
  if (has_v()) v_.reset(new float[static_cast<size_t>(n_)]());
}

void Optimizer::step(double lr_d) {
  ++step_;
  const float lr = static_cast<float>(lr_d);
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(step_));
  const std::vector<ParamInfo>& infos = ps_.infos();
  // One update of values [b, e) of parameter `info`; each value depends on its own p, g, m, v only, so cutting the
  // flat buffer into chunks for the threads gives the same result for any thread count.
  auto update = [&](const ParamInfo& info, int64_t b, int64_t e) {
    float* p = ps_.params() + b;
    const float* g = ps_.grads() + b;
    float* mp = m_.get() + b;
    const int64_t n = e - b;
    const float wd = info.decay ? static_cast<float>(cfg_.weight_decay) : 0.0f;
    if (cfg_.kind == "adamw") {
      adamw_update(p, g, mp, v_.get() + b, n, 1.0f - lr * wd, static_cast<float>(cfg_.beta1),
                   static_cast<float>(cfg_.beta2), static_cast<float>(cfg_.eps), static_cast<float>(lr_d / bc1),
                   static_cast<float>(std::sqrt(bc2)));
    } else {
      // torch.optim.SGD, 1.13: g += wd p; buf = momentum buf + g (buf = g at the first step);
      // g = nesterov ? g + momentum buf : buf; p -= lr g
      const float mom = static_cast<float>(cfg_.momentum);
      for (int64_t i = 0; i < n; ++i) {
        float gi = g[i] + wd * p[i];
        if (mom != 0.0f) {
          float bb = step_ == 1 ? gi : mom * mp[i] + gi;
          mp[i] = bb;
          gi = cfg_.nesterov ? gi + mom * bb : bb;
        }
        p[i] -= lr * gi;
      }
    }
  };
  // Chunks of the flat buffer; each walks the parameters (sorted by offset) that overlap it.
  parallel_for(n_, kElementwiseChunk, [&](int64_t b, int64_t e) {
    auto it = std::upper_bound(infos.begin(), infos.end(), b,
                               [](int64_t x, const ParamInfo& in) { return x < in.offset; });
    if (it != infos.begin()) --it;
    for (; it != infos.end() && it->offset < e; ++it) {
      const int64_t lo = std::max(b, it->offset), hi = std::min(e, it->offset + it->numel);
      if (lo < hi) update(*it, lo, hi);
    }
  });
}

void Schedule::validate() const {
  if (kind != "constant" && kind != "cosine" && kind != "inv_sqrt")
    throw UsageError("unknown lr schedule '" + kind + "' (known: constant, cosine, inv_sqrt)");
  if (!(base_lr > 0) || !std::isfinite(base_lr)) throw UsageError("learning rate must be > 0");
  if (warmup < 0) throw UsageError("warmup steps must be >= 0");
  if (min_lr < 0 || min_lr > base_lr) throw UsageError("min_lr must be in [0, lr]");
  if (kind == "cosine" && total <= warmup) throw UsageError("cosine schedule needs total steps > warmup steps");
  if (kind == "inv_sqrt" && warmup <= 0) throw UsageError("inv_sqrt schedule needs warmup steps > 0");
}

double Schedule::lr(int64_t step) const {
  const double s1 = static_cast<double>(step + 1);
  if (kind == "inv_sqrt") {
    double w = static_cast<double>(warmup);
    return base_lr * std::min(s1 / w, std::sqrt(w / s1));
  }
  if (warmup > 0 && step < warmup) return base_lr * s1 / static_cast<double>(warmup);
  if (kind == "cosine") {
    if (step >= total) return min_lr;
    double progress = static_cast<double>(step - warmup) / static_cast<double>(total - warmup);
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(3.141592653589793 * progress));
  }
  return base_lr;
}

namespace {

// Sum of squares of n values in 8 interleaved double lanes (vectorisable; a
// fixed order, so a fixed result).
QKV_SIMD_CLONES
double sum_squares(const float* x, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += static_cast<double>(x[i + k]) * x[i + k];
  for (; i < n; ++i) lane[i % 8] += static_cast<double>(x[i]) * x[i];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

QKV_SIMD_CLONES
void scale_values(float* x, int64_t n, float c) {
  for (int64_t i = 0; i < n; ++i) x[i] *= c;
}

}  // namespace

double clip_grad_norm(ParamStore& ps, double max_norm) {
  // Padding between parameters is zero, so the flat buffer's norm is the
  // parameters' norm. Blocks of a fixed size summed in block order: the same
  // norm for any thread count.
  constexpr int64_t kBlock = 4096;
  const int64_t n = ps.size();
  const float* g = ps.grads();
  double sum = 0;
  parallel_sum_rows(
      n, 1, &sum, [&](int64_t b, int64_t e, double* acc) { acc[0] = sum_squares(g + b, e - b); }, kBlock);
  const double norm = std::sqrt(sum);
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
      float* gw = ps.grads();
      parallel_for(n, kElementwiseChunk, [&](int64_t b, int64_t e) { scale_values(gw + b, e - b, c); });
    }
  }
  return norm;
}

}  // namespace qkv::nn
