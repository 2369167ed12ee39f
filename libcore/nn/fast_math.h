// Vectorizable float math for the engine's element-wise loops.
//
// The build has no -march=native (binaries must run on any x86-64 node), and
// GCC vectorizes std::exp / std::tanh / std::erf only under -ffast-math with
// glibc's libmvec. So the hot loops in libcore/nn call these inline,
// branch-free versions, which GCC turns into SIMD code; QKV_SIMD_CLONES on a
// loop function compiles it for AVX-512, AVX2+FMA and baseline x86-64, picked
// at load time (GCC function multi-versioning through ifunc).
//
// Accuracy (checked in tests/nn_fast_math_test.cpp against std::):
//   exp_f:  relative error < 2e-7 for x in [-87.3, 88.3] (clamped above); exactly 0 below -87.3
//   tanh_f: absolute error < 3e-7
//   erf_f:  absolute error < 3e-7 (Abramowitz & Stegun 7.1.26 refined)
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#define QKV_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace qkv::nn {

// Float reductions do not vectorize without -ffast-math (the order of the
// adds would change), so reduction loops keep kLanes independent partial
// sums, which GCC maps onto SIMD registers; the partials are added at the end.
constexpr int kLanes = 16;

// Smallest slice of an element-wise loop worth a thread of its own (parallel_for).
constexpr int64_t kElementwiseChunk = 16384;

inline float lanes_sum(const float* acc) {
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// kLanes floats in one value: GCC maps it onto 1 AVX-512, 2 AVX2 or 4 SSE
// registers, so partial sums held in it stay in registers (written as
// float[O][kLanes] arrays, GCC spilled them to the stack on every step and
// gathered x element by element: 14 GFLOP/s).
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

// An unaligned view of kLanes floats that may alias any float.
typedef float LanesU __attribute__((vector_size(kLanes * sizeof(float)), aligned(alignof(float)), may_alias));

// The kLanes floats at p as a Lanes value. A macro, not a function: clang
// rejects a call returning (or taking) a 64-byte vector inside the AVX2 clone,
// whose ABI for it differs from AVX-512's, even when the call is inlined; so
// Lanes values cross no function boundary (tree_sum takes a reference).
#define QKV_LANES_AT(p) (*reinterpret_cast<const ::qkv::nn::LanesU*>(p))

// The sum of v's lanes as a tree: halves added lane-wise (16 -> 8 -> 4 -> 2 -> 1).
// A serial sum of 16 lanes cost as much as the multiply-adds when C is 256.
__attribute__((always_inline)) inline float tree_sum(const Lanes& v) {
  static_assert(kLanes == 16, "tree_sum halves 16 lanes");
  typedef float Half __attribute__((vector_size(8 * sizeof(float))));
  typedef float Quarter __attribute__((vector_size(4 * sizeof(float))));
  const Half h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// sum of x (n)
inline float sum_f(const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  for (; i < n; ++i) acc[0] += x[i];
  return lanes_sum(acc);
}

// max of x (n); -inf for n == 0; NaN when any x is NaN (a NaN must not hide:
// a row of NaN scores would otherwise look fully masked and turn into zeros).
inline float max_f(const float* x, int64_t n) {
  float acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] || x[i + j] != x[i + j] ? x[i + j] : acc[j];
  for (; i < n; ++i) acc[0] = x[i] > acc[0] || x[i] != x[i] ? x[i] : acc[0];
  float m = -INFINITY;
  for (int j = 0; j < kLanes; ++j) m = acc[j] > m || acc[j] != acc[j] ? acc[j] : m;
  return m;
}

// sum of (x - m)^2 over x (n)
inline float sum_sq_dev_f(const float* x, float m, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += (x[i + j] - m) * (x[i + j] - m);
  for (; i < n; ++i) acc[0] += (x[i] - m) * (x[i] - m);
  return lanes_sum(acc);
}

// sum of x (n) * y (n)
inline float dot_f(const float* x, const float* y, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * y[i + j];
  for (; i < n; ++i) acc[0] += x[i] * y[i];
  return lanes_sum(acc);
}

// c ? a : b through integer bit masks. A plain ?: on a condition correlated
// with an earlier one (the clamps below) is jump-threaded by GCC into a
// branch, which stops the vectorizer for the AVX2/AVX-512 clones; bit masks
// keep the loop branch-free. Exact (selects bits, no arithmetic).
inline float blend_f(bool c, float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  const int32_t m = -static_cast<int32_t>(c);
  const int32_t r = (ia & m) | (ib & ~m);
  float out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

// e^x: Cephes expf (x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n by exponent bits).
inline float exp_f(float x) {
  float xc = x > 88.3762626647949f ? 88.3762626647949f : x;
  xc = xc < -87.3365478515625f ? -87.3365478515625f : xc;
  float fx = xc * 1.44269504088896341f;
  // round to nearest without calling nearbyint (keeps the loop vectorizable)
  int32_t n = static_cast<int32_t>(fx + (fx >= 0.0f ? 0.5f : -0.5f));
  float fn = static_cast<float>(n);
  float r = xc - fn * 0.693359375f + fn * 2.12194440e-4f;
  float z = r * r;
  float y = 1.9875691500E-4f;
  y = y * r + 1.3981999507E-3f;
  y = y * r + 8.3334519073E-3f;
  y = y * r + 4.1665795894E-2f;
  y = y * r + 1.6666665459E-1f;
  y = y * r + 5.0000001201E-1f;
  y = y * z + r + 1.0f;
  // n + 127 is in [1, 255] for every finite or infinite x; NaN gives any n, so
  // shift unsigned (no undefined behaviour) and return the NaN itself.
  uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return blend_f(x != x, x, blend_f(x < -87.3365478515625f, 0.0f, y * scale));
}

// tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); for |x| < 0.625 an odd
// polynomial (Cephes tanhf) avoids the cancellation near 0.
inline float tanh_f(float x) {
  float ax = x < 0.0f ? -x : x;
  float e = exp_f(2.0f * ax);
  float big = 1.0f - 2.0f / (e + 1.0f);
  float z = x * x;
  float p = -5.70498872745E-3f;
  p = p * z + 2.06390887954E-2f;
  p = p * z - 5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z - 3.33332819422E-1f;
  float small = ax + ax * z * p;
  float t = blend_f(ax < 0.625f, small, big);
  return blend_f(x < 0.0f, -t, t);
}

// erf(x): for |x| < 1 a Taylor-like odd polynomial (Cephes erff), else
// 1 - erfc(|x|) with erfc from Cephes' rational fits of e^{x^2} erfc(x).
inline float erf_f(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = x * x;
  // small: erf(x) = x * P(x^2)
  float ps = 7.853861353153693E-5f;
  ps = ps * z - 8.010193625184903E-4f;
  ps = ps * z + 5.188327685732524E-3f;
  ps = ps * z - 2.685381193529856E-2f;
  ps = ps * z + 1.128358514861418E-1f;
  ps = ps * z - 3.761262582423300E-1f;
  ps = ps * z + 1.128379165726710E+0f;
  float small = ax * ps;
  // large: erfc(x) = exp(-x^2) / x * Q(1/x^2)
  float axc = ax < 1.0f ? 1.0f : ax;
  float w = 1.0f / (axc * axc);
  float q;
  float q_a = 2.326819970068386E-2f;  // 1/x in (1/2, 1] (x < 2)
  q_a = q_a * w - 1.387039388740657E-1f;
  q_a = q_a * w + 3.687424674597105E-1f;
  q_a = q_a * w - 5.824733027278666E-1f;
  q_a = q_a * w + 6.210004621745983E-1f;
  q_a = q_a * w - 4.944515323274145E-1f;
  q_a = q_a * w + 3.404879937665872E-1f;
  q_a = q_a * w - 2.741127028184656E-1f;
  q_a = q_a * w + 5.638259427386472E-1f;
  float q_b = -1.047766399936249E+1f;  // x >= 2
  q_b = q_b * w + 1.297719955372516E+1f;
  q_b = q_b * w - 7.495518717768503E+0f;
  q_b = q_b * w + 2.921019019210786E+0f;
  q_b = q_b * w - 1.015265279202700E+0f;
  q_b = q_b * w + 4.218463358204948E-1f;
  q_b = q_b * w - 2.820767439740514E-1f;
  q_b = q_b * w + 5.641895067754075E-1f;
  q = blend_f(axc < 2.0f, q_a, q_b);
  float erfc = exp_f(-axc * axc) / axc * q;
  float big = 1.0f - erfc;
  big = blend_f(axc > 9.0f, 1.0f, big);
  float r = blend_f(ax < 1.0f, small, big);
  return blend_f(x < 0.0f, -r, r);
}

}  // namespace qkv::nn
