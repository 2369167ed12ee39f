#include "nn/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
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

namespace {

// Where head (b, h) of a (B, ., T, .) tensor lives: element (b, h, t, d) is at
// base + b * batch + h * head + t * row + d. Head-major (B, H, T, hs) tensors
// and (B, T, k*C) projections with heads interleaved along C are both views.
struct HeadLayout {
  int64_t batch, head, row;
  int64_t at(int64_t b, int64_t h) const { return b * batch + h * head; }
};

HeadLayout head_major(int64_t H, int64_t T, int64_t hs) { return {H * T * hs, T * hs, hs}; }
HeadLayout interleaved(int64_t T, int64_t row, int64_t hs) { return {T * row, hs, row}; }

void sdpa_forward_core(float* out, HeadLayout lo, const float* q, HeadLayout lq, const float* k, HeadLayout lk,
                       const float* v, HeadLayout lv, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs,
                       const AttentionOptions& opt, SdpaCache& cache) {
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
      const int64_t b = bh / H, h = bh % H;
      const float* qb = q + lq.at(b, h);  // (Tq, hs), rows lq.row apart
      const float* kb = k + lk.at(b, h);  // (Tk, hs)
      const float* vb = v + lv.at(b, h);  // (Tk, hs)
      float* a = cache.att.data() + bh * TT;  // (Tq, Tk)
      ops::sgemm_ld(false, true, Tq, Tk, hs, scale, qb, lq.row, kb, lk.row, 0.0f, a, Tk);
      const uint8_t* kp = cache.key_pad.empty() ? nullptr : cache.key_pad.data() + b * Tk;  // (Tk)
      for (int64_t i = 0; i < Tq; ++i) masked_softmax_row(a + i * Tk, causal_limit(opt.causal, i, Tq, Tk), kp, Tk);
      const float* p = a;
      if (opt.dropout > 0.0f) {
        float* pd = cache.scratch.data() + bh * TT;  // (Tq, Tk)
        apply_drop(pd, a, cache.drop_mask.data() + bh * TT, TT, 1.0f / (1.0f - opt.dropout));
        p = pd;
      }
      // out (Tq, hs) = p (Tq, Tk) @ v (Tk, hs)
      ops::sgemm_ld(false, false, Tq, hs, Tk, 1.0f, p, Tk, vb, lv.row, 0.0f, out + lo.at(b, h), lo.row);
    }
  });
}

// beta = 1 accumulates into dq, dk, dv; beta = 0 overwrites them (each head
// block is written by one GEMM, so a caller's scratch needs no zero fill).
void sdpa_backward_core(float* dq, HeadLayout ldq, float* dk, HeadLayout ldk, float* dv, HeadLayout ldv,
                        const float* dout, HeadLayout ldo, const float* q, HeadLayout lq, const float* k,
                        HeadLayout lk, const float* v, HeadLayout lv, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                        int64_t hs, float beta, SdpaCache& cache, float* datt = nullptr) {
  const int64_t TT = Tq * Tk;
  const bool drop = cache.dropout > 0.0f;
  const float keep_scale = drop ? 1.0f / (1.0f - cache.dropout) : 1.0f;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  cache.scratch.resize(B * H * TT * (drop ? 2 : 1));
  parallel_for(B * H, 1, [&](int64_t bh0, int64_t bh1) {
    for (int64_t bh = bh0; bh < bh1; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      float* dp = cache.scratch.data() + bh * TT;                             // (Tq, Tk)
      float* pd = drop ? cache.scratch.data() + (B * H + bh) * TT : nullptr;  // (Tq, Tk) after dropout
      const float* a = cache.att.data() + bh * TT;                           // (Tq, Tk)
      const float* d = dout + ldo.at(b, h);                                  // (Tq, hs)
      const uint8_t* m = drop ? cache.drop_mask.data() + bh * TT : nullptr;
      const float* p = a;
      if (drop) {
        apply_drop(pd, a, m, TT, keep_scale);
        p = pd;
      }
      // dv (Tk, hs) += p^T (Tk, Tq) @ dout (Tq, hs)
      if (dv) ops::sgemm_ld(true, false, Tk, hs, Tq, 1.0f, p, Tk, d, ldo.row, beta, dv + ldv.at(b, h), ldv.row);
      if (!dq && !dk) continue;
      // dp (Tq, Tk) = dout (Tq, hs) @ v^T (hs, Tk)
      ops::sgemm_ld(false, true, Tq, Tk, hs, 1.0f, d, ldo.row, v + lv.at(b, h), lv.row, 0.0f, dp, Tk);
      if (drop) apply_drop(dp, dp, m, TT, keep_scale);
      if (datt) std::copy(dp, dp + TT, datt + bh * TT);  // dL/d weights (Tq, Tk), before the softmax backward
      softmax_backward_rows(dp, a, Tq, Tk);  // dp := dscores
      // dq (Tq, hs) += scale * ds (Tq, Tk) @ k (Tk, hs);  dk (Tk, hs) += scale * ds^T @ q (Tq, hs)
      if (dq)
        ops::sgemm_ld(false, false, Tq, hs, Tk, scale, dp, Tk, k + lk.at(b, h), lk.row, beta, dq + ldq.at(b, h),
                      ldq.row);
      if (dk)
        ops::sgemm_ld(true, false, Tk, hs, Tq, scale, dp, Tk, q + lq.at(b, h), lq.row, beta, dk + ldk.at(b, h),
                      ldk.row);
    }
  });
}

// x (N, C) with H heads side by side: head h's slice of every row times gate[h].
void scale_heads(float* out, const float* x, const float* gate, int64_t N, int64_t C, int64_t H) {
  const int64_t hs = C / H;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < hs; ++d) out[n * C + h * hs + d] = x[n * C + h * hs + d] * gate[h];
}

}  // namespace

void sdpa_forward(float* out, const float* q, const float* k, const float* v, int64_t B, int64_t H, int64_t Tq,
                  int64_t Tk, int64_t hs, const AttentionOptions& opt, SdpaCache& cache) {
  const HeadLayout lq = head_major(H, Tq, hs), lk = head_major(H, Tk, hs);
  sdpa_forward_core(out, lq, q, lq, k, lk, v, lk, B, H, Tq, Tk, hs, opt, cache);
}

void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs, SdpaCache& cache) {
  const HeadLayout lq = head_major(H, Tq, hs), lk = head_major(H, Tk, hs);
  sdpa_backward_core(dq, lq, dk, lk, dv, lk, dout, lq, q, lq, k, lk, v, lk, B, H, Tq, Tk, hs, 1.0f, cache);
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
  // The heads are read in place from the projections (no split copies):
  // self: proj (B, T, 3C) = [q | k | v]; cross: proj = q (B, Tq, C) then kv (B, Tk, 2C).
  const float *pq, *pk, *pv;
  HeadLayout lq, lkv;
  if (c.self) {  // one GEMM for Q, K and V: (B*T, C) @ (C, 3C)
    c.proj.resize(B * Tq * 3 * C);
    linear_forward(c.proj.data(), x_q, w.in_proj_weight, w.in_proj_bias, B * Tq, C, 3 * C);
    pq = c.proj.data(), pk = pq + C, pv = pq + 2 * C;
    lq = lkv = interleaved(Tq, 3 * C, hs);
  } else {
    c.proj.resize(B * Tq * C + B * Tk * 2 * C);
    float* q = c.proj.data();               // (B, Tq, C)
    float* kv = c.proj.data() + B * Tq * C;  // (B, Tk, 2C)
    linear_forward(q, x_q, w.in_proj_weight, w.in_proj_bias, B * Tq, C, C);
    linear_forward(kv, x_kv, w.in_proj_weight + C * C, w.in_proj_bias ? w.in_proj_bias + C : nullptr, B * Tk, C,
                   2 * C);
    pq = q, pk = kv, pv = kv + C;
    lq = interleaved(Tq, C, hs);
    lkv = interleaved(Tk, 2 * C, hs);
  }
  c.ctx.resize(B * Tq * C);  // (B, Tq, C): heads written side by side, out_proj's input
  sdpa_forward_core(c.ctx.data(), interleaved(Tq, C, hs), pq, lq, pk, lkv, pv, lkv, B, H, Tq, Tk, hs, opt, c.sdpa);
  const float* y = c.ctx.data();  // (B, Tq, C) out_proj's input
  if (w.head_gate) {
    c.gate.assign(w.head_gate, w.head_gate + H);
    c.gated.resize(B * Tq * C);
    scale_heads(c.gated.data(), y, w.head_gate, B * Tq, C, H);
    y = c.gated.data();
  } else {
    c.gate.clear();
  }
  linear_forward(out, y, w.out_proj_weight, w.out_proj_bias, B * Tq, C, C);  // (B, Tq, C)
}

void mha_backward(float* dx_q, float* dx_kv, const MhaGrads& g, const float* dout, const float* x_q,
                  const float* x_kv, const MhaWeights& w, MhaCache& c) {
  const int64_t B = c.B, Tq = c.Tq, Tk = c.Tk, C = c.C, H = c.H, hs = C / H;
  c.dctx.resize(B * Tq * C);  // (B, Tq, C), overwritten
  const bool gated = !c.gate.empty();
  linear_backward(c.dctx.data(), g.out_proj_weight, g.out_proj_bias, dout, gated ? c.gated.data() : c.ctx.data(),
                  w.out_proj_weight, B * Tq, C, C, /*accumulate_dinp=*/false);
  if (g.gate_grad) {  // (B, H): per row, sum over queries of <y_h, d(gate_h y_h)>
    g.gate_grad->assign(B * H, 0.0f);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        double s = 0;
        for (int64_t t = 0; t < Tq; ++t) {
          const int64_t at = (b * Tq + t) * C + h * hs;
          for (int64_t d = 0; d < hs; ++d) s += static_cast<double>(c.ctx[at + d]) * c.dctx[at + d];
        }
        (*g.gate_grad)[b * H + h] = static_cast<float>(s);
      }
  }
  if (gated) scale_heads(c.dctx.data(), c.dctx.data(), c.gate.data(), B * Tq, C, H);  // d y_h = gate_h d(gate_h y_h)
  float* datt = nullptr;
  if (g.att_grad) g.att_grad->resize(B * H * Tq * Tk), datt = g.att_grad->data();
  const HeadLayout lctx = interleaved(Tq, C, hs);
  if (c.self) {
    c.dproj.resize(B * Tq * 3 * C);  // (B, T, 3C), every element overwritten (beta 0)
    const HeadLayout l = interleaved(Tq, 3 * C, hs);
    const float* pq = c.proj.data();
    float* dq = c.dproj.data();
    sdpa_backward_core(dq, l, dq + C, l, dq + 2 * C, l, c.dctx.data(), lctx, pq, l, pq + C, l, pq + 2 * C, l, B, H,
                       Tq, Tk, hs, 0.0f, c.sdpa, datt);
    linear_backward(dx_q, g.in_proj_weight, g.in_proj_bias, c.dproj.data(), x_q, w.in_proj_weight, B * Tq, C,
                    3 * C);
  } else {
    c.dproj.resize(B * Tq * C + B * Tk * 2 * C);
    const HeadLayout lq = interleaved(Tq, C, hs), lkv = interleaved(Tk, 2 * C, hs);
    const float* pq = c.proj.data();
    const float* pkv = c.proj.data() + B * Tq * C;
    float* dpq = c.dproj.data();               // (B, Tq, C)
    float* dpkv = c.dproj.data() + B * Tq * C;  // (B, Tk, 2C)
    sdpa_backward_core(dpq, lq, dpkv, lkv, dpkv + C, lkv, c.dctx.data(), lctx, pq, lq, pkv, lkv, pkv + C, lkv, B, H,
                       Tq, Tk, hs, 0.0f, c.sdpa, datt);
    linear_backward(dx_q, g.in_proj_weight, g.in_proj_bias, dpq, x_q, w.in_proj_weight, B * Tq, C, C);
    linear_backward(dx_kv, g.in_proj_weight ? g.in_proj_weight + C * C : nullptr,
                    g.in_proj_bias ? g.in_proj_bias + C : nullptr, dpkv, x_kv, w.in_proj_weight + C * C, B * Tk, C,
                    2 * C);
  }
}

// ---- incremental decoding ---------------------------------------------------

void KvCache::reset(int64_t B_, int64_t H_, int64_t T_max_, int64_t hs_) {
  B = B_, H = H_, T_max = (T_max_ + kKeyTile - 1) / kKeyTile * kKeyTile, hs = hs_, len = 0;
  const size_t n = static_cast<size_t>(B * H * T_max * hs);
  if (k.size() < n) k.resize(n);
  if (v.size() < n) v.resize(n);
}

void KvCache::gather(const std::vector<int64_t>& rows) {
  const int64_t nB = static_cast<int64_t>(rows.size()), block = T_max * hs;
  bool identity = nB == B;
  for (int64_t i = 0; identity && i < nB; ++i) identity = rows[i] == i;
  if (identity) return;
  spare_k_.resize(std::max<size_t>(spare_k_.size(), nB * H * block));
  spare_v_.resize(std::max<size_t>(spare_v_.size(), nB * H * block));
  for (int64_t i = 0; i < nB; ++i) {
    QKV_CHECK(rows[i] >= 0 && rows[i] < B, "KvCache::gather: row out of range");
    for (int64_t h = 0; h < H; ++h) {  // head h of row rows[i] -> row i: positions [0, len)
      const int64_t from = (rows[i] * H + h) * block, to = (i * H + h) * block;
      const int64_t key_tiles = (len + kKeyTile - 1) / kKeyTile;  // (tiles, hs, kKeyTile) keys
      std::memcpy(spare_k_.data() + to, k.data() + from, sizeof(float) * key_tiles * hs * kKeyTile);
      std::memcpy(spare_v_.data() + to, v.data() + from, sizeof(float) * len * hs);  // values (T_max, hs)
    }
  }
  k.swap(spare_k_);
  v.swap(spare_v_);
  B = nB;
}

void mha_memory_kv(MemoryKv& m, const float* memory, const uint8_t* key_pad, const MhaWeights& w, int64_t Bm,
                   int64_t S, int64_t C) {
  m.Bm = Bm, m.S = S, m.C = C;
  if (m.kv.size() < static_cast<size_t>(Bm * S * 2 * C)) m.kv.resize(Bm * S * 2 * C);  // only grows (a recycled state)
  linear_forward(m.kv.data(), memory, w.in_proj_weight + C * C, w.in_proj_bias ? w.in_proj_bias + C : nullptr,
                 Bm * S, C, 2 * C);  // (Bm*S, 2C)
  if (key_pad)
    m.key_pad.assign(key_pad, key_pad + Bm * S);
  else
    m.key_pad.assign(Bm * S, 0);
}

namespace {

// att[j0 + j] = scale * acc[j] for the keys j0 + j < Tk (inlined into each clone).
__attribute__((always_inline)) inline void put_scores(float* att, int64_t j0, int64_t Tk, float scale, const Lanes& acc) {
  for (int64_t j = 0; j < std::min<int64_t>(kLanes, Tk - j0); ++j) att[j0 + j] = scale * acc[j];
}

// One query against Tk keys: att (Tk) = masked softmax(q . k_j / sqrt(hs)),
// out (hs) = sum_j att_j v_j. q (hs); v rows ldv floats apart; kp (Tk) or
// null. Keys as rows ldk floats apart (the memory's), or in the self-attention
// cache's tiles (key_tiles: (ceil(Tk / kKeyTile), hs, kKeyTile)); either way
// each score is summed over d in order.
QKV_SIMD_CLONES
void attend_one(float* out, float* att, const float* q, const float* k, int64_t ldk, bool key_tiles, const float* v,
                int64_t ldv, int64_t Tk, int64_t hs, const uint8_t* kp) {
  constexpr int64_t W = KvCache::kKeyTile;
  static_assert(W == kLanes, "a key tile is one Lanes value");
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  if (key_tiles) {
    // Scores of four tiles at once: four independent sums over d, so one
    // tile's multiply-add chain does not wait on the last (a single chain was
    // bound by the FMA latency, not by reading the keys).
    const int64_t tiles = (Tk + W - 1) / W;
    int64_t t = 0;
    for (; t + 4 <= tiles; t += 4) {
      const float* k0 = k + t * hs * W;  // (4, hs, W) keys of tiles t .. t + 3
      Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int64_t d = 0; d < hs; ++d) {
        const float qd = q[d];
        a0 += qd * QKV_LANES_AT(k0 + d * W);
        a1 += qd * QKV_LANES_AT(k0 + (hs + d) * W);
        a2 += qd * QKV_LANES_AT(k0 + (2 * hs + d) * W);
        a3 += qd * QKV_LANES_AT(k0 + (3 * hs + d) * W);
      }
      put_scores(att, t * W, Tk, scale, a0), put_scores(att, (t + 1) * W, Tk, scale, a1);
      put_scores(att, (t + 2) * W, Tk, scale, a2), put_scores(att, (t + 3) * W, Tk, scale, a3);
    }
    for (; t < tiles; ++t) {
      const float* tile = k + t * hs * W;  // (hs, W)
      Lanes acc = {};
      for (int64_t d = 0; d < hs; ++d) acc += q[d] * QKV_LANES_AT(tile + d * W);
      put_scores(att, t * W, Tk, scale, acc);
    }
  } else {
    for (int64_t j = 0; j < Tk; ++j) att[j] = scale * dot_f(q, k + j * ldk, hs);
  }
  masked_softmax_row(att, Tk, kp, Tk);
  // out (hs) = sum_j att_j v_j, each out[d] summed over j in order; the sums
  // stay in registers, 64 or 16 dimensions at a time (through memory, each
  // j's multiply-add waited on the last one's store).
  int64_t d0 = 0;
  for (; d0 + 4 * kLanes <= hs; d0 += 4 * kLanes) {
    Lanes o0 = {}, o1 = {}, o2 = {}, o3 = {};
    for (int64_t j = 0; j < Tk; ++j) {
      const float a = att[j];
      const float* vj = v + j * ldv + d0;
      o0 += a * QKV_LANES_AT(vj);
      o1 += a * QKV_LANES_AT(vj + kLanes);
      o2 += a * QKV_LANES_AT(vj + 2 * kLanes);
      o3 += a * QKV_LANES_AT(vj + 3 * kLanes);
    }
    std::memcpy(out + d0, &o0, sizeof o0);
    std::memcpy(out + d0 + kLanes, &o1, sizeof o1);
    std::memcpy(out + d0 + 2 * kLanes, &o2, sizeof o2);
    std::memcpy(out + d0 + 3 * kLanes, &o3, sizeof o3);
  }
  for (; d0 + kLanes <= hs; d0 += kLanes) {
    Lanes o = {};
    for (int64_t j = 0; j < Tk; ++j) o += att[j] * QKV_LANES_AT(v + j * ldv + d0);
    std::memcpy(out + d0, &o, sizeof o);
  }
  for (int64_t d = d0; d < hs; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j < Tk; ++j) {
    const float a = att[j];
    const float* vj = v + j * ldv;
    for (int64_t d = d0; d < hs; ++d) out[d] += a * vj[d];
  }
}

// Threads split the (row, head) pairs when there is enough work.
void attend_rows(int64_t B, int64_t H, int64_t Tk, int64_t hs, const std::function<void(int64_t, int64_t)>& fn) {
  parallel_for(B * H, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, 4 * Tk * hs)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i / H, i % H);
  });
}

}  // namespace

void mha_step_self(float* out, const float* x, const MhaWeights& w, int64_t C, int64_t H, KvCache& cache,
                   MhaStepScratch& s) {
  const int64_t B = cache.B, hs = C / H, t = cache.len, Tk = t + 1;
  QKV_CHECK(cache.H == H && cache.hs == hs, "mha_step_self: cache shape");
  if (t >= cache.T_max) throw DataError("attention cache full: " + std::to_string(cache.T_max) + " positions");
  s.proj.resize(B * 3 * C);
  s.ctx.resize(B * C);
  s.att.resize(B * H * Tk);
  s.Tk = Tk;
  linear_forward(s.proj.data(), x, w.in_proj_weight, w.in_proj_bias, B, C, 3 * C, w.in_proj_packed);  // (B, 3C) = [q | k | v]
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {  // k, v of the new position -> cache (b, h, t / W, :, t % W) and (b, h, t, :)
      const int64_t head = (b * H + h) * cache.T_max * hs, W = KvCache::kKeyTile;
      const float* k = s.proj.data() + b * 3 * C + C + h * hs;  // (hs)
      float* tile = cache.k.data() + head + t / W * hs * W;      // (hs, W)
      for (int64_t d = 0; d < hs; ++d) tile[d * W + t % W] = k[d];
      std::memcpy(cache.v.data() + head + t * hs, s.proj.data() + b * 3 * C + 2 * C + h * hs, sizeof(float) * hs);
    }
  cache.len = Tk;
  attend_rows(B, H, Tk, hs, [&](int64_t b, int64_t h) {
    const int64_t head = (b * H + h) * cache.T_max * hs;  // (T_max / W, hs, W) keys and (T_max, hs) values of (b, h)
    attend_one(s.ctx.data() + b * C + h * hs, s.att.data() + (b * H + h) * Tk, s.proj.data() + b * 3 * C + h * hs,
               cache.k.data() + head, cache.T_max, true, cache.v.data() + head, hs, Tk, hs, nullptr);
  });
  if (w.head_gate) scale_heads(s.ctx.data(), s.ctx.data(), w.head_gate, B, C, H);
  linear_forward(out, s.ctx.data(), w.out_proj_weight, w.out_proj_bias, B, C, C, w.out_proj_packed);  // (B, C)
}

void mha_step_cross(float* out, const float* x, const MhaWeights& w, int64_t H, const MemoryKv& m,
                    const int64_t* mem_row, int64_t B, MhaStepScratch& s) {
  const int64_t C = m.C, S = m.S, hs = C / H;
  s.proj.resize(B * C);
  s.ctx.resize(B * C);
  s.att.resize(B * H * S);
  s.Tk = S;
  linear_forward(s.proj.data(), x, w.in_proj_weight, w.in_proj_bias, B, C, C, w.in_proj_packed);  // q (B, C)
  attend_rows(B, H, S, hs, [&](int64_t b, int64_t h) {
    const int64_t r = mem_row[b];
    const float* kv = m.kv.data() + r * S * 2 * C;  // (S, 2C) of the row's memory
    attend_one(s.ctx.data() + b * C + h * hs, s.att.data() + (b * H + h) * S, s.proj.data() + b * C + h * hs,
               kv + h * hs, 2 * C, false, kv + C + h * hs, 2 * C, S, hs, m.key_pad.data() + r * S);
  });
  if (w.head_gate) scale_heads(s.ctx.data(), s.ctx.data(), w.head_gate, B, C, H);
  linear_forward(out, s.ctx.data(), w.out_proj_weight, w.out_proj_bias, B, C, C, w.out_proj_packed);  // (B, C)
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
