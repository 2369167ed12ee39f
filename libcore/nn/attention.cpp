#include "nn/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/dropout.h"
#include "nn/fast_math.h"
#include "nn/linear.h"
#include "tensor/ops.h"

namespace qkv::nn {

namespace {

// One row of scores s (Tk) -> softmax weights over keys [0, limit) that the
// padding mask kp (Tk, or null) allows; masked and causal-hidden keys get 0.
QKV_SIMD_CLONES
void masked_softmax_row(float* s, int64_t limit, const uint8_t* kp, int64_t Tk) {
  if (kp)
    for (int64_t j = 0; j < limit; ++j) s[j] = kp[j] ? -INFINITY : s[j];
  const float mx = max_f(s, limit);
  if (mx == -INFINITY) {  // nothing to attend to: zero weights, never NaN
    for (int64_t j = 0; j < Tk; ++j) s[j] = 0.0f;
    return;
  }
  for (int64_t j = 0; j < limit; ++j) s[j] = exp_f(s[j] - mx);
  const float inv = 1.0f / sum_f(s, limit);
  for (int64_t j = 0; j < limit; ++j) s[j] *= inv;
  for (int64_t j = limit; j < Tk; ++j) s[j] = 0.0f;
}

// ds (n) = a * (dp - <a, dp>) row by row: the softmax backward, in place on dp.
QKV_SIMD_CLONES
void softmax_backward_rows(float* dp, const float* a, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) {
    float* d = dp + i * n;
    const float* p = a + i * n;
    const float s = dot_f(p, d, n);
    for (int64_t j = 0; j < n; ++j) d[j] = p[j] * (d[j] - s);
  }
}

QKV_SIMD_CLONES
void apply_drop(float* out, const float* a, const uint8_t* m, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) out[i] = m[i] ? a[i] * scale : 0.0f;
}

int64_t causal_limit(bool causal, int64_t i, int64_t Tq, int64_t Tk) {
  if (!causal) return Tk;
  return std::clamp<int64_t>(i + (Tk - Tq) + 1, 0, Tk);
}

}  // namespace

void split_heads(float* out, const float* x, int64_t B, int64_t T, int64_t H, int64_t hs, int64_t row) {
  parallel_for(B, std::max<int64_t>(1, 8192 / (T * H * hs + 1)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t)
          std::memcpy(out + ((b * H + h) * T + t) * hs, x + (b * T + t) * row + h * hs, sizeof(float) * hs);
  });
}

namespace {
QKV_SIMD_CLONES
void merge_heads_rows(float* out, const float* heads, int64_t b0, int64_t b1, int64_t T, int64_t H, int64_t hs,
                      int64_t row, bool accumulate) {
  for (int64_t b = b0; b < b1; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const float* src = heads + ((b * H + h) * T + t) * hs;  // (hs)
        float* dst = out + (b * T + t) * row + h * hs;          // (hs)
        if (accumulate)
          for (int64_t d = 0; d < hs; ++d) dst[d] += src[d];
        else
          for (int64_t d = 0; d < hs; ++d) dst[d] = src[d];
      }
}
}  // namespace

void merge_heads(float* out, const float* heads, int64_t B, int64_t T, int64_t H, int64_t hs, int64_t row,
                 bool accumulate) {
  parallel_for(B, std::max<int64_t>(1, 8192 / (T * H * hs + 1)), [&](int64_t b0, int64_t b1) {
    merge_heads_rows(out, heads, b0, b1, T, H, hs, row, accumulate);
  });
}

void sdpa_forward(float* out, const float* q, const float* k, const float* v, int64_t B, int64_t H, int64_t Tq,
                  int64_t Tk, int64_t hs, const AttentionOptions& opt, SdpaCache& cache) {
  if (opt.dropout > 0.0f && !opt.rng) throw DataError("attention dropout needs a random generator");
  const int64_t TT = Tq * Tk;
  cache.att.resize(B * H * TT);
  cache.causal = opt.causal;
  cache.dropout = opt.dropout;
  if (opt.key_padding_mask)
    cache.key_pad.assign(opt.key_padding_mask, opt.key_padding_mask + B * Tk);
  else
    cache.key_pad.clear();
  if (opt.dropout > 0.0f) {  // the whole mask first, in a fixed order: reproducible
    cache.drop_mask.resize(B * H * TT);
    dropout_mask(cache.drop_mask.data(), B * H * TT, opt.dropout, *opt.rng);
    cache.scratch.resize(B * H * TT);
  } else {
    cache.drop_mask.clear();
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  // threads split the (batch, head) pairs; each pair is independent
  parallel_for(B * H, 1, [&](int64_t bh0, int64_t bh1) {
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const int64_t b = bh / H;
    const float* qb = q + bh * Tq * hs;  // (Tq, hs)
    const float* kb = k + bh * Tk * hs;  // (Tk, hs)
    const float* vb = v + bh * Tk * hs;  // (Tk, hs)
    float* a = cache.att.data() + bh * TT;  // (Tq, Tk)
    ops::sgemm(false, true, Tq, Tk, hs, scale, qb, kb, 0.0f, a);
    const uint8_t* kp = cache.key_pad.empty() ? nullptr : cache.key_pad.data() + b * Tk;  // (Tk)
    for (int64_t i = 0; i < Tq; ++i) masked_softmax_row(a + i * Tk, causal_limit(opt.causal, i, Tq, Tk), kp, Tk);
    const float* p = a;
    if (opt.dropout > 0.0f) {
      float* pd = cache.scratch.data() + bh * TT;  // (Tq, Tk)
      apply_drop(pd, a, cache.drop_mask.data() + bh * TT, TT, 1.0f / (1.0f - opt.dropout));
      p = pd;
    }
    ops::sgemm(false, false, Tq, hs, Tk, 1.0f, p, vb, 0.0f, out + bh * Tq * hs);  // (Tq, hs)
  }
  });
}

void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs, SdpaCache& cache) {
  const int64_t TT = Tq * Tk;
  const bool drop = cache.dropout > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - cache.dropout) : 1.0f;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  cache.scratch.resize(B * H * TT * (drop ? 2 : 1));
  parallel_for(B * H, 1, [&](int64_t bh0, int64_t bh1) {
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    float* dp = cache.scratch.data() + bh * TT;                  // (Tq, Tk)
    float* pd = drop ? cache.scratch.data() + (B * H + bh) * TT : nullptr;  // (Tq, Tk) weights after dropout
    const float* a = cache.att.data() + bh * TT;  // (Tq, Tk)
    const float* d = dout + bh * Tq * hs;         // (Tq, hs)
    const uint8_t* m = drop ? cache.drop_mask.data() + bh * TT : nullptr;
    const float* p = a;
    if (drop) {
      apply_drop(pd, a, m, TT, keep_scale);
      p = pd;
    }
    // dv (Tk, hs) += p^T (Tk, Tq) @ dout (Tq, hs)
    if (dv) ops::sgemm(true, false, Tk, hs, Tq, 1.0f, p, d, 1.0f, dv + bh * Tk * hs);
    if (!dq && !dk) continue;
    // dp (Tq, Tk) = dout (Tq, hs) @ v^T (hs, Tk)
    ops::sgemm(false, true, Tq, Tk, hs, 1.0f, d, v + bh * Tk * hs, 0.0f, dp);
    if (drop) apply_drop(dp, dp, m, TT, keep_scale);
    softmax_backward_rows(dp, a, Tq, Tk);  // dp := dscores
    // dq (Tq, hs) += scale * ds (Tq, Tk) @ k (Tk, hs);  dk (Tk, hs) += scale * ds^T @ q (Tq, hs)
    if (dq) ops::sgemm(false, false, Tq, hs, Tk, scale, dp, k + bh * Tk * hs, 1.0f, dq + bh * Tq * hs);
    if (dk) ops::sgemm(true, false, Tk, hs, Tq, scale, dp, q + bh * Tq * hs, 1.0f, dk + bh * Tk * hs);
  }
  });
}

void mha_forward(float* out, const float* x_q, const float* x_kv, const MhaWeights& w, int64_t B, int64_t Tq,
                 int64_t Tk, int64_t C, int64_t H, const AttentionOptions& opt, MhaCache& c) {
  if (H <= 0 || C % H != 0)
    throw DataError("multi-head attention: d_model " + std::to_string(C) + " is not divisible by " +
                    std::to_string(H) + " heads");
  const int64_t hs = C / H;
  c.B = B, c.Tq = Tq, c.Tk = Tk, c.C = C, c.H = H;
  c.self = x_q == x_kv;
  if (c.self) QKV_CHECK(Tq == Tk, "self-attention with Tq != Tk");
  c.q.resize(B * Tq * C);
  c.k.resize(B * Tk * C);
  c.v.resize(B * Tk * C);
  if (c.self) {  // one GEMM for Q, K and V: (B*T, C) @ (C, 3C)
    c.proj.resize(B * Tq * 3 * C);
    linear_forward(c.proj.data(), x_q, w.in_proj_weight, w.in_proj_bias, B * Tq, C, 3 * C);  // (B, T, 3C)
    split_heads(c.q.data(), c.proj.data(), B, Tq, H, hs, 3 * C);
    split_heads(c.k.data(), c.proj.data() + C, B, Tq, H, hs, 3 * C);
    split_heads(c.v.data(), c.proj.data() + 2 * C, B, Tq, H, hs, 3 * C);
  } else {
    c.proj.resize(B * Tq * C + B * Tk * 2 * C);
    float* pq = c.proj.data();               // (B, Tq, C)
    float* pkv = c.proj.data() + B * Tq * C;  // (B, Tk, 2C)
    linear_forward(pq, x_q, w.in_proj_weight, w.in_proj_bias, B * Tq, C, C);
    linear_forward(pkv, x_kv, w.in_proj_weight + C * C, w.in_proj_bias ? w.in_proj_bias + C : nullptr, B * Tk, C,
                   2 * C);
    split_heads(c.q.data(), pq, B, Tq, H, hs, C);
    split_heads(c.k.data(), pkv, B, Tk, H, hs, 2 * C);
    split_heads(c.v.data(), pkv + C, B, Tk, H, hs, 2 * C);
  }
  c.ctx_heads.resize(B * Tq * C);
  sdpa_forward(c.ctx_heads.data(), c.q.data(), c.k.data(), c.v.data(), B, H, Tq, Tk, hs, opt, c.sdpa);
  c.ctx.resize(B * Tq * C);
  merge_heads(c.ctx.data(), c.ctx_heads.data(), B, Tq, H, hs, C, false);
  linear_forward(out, c.ctx.data(), w.out_proj_weight, w.out_proj_bias, B * Tq, C, C);  // (B, Tq, C)
}

void mha_backward(float* dx_q, float* dx_kv, const MhaGrads& g, const float* dout, const float* x_q,
                  const float* x_kv, const MhaWeights& w, MhaCache& c) {
  const int64_t B = c.B, Tq = c.Tq, Tk = c.Tk, C = c.C, H = c.H, hs = C / H;
  c.dctx.resize(B * Tq * C);  // (B, Tq, C), overwritten
  linear_backward(c.dctx.data(), g.out_proj_weight, g.out_proj_bias, dout, c.ctx.data(), w.out_proj_weight,
                  B * Tq, C, C, /*accumulate_dinp=*/false);
  c.dheads.resize(B * Tq * C);  // (B, H, Tq, hs)
  split_heads(c.dheads.data(), c.dctx.data(), B, Tq, H, hs, C);
  c.dq.assign(B * Tq * C, 0.0f);
  c.dk.assign(B * Tk * C, 0.0f);
  c.dv.assign(B * Tk * C, 0.0f);
  sdpa_backward(c.dq.data(), c.dk.data(), c.dv.data(), c.dheads.data(), c.q.data(), c.k.data(), c.v.data(), B, H,
                Tq, Tk, hs, c.sdpa);
  if (c.self) {
    c.dproj.resize(B * Tq * 3 * C);  // (B, T, 3C)
    merge_heads(c.dproj.data(), c.dq.data(), B, Tq, H, hs, 3 * C, false);
    merge_heads(c.dproj.data() + C, c.dk.data(), B, Tq, H, hs, 3 * C, false);
    merge_heads(c.dproj.data() + 2 * C, c.dv.data(), B, Tq, H, hs, 3 * C, false);
    linear_backward(dx_q, g.in_proj_weight, g.in_proj_bias, c.dproj.data(), x_q, w.in_proj_weight, B * Tq, C,
                    3 * C);
  } else {
    c.dproj.resize(B * Tq * C + B * Tk * 2 * C);
    float* dpq = c.dproj.data();               // (B, Tq, C)
    float* dpkv = c.dproj.data() + B * Tq * C;  // (B, Tk, 2C)
    merge_heads(dpq, c.dq.data(), B, Tq, H, hs, C, false);
    merge_heads(dpkv, c.dk.data(), B, Tk, H, hs, 2 * C, false);
    merge_heads(dpkv + C, c.dv.data(), B, Tk, H, hs, 2 * C, false);
    linear_backward(dx_q, g.in_proj_weight, g.in_proj_bias, dpq, x_q, w.in_proj_weight, B * Tq, C, C);
    linear_backward(dx_kv, g.in_proj_weight ? g.in_proj_weight + C * C : nullptr,
                    g.in_proj_bias ? g.in_proj_bias + C : nullptr, dpkv, x_kv, w.in_proj_weight + C * C, B * Tk, C,
                    2 * C);
  }
}

namespace ref {

void sdpa_forward(float* out, float* att, const float* q, const float* k, const float* v, int64_t B, int64_t H,
                  int64_t Tq, int64_t Tk, int64_t hs, bool causal, const uint8_t* key_padding_mask) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
  std::vector<double> s(Tk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t bh = b * H + h;
      for (int64_t i = 0; i < Tq; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < Tk; ++j) {
          bool visible = !(causal && j > i + (Tk - Tq)) && !(key_padding_mask && key_padding_mask[b * Tk + j]);
          double dotp = 0;
          for (int64_t d = 0; d < hs; ++d) dotp += static_cast<double>(q[(bh * Tq + i) * hs + d]) * k[(bh * Tk + j) * hs + d];
          s[j] = visible ? dotp * scale : -INFINITY;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          s[j] = mx == -INFINITY ? 0.0 : std::exp(s[j] - mx);
          z += s[j];
        }
        for (int64_t j = 0; j < Tk; ++j) att[(bh * Tq + i) * Tk + j] = z > 0 ? static_cast<float>(s[j] / z) : 0.0f;
        for (int64_t d = 0; d < hs; ++d) {
          double o = 0;
          for (int64_t j = 0; j < Tk; ++j) o += z > 0 ? s[j] / z * v[(bh * Tk + j) * hs + d] : 0.0;
          out[(bh * Tq + i) * hs + d] = static_cast<float>(o);
        }
      }
    }
}

void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, const float* att, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
  std::vector<double> dp(Tk);
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < Tq; ++i) {
      const float* a = att + (bh * Tq + i) * Tk;
      const float* d = dout + (bh * Tq + i) * hs;
      double sum = 0;
      for (int64_t j = 0; j < Tk; ++j) {
        double s = 0;
        for (int64_t e = 0; e < hs; ++e) s += static_cast<double>(d[e]) * v[(bh * Tk + j) * hs + e];
        dp[j] = s;
        sum += s * a[j];
        for (int64_t e = 0; e < hs; ++e) dv[(bh * Tk + j) * hs + e] += static_cast<float>(a[j] * d[e]);
      }
      for (int64_t j = 0; j < Tk; ++j) {
        double ds = a[j] * (dp[j] - sum) * scale;
        for (int64_t e = 0; e < hs; ++e) {
          dq[(bh * Tq + i) * hs + e] += static_cast<float>(ds * k[(bh * Tk + j) * hs + e]);
          dk[(bh * Tk + j) * hs + e] += static_cast<float>(ds * q[(bh * Tq + i) * hs + e]);
        }
      }
    }
}

}  // namespace ref
}  // namespace qkv::nn
