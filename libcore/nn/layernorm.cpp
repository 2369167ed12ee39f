#include "nn/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "nn/fast_math.h"

namespace qkv::nn {

namespace {

// Rows [0, N) of the forward (a thread's slice).
QKV_SIMD_CLONES
void forward_rows(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                  int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;  // (C)
    float* o = out + n * C;        // (C)
    float m = sum_f(x, C) / static_cast<float>(C);
    float v = sum_sq_dev_f(x, m, C);  // two passes: no cancellation from E[x^2] - m^2
    float r = 1.0f / std::sqrt(v / static_cast<float>(C) + eps);
    if (weight && bias) {
      for (int64_t i = 0; i < C; ++i) o[i] = (x[i] - m) * r * weight[i] + bias[i];
    } else {
      for (int64_t i = 0; i < C; ++i)
        o[i] = (x[i] - m) * r * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
    }
    mean[n] = m;
    rstd[n] = r;
  }
}

// dinp for rows [0, N) (a thread's slice).
QKV_SIMD_CLONES
void backward_input_rows(float* dinp, const float* dout, const float* inp, const float* weight, const float* mean,
                         const float* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;   // (C)
    const float* d = dout + n * C;  // (C)
    const float m = mean[n], r = rstd[n];
    // dnorm = d * w; dx = (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd
    float acc_a[kLanes] = {}, acc_b[kLanes] = {};
    int64_t i0 = 0;
    for (; i0 + kLanes <= C; i0 += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        int64_t i = i0 + j;
        float dn = d[i] * (weight ? weight[i] : 1.0f);
        acc_a[j] += dn;
        acc_b[j] += dn * (x[i] - m) * r;
      }
    for (int64_t i = i0; i < C; ++i) {
      float dn = d[i] * (weight ? weight[i] : 1.0f);
      acc_a[0] += dn;
      acc_b[0] += dn * (x[i] - m) * r;
    }
    float a = lanes_sum(acc_a) / static_cast<float>(C);
    float b = lanes_sum(acc_b) / static_cast<float>(C);
    float* dx = dinp + n * C;  // (C)
    for (int64_t i = 0; i < C; ++i) {
      float dn = d[i] * (weight ? weight[i] : 1.0f);
      dx[i] += (dn - a - (x[i] - m) * r * b) * r;
    }
  }
}

// Adds the dweight (acc[0, C)) and dbias (acc[C, 2C)) contributions of rows [0, N).
QKV_SIMD_CLONES
void backward_param_rows(float* acc, const float* dout, const float* inp, const float* mean, const float* rstd,
                         int64_t N, int64_t C) {
  float* __restrict dw = acc;      // (C)
  float* __restrict db = acc + C;  // (C)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;   // (C)
    const float* d = dout + n * C;  // (C)
    const float m = mean[n], r = rstd[n];
    for (int64_t i = 0; i < C; ++i) {
      db[i] += d[i];
      dw[i] += (x[i] - m) * r * d[i];
    }
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps) {
  parallel_for(N, std::max<int64_t>(1, kElementwiseChunk / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    forward_rows(out + b * C, mean + b, rstd + b, inp + b * C, weight, bias, e - b, C, eps);
  });
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  // threads split rows: dinp row by row, dweight / dbias as fixed row-block partials (parallel_sum_rows)
  const int64_t min_rows = std::max<int64_t>(1, kElementwiseChunk / std::max<int64_t>(C, 1));
  if (!dweight && !dbias) {
    if (dinp)
      parallel_for(N, min_rows, [&](int64_t b, int64_t e) {
        backward_input_rows(dinp + b * C, dout + b * C, inp + b * C, weight, mean + b, rstd + b, e - b, C);
      });
    return;
  }
  std::vector<float> sums(static_cast<size_t>(2 * C), 0.0f);  // (2C): dweight, dbias
  parallel_sum_rows(N, 2 * C, sums.data(), [&](int64_t b, int64_t e, float* acc) {
    if (dinp) backward_input_rows(dinp + b * C, dout + b * C, inp + b * C, weight, mean + b, rstd + b, e - b, C);
    backward_param_rows(acc, dout + b * C, inp + b * C, mean + b, rstd + b, e - b, C);
  });
  for (int64_t i = 0; i < C; ++i) {
    if (dweight) dweight[i] += sums[i];
    if (dbias) dbias[i] += sums[C + i];
  }
}

namespace ref {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    double s = 0;
    for (int64_t i = 0; i < C; ++i) s += x[i];
    double m = s / C, v = 0;
    for (int64_t i = 0; i < C; ++i) v += (x[i] - m) * (x[i] - m);
    double r = 1.0 / std::sqrt(v / C + eps);
    for (int64_t i = 0; i < C; ++i)
      out[n * C + i] = static_cast<float>((x[i] - m) * r * (weight ? weight[i] : 1.0) + (bias ? bias[i] : 0.0));
    mean[n] = static_cast<float>(m);
    rstd[n] = static_cast<float>(r);
  }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    const float* d = dout + n * C;
    double a = 0, b = 0;
    for (int64_t i = 0; i < C; ++i) {
      double norm = (x[i] - static_cast<double>(mean[n])) * rstd[n];
      double dn = d[i] * (weight ? weight[i] : 1.0);
      a += dn;
      b += dn * norm;
      if (dbias) dbias[i] += d[i];
      if (dweight) dweight[i] += static_cast<float>(norm * d[i]);
    }
    a /= C;
    b /= C;
    if (!dinp) continue;
    for (int64_t i = 0; i < C; ++i) {
      double norm = (x[i] - static_cast<double>(mean[n])) * rstd[n];
      double dn = d[i] * (weight ? weight[i] : 1.0);
      dinp[n * C + i] += static_cast<float>((dn - a - norm * b) * rstd[n]);
    }
  }
}

}  // namespace ref
}  // namespace qkv::nn
