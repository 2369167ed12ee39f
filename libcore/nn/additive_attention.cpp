#include "nn/additive_attention.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "nn/fast_math.h"
#include "nn/linear.h"
#include "tensor/ops.h"

namespace qkv::nn {

// score = v · tanh(k + q) over A
QKV_SIMD_CLONES
static float score_row(const float* k, const float* q, const float* v, int64_t A) {
  float acc[kLanes] = {};
  int64_t a = 0;
  for (; a + kLanes <= A; a += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += v[a + j] * tanh_f(k[a + j] + q[a + j]);
  for (; a < A; ++a) acc[0] += v[a] * tanh_f(k[a] + q[a]);
  return lanes_sum(acc);
}

// Backward of de · score_row: t = tanh(k + q); dv += de t; dq, dk += de v (1 - t²).
QKV_SIMD_CLONES
static void score_row_backward(float de, const float* __restrict k, const float* __restrict q,
                               const float* __restrict v, int64_t A, float* __restrict dv, float* __restrict dq,
                               float* __restrict dk) {
  for (int64_t a = 0; a < A; ++a) {
    const float t = tanh_f(k[a] + q[a]);
    dv[a] += de * t;
    const float dpre = de * v[a] * (1.0f - t * t);
    dq[a] += dpre;
    dk[a] += dpre;
  }
}

// y (n) += alpha * x (n)
QKV_SIMD_CLONES
static void axpy_row(float alpha, const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void additive_attention_keys_forward(const AdditiveAttentionDims& d, const float* keys, const float* w_k,
                                     const float* b_k, float* kp) {
  linear_forward(kp, keys, w_k, b_k, d.B * d.S, d.Dk, d.A);
}

void additive_attention_keys_backward(const AdditiveAttentionDims& d, const float* dkp, const float* keys,
                                      const float* w_k, float* dkeys, float* dw_k, float* db_k) {
  linear_backward(dkeys, dw_k, db_k, dkp, keys, w_k, d.B * d.S, d.Dk, d.A);
}

static inline bool key_on(const uint8_t* key_mask, int64_t S, int64_t b, int64_t s) {
  return key_mask == nullptr || key_mask[b * S + s] != 0;
}

void additive_attention_forward(const AdditiveAttentionDims& d, const float* query, const float* keys,
                                const float* kp, const uint8_t* key_mask, const float* w_q, const float* v,
                                float* ctx, float* weights, int64_t w_stride, std::vector<float>& scratch) {
  const int64_t B = d.B, Tq = d.Tq, S = d.S, Dk = d.Dk, A = d.A;
  scratch.resize(B * Tq * A);
  float* qp = scratch.data();  // (B*Tq, A)
  linear_forward(qp, query, w_q, nullptr, B * Tq, d.Dq, A);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t q = 0; q < Tq; ++q) {
      const int64_t r = b * Tq + q;
      const float* qr = qp + r * A;
      float* w = weights + r * w_stride;  // (S)
      float mx = neg_inf;
      for (int64_t s = 0; s < S; ++s) {
        if (!key_on(key_mask, S, b, s)) {
          w[s] = neg_inf;
          continue;
        }
        const float e = score_row(kp + (b * S + s) * A, qr, v, A);
        w[s] = e;
        mx = e > mx ? e : mx;
      }
      float* c = ctx + r * Dk;
      std::memset(c, 0, sizeof(float) * Dk);
      if (mx == neg_inf) {  // no real key: zero weights, zero context
        for (int64_t s = 0; s < S; ++s) w[s] = 0.0f;
        continue;
      }
      float sum = 0.0f;
      for (int64_t s = 0; s < S; ++s) {
        w[s] = w[s] == neg_inf ? 0.0f : exp_f(w[s] - mx);
        sum += w[s];
      }
      const float inv = 1.0f / sum;
      for (int64_t s = 0; s < S; ++s) {
        w[s] *= inv;
        if (w[s] == 0.0f) continue;
        axpy_row(w[s], keys + (b * S + s) * Dk, c, Dk);
      }
    }
  }
}

void additive_attention_backward(const AdditiveAttentionDims& d, const float* dctx, const float* query,
                                 const float* keys, const float* kp, const uint8_t* key_mask, const float* weights,
                                 int64_t w_stride, const float* w_q, const float* v, float* dquery, float* dkeys,
                                 float* dkp, float* dw_q, float* dv, std::vector<float>& scratch) {
  const int64_t B = d.B, Tq = d.Tq, S = d.S, Dk = d.Dk, A = d.A;
  scratch.resize(2 * B * Tq * A + S);
  float* qp = scratch.data();            // (B*Tq, A)
  float* dqp = qp + B * Tq * A;          // (B*Tq, A)
  float* da = dqp + B * Tq * A;          // (S) gradient of the weights, then of the scores
  linear_forward(qp, query, w_q, nullptr, B * Tq, d.Dq, A);
  std::memset(dqp, 0, sizeof(float) * B * Tq * A);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t q = 0; q < Tq; ++q) {
      const int64_t r = b * Tq + q;
      const float* w = weights + r * w_stride;
      const float* dc = dctx + r * Dk;
      // weights -> scores: softmax backward, da[s] = w[s] * (dw[s] - Σ w dw)
      float dot = 0.0f;
      for (int64_t s = 0; s < S; ++s) {
        da[s] = 0.0f;
        if (w[s] == 0.0f) continue;
        const float g = dot_f(dc, keys + (b * S + s) * Dk, Dk);
        if (dkeys) axpy_row(w[s], dc, dkeys + (b * S + s) * Dk, Dk);
        da[s] = g;
        dot += w[s] * g;
      }
      const float* qr = qp + r * A;
      float* dq = dqp + r * A;
      for (int64_t s = 0; s < S; ++s) {
        if (w[s] == 0.0f || !key_on(key_mask, S, b, s)) continue;
        score_row_backward(w[s] * (da[s] - dot), kp + (b * S + s) * A, qr, v, A, dv, dq, dkp + (b * S + s) * A);
      }
    }
  }
  linear_backward(dquery, dw_q, nullptr, dqp, query, w_q, B * Tq, d.Dq, A);
}

}  // namespace qkv::nn
