// Helpers for the engine's layer tests (tests/nn_*_test.cpp): reading PyTorch
// golden cases from tests/ref/layers.h5, comparing with the relative-error
// metric, and a finite-difference (directional derivative) gradient check.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rng.h"
#include "io/h5.h"
#include "support/test_support.h"
#include "tensor/ops.h"

namespace qkv::test {

// One group of tests/ref/layers.h5.
class RefCase {
 public:
  explicit RefCase(const std::string& group) : group_(group) {}
  static io::H5In& file() {
    static io::H5In in(source_path("tests/ref/layers.h5"));
    return in;
  }
  Tensor f(const std::string& name) const { return file().read(group_ + "/" + name, DType::f32); }
  Tensor i(const std::string& name) const { return file().read(group_ + "/" + name, DType::i32); }
  double attr(const std::string& name) const { return file().attr_double(group_, name); }
  bool has(const std::string& name) const { return file().has(group_ + "/" + name); }
  const std::string& group() const { return group_; }

 private:
  std::string group_;
};

constexpr double kGoldenTol = 1e-5;

// ||ours - ref|| / ||ref|| <= tol, with a message naming the tensor.
inline void expect_close(const float* ours, const Tensor& ref, const std::string& what, double tol = kGoldenTol) {
  double e = ops::rel_error(ours, ref.data<float>(), ref.numel());
  EXPECT_LE(e, tol) << what << ": relative error " << e;
}
inline void expect_close(const std::vector<float>& ours, const Tensor& ref, const std::string& what,
                         double tol = kGoldenTol) {
  ASSERT_EQ(static_cast<int64_t>(ours.size()), ref.numel()) << what;
  expect_close(ours.data(), ref, what, tol);
}

inline std::vector<float> vec(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}
inline std::vector<float> randn(int64_t n, Rng& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.normal() * scale;
  return v;
}

// A tensor the gradient check perturbs, with the analytic gradient of
// L = <dout, forward()> the backward computed for it.
struct GradParam {
  std::string name;
  float* x;
  const float* grad;
  int64_t n;
};

// Directional derivative check in float32: for a random direction v,
// (L(x + h v) - L(x - h v)) / 2h must match <grad, v>. forward() recomputes
// the outputs from the current values; loss() returns L (accumulated in double).
inline void gradcheck(const std::function<double()>& loss, const std::vector<GradParam>& params, Rng& rng,
                      double h = 1e-2, double tol = 2e-3) {
  for (const auto& p : params) {
    std::vector<float> v = randn(p.n, rng), saved(p.x, p.x + p.n);
    double analytic = 0, vnorm = 0, gnorm = 0;
    for (int64_t i = 0; i < p.n; ++i) {
      analytic += static_cast<double>(p.grad[i]) * v[i];
      vnorm += static_cast<double>(v[i]) * v[i];
      gnorm += static_cast<double>(p.grad[i]) * p.grad[i];
    }
    for (int64_t i = 0; i < p.n; ++i) p.x[i] = saved[i] + static_cast<float>(h) * v[i];
    double lp = loss();
    for (int64_t i = 0; i < p.n; ++i) p.x[i] = saved[i] - static_cast<float>(h) * v[i];
    double lm = loss();
    std::copy(saved.begin(), saved.end(), p.x);
    double numeric = (lp - lm) / (2 * h);
    // scale: |<g, v>| can be small by chance; compare against ||g|| ||v||
    double scale = std::sqrt(gnorm * vnorm) + 1e-6;
    EXPECT_LE(std::fabs(numeric - analytic), tol * scale)
        << p.name << ": numeric " << numeric << " vs analytic " << analytic << " (scale " << scale << ")";
  }
}

inline double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace qkv::test

namespace qkv::test {

// The parameters of one PyTorch module case (param/<name>) as mutable float
// buffers, with zeroed gradient buffers beside them, looked up by torch name.
class ModuleParams {
 public:
  explicit ModuleParams(const RefCase& r) : r_(r) {
    for (const auto& n : RefCase::file().list(group() + "/param")) {
      p_[n] = vec(r.f("param/" + n));
      g_[n] = std::vector<float>(p_[n].size(), 0.0f);
    }
  }
  float* p(const std::string& n) { return lookup(p_, n); }
  float* g(const std::string& n) { return lookup(g_, n); }
  // Every gradient against grad/<name>.
  void expect_grads(double tol = kGoldenTol) {
    for (auto& [n, g] : g_) expect_close(g, r_.f("grad/" + n), "grad " + n, tol);
  }
  std::vector<GradParam> grad_params() {
    std::vector<GradParam> v;
    for (auto& [n, x] : p_) v.push_back({n, x.data(), g_[n].data(), static_cast<int64_t>(x.size())});
    return v;
  }
  void zero_grads() {
    for (auto& [n, g] : g_) std::fill(g.begin(), g.end(), 0.0f);
  }

 private:
  std::string group() const { return r_.group(); }
  static float* lookup(std::map<std::string, std::vector<float>>& m, const std::string& n) {
    auto it = m.find(n);
    if (it == m.end()) throw std::runtime_error("no parameter " + n + " in the reference case");
    return it->second.data();
  }
  RefCase r_;
  std::map<std::string, std::vector<float>> p_, g_;
};

inline std::vector<uint8_t> bytes(const Tensor& t) {
  std::vector<uint8_t> v(t.numel());
  const int32_t* p = t.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<uint8_t>(p[i] != 0);
  return v;
}

}  // namespace qkv::test
