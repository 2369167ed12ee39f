// Central differences for gradient checks: num[i] = (f(x + eps e_i) - f(x - eps e_i)) / 2 eps,
// with x[i] restored after each pair. f re-runs the whole computation (float32 kernels,
// accumulated in double by the caller), so eps = 1e-2 keeps rounding noise small.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace qkv::test {

inline std::vector<float> central_differences(float* x, int64_t n, const std::function<double()>& f,
                                              float eps = 1e-2f) {
  std::vector<float> num(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float keep = x[i];
    x[i] = keep + eps;
    const double fp = f();
    x[i] = keep - eps;
    const double fm = f();
    x[i] = keep;
    num[static_cast<size_t>(i)] = static_cast<float>((fp - fm) / (2.0 * eps));
  }
  return num;
}

}  // namespace qkv::test
