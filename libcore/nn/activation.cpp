#include "nn/activation.h"

#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi), GELU tanh form
constexpr float kGeluCoef = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/sqrt(2 pi)

// GELU's normal CDF and density sharing one exponential: with z = x / sqrt(2),
// e = exp(-z^2) = exp(-x^2 / 2) is both the density's factor and the tail of
// erf in Abramowitz & Stegun 7.1.26, erf(z) = 1 - t (a1 + t (a2 + ... a5 t)) e,
// t = 1 / (1 + p z) for z >= 0, |error| <= 1.5e-7 (the same formula PyTorch's
// vectorized CPU erf uses). Half the work of erf_f() plus a second exp.
inline void normal_cdf_pdf(float x, float* cdf, float* pdf) {
  const float z = std::fabs(x) * kInvSqrt2;
  const float e = exp_f(-z * z);
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float erf_abs = 1.0f - poly * t * e;  // erf(|z|)
  const float half = 0.5f * erf_abs;
  *cdf = blend_f(x < 0.0f, 0.5f - half, 0.5f + half);
  *pdf = kInvSqrt2Pi * e;
}

}  // namespace

Activation activation_from_name(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "gelu" || name == "gelu_erf") return Activation::gelu_erf;
  if (name == "gelu_tanh") return Activation::gelu_tanh;
  throw DataError("unknown activation '" + name + "' (expected relu, gelu or gelu_tanh)");
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::gelu_erf: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
  }
  return "?";
}

QKV_SIMD_CLONES
void relu_forward(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

QKV_SIMD_CLONES
void relu_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

QKV_SIMD_CLONES
void gelu_erf_forward(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float cdf, pdf;
    normal_cdf_pdf(inp[i], &cdf, &pdf);
    out[i] = inp[i] * cdf;
  }
}

QKV_SIMD_CLONES
void gelu_erf_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float cdf, pdf;
    normal_cdf_pdf(inp[i], &cdf, &pdf);
    dinp[i] += dout[i] * (cdf + inp[i] * pdf);
  }
}

QKV_SIMD_CLONES
void gelu_tanh_forward(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanh_f(u));
  }
}

QKV_SIMD_CLONES
void gelu_tanh_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
    float t = tanh_f(u);
    float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * x * x);
    dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
}

namespace {

QKV_SIMD_CLONES
void relu_train(float* out, float* dact, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
    dact[i] = inp[i] > 0.0f ? 1.0f : 0.0f;
  }
}

QKV_SIMD_CLONES
void gelu_erf_train(float* out, float* dact, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float cdf, pdf;
    normal_cdf_pdf(inp[i], &cdf, &pdf);
    out[i] = inp[i] * cdf;
    dact[i] = cdf + inp[i] * pdf;
  }
}

QKV_SIMD_CLONES
void gelu_tanh_train(float* out, float* dact, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + kGeluCoef * x * x * x);
    float t = tanh_f(u);
    float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * x * x);
    out[i] = 0.5f * x * (1.0f + t);
    dact[i] = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
  }
}

QKV_SIMD_CLONES
void multiply_accumulate(float* dinp, const float* dout, const float* dact, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i] * dact[i];
}

}  // namespace

void activation_forward_train(Activation a, float* out, float* dact, const float* inp, int64_t n) {
  parallel_for(n, kElementwiseChunk, [&](int64_t b, int64_t e) {
    switch (a) {
      case Activation::relu: return relu_train(out + b, dact + b, inp + b, e - b);
      case Activation::gelu_erf: return gelu_erf_train(out + b, dact + b, inp + b, e - b);
      case Activation::gelu_tanh: return gelu_tanh_train(out + b, dact + b, inp + b, e - b);
    }
  });
}

void activation_backward_cached(float* dinp, const float* dout, const float* dact, int64_t n) {
  parallel_for(n, kElementwiseChunk,
               [&](int64_t b, int64_t e) { multiply_accumulate(dinp + b, dout + b, dact + b, e - b); });
}

void activation_forward(Activation a, float* out, const float* inp, int64_t n) {
  parallel_for(n, kElementwiseChunk, [&](int64_t b, int64_t e) {
    switch (a) {
      case Activation::relu: return relu_forward(out + b, inp + b, e - b);
      case Activation::gelu_erf: return gelu_erf_forward(out + b, inp + b, e - b);
      case Activation::gelu_tanh: return gelu_tanh_forward(out + b, inp + b, e - b);
    }
  });
}

void activation_backward(Activation a, float* dinp, const float* dout, const float* inp, int64_t n) {
  parallel_for(n, kElementwiseChunk, [&](int64_t b, int64_t e) {
    switch (a) {
      case Activation::relu: return relu_backward(dinp + b, dout + b, inp + b, e - b);
      case Activation::gelu_erf: return gelu_erf_backward(dinp + b, dout + b, inp + b, e - b);
      case Activation::gelu_tanh: return gelu_tanh_backward(dinp + b, dout + b, inp + b, e - b);
    }
  });
}

}  // namespace qkv::nn
