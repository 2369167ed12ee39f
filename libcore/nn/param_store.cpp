#include "nn/param_store.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/fast_math.h"
#include "nn/model_budget.h"

namespace qkv::nn {

namespace {
thread_local const ParamBudget* g_budget = nullptr;
}  // namespace

ParamBudget::ParamBudget(int64_t max, std::string w) : max_params(max), what(std::move(w)), outer_(g_budget) {
  g_budget = this;
}
ParamBudget::~ParamBudget() { g_budget = outer_; }
const ParamBudget* ParamBudget::current() { return g_budget; }

void ParamStore::FreeDeleter::operator()(float* p) const { std::free(p); }

std::unique_ptr<float[], ParamStore::FreeDeleter> ParamStore::alloc(int64_t n) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 16)) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw DataError("out of memory allocating " + std::to_string(bytes) + " bytes of parameters");
  std::memset(p, 0, bytes);
  return std::unique_ptr<float[], FreeDeleter>(static_cast<float*>(p));
}

ParamId ParamStore::add(const std::string& name, Shape shape, Decay decay) {
  QKV_CHECK(!finalized_, "ParamStore::add(" + name + ") after finalize()");
  QKV_CHECK(find(name) < 0, "duplicate parameter name " + name);
  ParamInfo p;
  p.name = name;
  p.numel = shape_numel(shape);
  p.decay = decay == Decay::by_rank ? shape.size() >= 2 : decay == Decay::yes;
  p.shape = std::move(shape);
  p.offset = total_;
  total_ += (p.numel + 15) / 16 * 16;
  infos_.push_back(std::move(p));
  return static_cast<ParamId>(infos_.size() - 1);
}

int64_t ParamStore::mark() {
  QKV_CHECK(!finalized_, "ParamStore::mark() after finalize()");
  if (marks_.empty() || marks_.back() != total_) marks_.push_back(total_);
  return total_;
}

void ParamStore::finalize() {
  QKV_CHECK(!finalized_, "ParamStore::finalize() twice");
  // Weights, gradients and Adam's two moments: 16 bytes a parameter. Refused
  // before any allocation when beyond the machine's memory: a vocabulary or
  // class count from a corrupt file, or an absurd width flag, sizes no buffer.
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const double ram = pages > 0 && page > 0 ? double(pages) * double(page) : 0.0, need = 16.0 * double(total_);
  if (ram > 0 && need > ram) {
    const ParamInfo* big = &infos_.front();
    for (const auto& p : infos_) if (p.numel > big->numel) big = &p;
    char msg[256];
    std::snprintf(msg, sizeof msg, "%.1f GB for weights, gradients and optimizer state, more than this machine's %.1f GB",
                  need / 1e9, ram / 1e9);
    throw DataError("the model's " + std::to_string(num_params()) + " parameters (largest: " + big->name + " " +
                    shape_str(big->shape) + ") need " + msg);
  }
  if (const ParamBudget* b = ParamBudget::current(); b && num_params() > b->max_params)
    throw DataError(b->what + ": its hyperparameters make a model of " + std::to_string(num_params()) +
                    " parameters, more than it can hold");
  params_ = alloc(total_);
  grads_ = alloc(total_);
  finalized_ = true;
}

ParamId ParamStore::find(const std::string& name) const {
  for (size_t i = 0; i < infos_.size(); ++i)
    if (infos_[i].name == name) return static_cast<ParamId>(i);
  return -1;
}

int64_t ParamStore::num_params() const {
  int64_t n = 0;
  for (const auto& p : infos_) n += p.numel;
  return n;
}

Tensor ParamStore::param_tensor(ParamId id) const {
  Tensor t(info(id).shape);
  t.copy_from_bytes(param(id), static_cast<size_t>(info(id).numel) * sizeof(float));
  return t;
}

Tensor ParamStore::grad_tensor(ParamId id) const {
  Tensor t(info(id).shape);
  t.copy_from_bytes(grad(id), static_cast<size_t>(info(id).numel) * sizeof(float));
  return t;
}

void ParamStore::zero_grad() {
  if (!finalized_) return;
  float* g = grads_.get();
  parallel_for(total_, kElementwiseChunk,
               [&](int64_t b, int64_t e) { std::memset(g + b, 0, static_cast<size_t>(e - b) * sizeof(float)); });
}

void ParamStore::init_normal(ParamId id, Rng& rng, float std, float mean) {
  float* p = param(id);
  for (int64_t i = 0; i < info(id).numel; ++i) p[i] = mean + std * rng.normal();
}

void ParamStore::init_uniform(ParamId id, Rng& rng, float lo, float hi) {
  float* p = param(id);
  for (int64_t i = 0; i < info(id).numel; ++i) p[i] = lo + (hi - lo) * rng.uniform();
}

void ParamStore::init_const(ParamId id, float value) {
  float* p = param(id);
  for (int64_t i = 0; i < info(id).numel; ++i) p[i] = value;
}

void ParamStore::init_fan_in_uniform(ParamId id, Rng& rng) {
  const Shape& s = info(id).shape;
  int64_t fan_in = s.size() >= 2 ? info(id).numel / s[0] : info(id).numel;
  float bound = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
  init_uniform(id, rng, -bound, bound);
}

void ParamStore::init_xavier_uniform(ParamId id, Rng& rng, float gain) {
  const Shape& s = info(id).shape;
  QKV_CHECK(s.size() == 2, "xavier init needs a 2-D parameter: " + info(id).name);
  float a = gain * std::sqrt(6.0f / static_cast<float>(s[0] + s[1]));
  init_uniform(id, rng, -a, a);
}

}  // namespace qkv::nn
