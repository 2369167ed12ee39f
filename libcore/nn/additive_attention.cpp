#include "nn/additive_attention.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "tensor/ops.h"

namespace qkv::nn {

void additive_attention_keys_forward(const AdditiveAttentionDims& d, const float* keys, const float* w_k,
                                     const float* b_k, float* kp) {
  const int64_t rows = d.B * d.S;
  for (int64_t r = 0; r < rows; ++r) std::memcpy(kp + r * d.A, b_k, sizeof(float) * d.A);
  ops::sgemm(false, true, rows, d.A, d.Dk, 1.0f, keys, w_k, 1.0f, kp);
}

void additive_attention_keys_backward(const AdditiveAttentionDims& d, const float* dkp, const float* keys,
                                      const float* w_k, float* dkeys, float* dw_k, float* db_k) {
  const int64_t rows = d.B * d.S;
  ops::sgemm(true, false, d.A, d.Dk, rows, 1.0f, dkp, keys, 1.0f, dw_k);  // (A, Dk)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t a = 0; a < d.A; ++a) db_k[a] += dkp[r * d.A + a];
  if (dkeys) ops::sgemm(false, false, rows, d.Dk, d.A, 1.0f, dkp, w_k, 1.0f, dkeys);  // (B*S, Dk)
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
  ops::sgemm(false, true, B * Tq, A, d.Dq, 1.0f, query, w_q, 0.0f, qp);
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
        const float* k = kp + (b * S + s) * A;
        float e = 0.0f;
        for (int64_t a = 0; a < A; ++a) e += v[a] * std::tanh(k[a] + qr[a]);
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
        w[s] = w[s] == neg_inf ? 0.0f : std::exp(w[s] - mx);
        sum += w[s];
      }
      const float inv = 1.0f / sum;
      for (int64_t s = 0; s < S; ++s) {
        w[s] *= inv;
        if (w[s] == 0.0f) continue;
        const float* kv = keys + (b * S + s) * Dk;
        for (int64_t j = 0; j < Dk; ++j) c[j] += w[s] * kv[j];
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
  ops::sgemm(false, true, B * Tq, A, d.Dq, 1.0f, query, w_q, 0.0f, qp);
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
        const float* kv = keys + (b * S + s) * Dk;
        float* dk = dkeys ? dkeys + (b * S + s) * Dk : nullptr;
        float g = 0.0f;
        for (int64_t j = 0; j < Dk; ++j) {
          g += dc[j] * kv[j];
          if (dk) dk[j] += w[s] * dc[j];
        }
        da[s] = g;
        dot += w[s] * g;
      }
      const float* qr = qp + r * A;
      float* dq = dqp + r * A;
      for (int64_t s = 0; s < S; ++s) {
        if (w[s] == 0.0f || !key_on(key_mask, S, b, s)) continue;
        const float de = w[s] * (da[s] - dot);
        const float* k = kp + (b * S + s) * A;
        float* dk = dkp + (b * S + s) * A;
        for (int64_t a = 0; a < A; ++a) {
          const float t = std::tanh(k[a] + qr[a]);
          dv[a] += de * t;
          const float dpre = de * v[a] * (1.0f - t * t);
          dq[a] += dpre;
          dk[a] += dpre;
        }
      }
    }
  }
  ops::sgemm(true, false, A, d.Dq, B * Tq, 1.0f, dqp, query, 1.0f, dw_q);                 // (A, Dq)
  if (dquery) ops::sgemm(false, false, B * Tq, d.Dq, A, 1.0f, dqp, w_q, 1.0f, dquery);  // (B*Tq, Dq)
}

}  // namespace qkv::nn
