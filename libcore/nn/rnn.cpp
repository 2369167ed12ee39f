#include "nn/rnn.h"

#include <cmath>
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "nn/dropout.h"
#include "nn/fast_math.h"
#include "nn/linear.h"
#include "tensor/ops.h"

namespace qkv::nn {

RnnCell parse_rnn_cell(const std::string& name) {
  if (name == "gru") return RnnCell::gru;
  if (name == "lstm") return RnnCell::lstm;
  throw DataError("unknown rnn cell '" + name + "' (expected gru or lstm)");
}

const char* rnn_cell_name(RnnCell cell) { return cell == RnnCell::gru ? "gru" : "lstm"; }

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

static inline bool row_on(const uint8_t* mask, int64_t mask_stride, int64_t b) {
  return mask == nullptr || mask[b * mask_stride] != 0;
}

// One (real, unmasked) batch row of a GRU step: x, hh (3H) the input and recurrent projections;
// cache [r, z, n, hn].
QKV_SIMD_CLONES
static void gru_row_forward(int64_t H, const float* __restrict x, const float* __restrict hh,
                            const float* __restrict hp, float* __restrict hb, float* __restrict cw) {
  float* __restrict r = cw;
  float* __restrict z = cw + H;
  float* __restrict n = cw + 2 * H;
  float* __restrict hn = cw + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const float rv = sigmoid_f(x[j] + hh[j]), zv = sigmoid_f(x[H + j] + hh[H + j]), hnv = hh[2 * H + j];
    const float nv = tanh_f(x[2 * H + j] + rv * hnv);
    r[j] = rv, z[j] = zv, n[j] = nv, hn[j] = hnv;
    hb[j] = (1.0f - zv) * nv + zv * hp[j];
  }
}

// One (real) batch row of an LSTM step; cache [i, f, g, o, c_prev, tanh(c)].
QKV_SIMD_CLONES
static void lstm_row_forward(int64_t H, const float* __restrict x, const float* __restrict hh,
                             const float* __restrict cp, float* __restrict hb, float* __restrict cb,
                             float* __restrict cw) {
  for (int64_t j = 0; j < H; ++j) {
    const float iv = sigmoid_f(x[j] + hh[j]), fv = sigmoid_f(x[H + j] + hh[H + j]);
    const float gv = tanh_f(x[2 * H + j] + hh[2 * H + j]), ov = sigmoid_f(x[3 * H + j] + hh[3 * H + j]);
    const float cn = fv * cp[j] + iv * gv, tv = tanh_f(cn);
    cw[j] = iv, cw[H + j] = fv, cw[2 * H + j] = gv, cw[3 * H + j] = ov, cw[4 * H + j] = cp[j], cw[5 * H + j] = tv;
    cb[j] = cn;
    hb[j] = ov * tv;
  }
}

void rnn_step_forward(RnnCell cell, int64_t B, int64_t H, const float* gx, int64_t gx_stride, const float* h_prev,
                      const float* c_prev, const float* w_hh, const float* b_hh, const uint8_t* mask,
                      int64_t mask_stride, float* h, float* c, float* cache, float* gh_scratch) {
  const int64_t GH = rnn_gates(cell) * H, CW = rnn_cache_width(cell, H);
  linear_forward(gh_scratch, h_prev, w_hh, b_hh, B, H, GH);  // gh (B, G*H) = h_prev @ w_hh^T + b_hh
  for (int64_t b = 0; b < B; ++b) {
    float* cw = cache + b * CW;
    if (!row_on(mask, mask_stride, b)) {  // skipped step: the state carries over (cache unused)
      std::memcpy(h + b * H, h_prev + b * H, sizeof(float) * H);
      if (cell == RnnCell::lstm) std::memcpy(c + b * H, c_prev + b * H, sizeof(float) * H);
    } else if (cell == RnnCell::gru) {
      gru_row_forward(H, gx + b * gx_stride, gh_scratch + b * GH, h_prev + b * H, h + b * H, cw);
    } else {
      lstm_row_forward(H, gx + b * gx_stride, gh_scratch + b * GH, c_prev + b * H, h + b * H, c + b * H, cw);
    }
  }
}

QKV_SIMD_CLONES
static void gru_row_backward(int64_t H, const float* __restrict cw, const float* __restrict hp,
                             const float* __restrict dh, float* __restrict gx, float* __restrict gh,
                             float* __restrict dhp) {
  const float *r = cw, *z = cw + H, *n = cw + 2 * H, *hn = cw + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const float d = dh[j];
    const float dn_pre = d * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
    const float dz_pre = d * (hp[j] - n[j]) * z[j] * (1.0f - z[j]);
    const float dr_pre = dn_pre * hn[j] * r[j] * (1.0f - r[j]);
    gx[j] = dr_pre;
    gx[H + j] = dz_pre;
    gx[2 * H + j] = dn_pre;
    gh[j] = dr_pre;
    gh[H + j] = dz_pre;
    gh[2 * H + j] = dn_pre * r[j];
    dhp[j] = d * z[j];
  }
}

QKV_SIMD_CLONES
static void lstm_row_backward(int64_t H, const float* __restrict cw, const float* __restrict dh,
                              const float* __restrict dc, float* __restrict gx, float* __restrict gh,
                              float* __restrict dhp, float* __restrict dcp) {
  const float *ig = cw, *fg = cw + H, *gg = cw + 2 * H, *og = cw + 3 * H, *cp = cw + 4 * H, *tc = cw + 5 * H;
  for (int64_t j = 0; j < H; ++j) {
    const float d = dh[j];
    const float dct = dc[j] + d * og[j] * (1.0f - tc[j] * tc[j]);
    const float di = dct * gg[j] * ig[j] * (1.0f - ig[j]);
    const float df = dct * cp[j] * fg[j] * (1.0f - fg[j]);
    const float dg = dct * ig[j] * (1.0f - gg[j] * gg[j]);
    const float dout = d * tc[j] * og[j] * (1.0f - og[j]);
    gx[j] = gh[j] = di;
    gx[H + j] = gh[H + j] = df;
    gx[2 * H + j] = gh[2 * H + j] = dg;
    gx[3 * H + j] = gh[3 * H + j] = dout;
    dcp[j] = dct * fg[j];
    dhp[j] = 0.0f;
  }
}

void rnn_step_backward(RnnCell cell, int64_t B, int64_t H, const float* cache, const float* h_prev,
                       const uint8_t* mask, int64_t mask_stride, const float* dh, const float* dc,
                       const float* w_hh, float* dgx, int64_t dgx_stride, float* dgh, float* dh_prev,
                       float* dc_prev) {
  const int64_t GH = rnn_gates(cell) * H, CW = rnn_cache_width(cell, H);
  for (int64_t b = 0; b < B; ++b) {
    const float* cw = cache + b * CW;
    const float* dhb = dh + b * H;
    float* gx = dgx + b * dgx_stride;  // (G*H)
    float* gh = dgh + b * GH;          // (G*H)
    float* dhp = dh_prev + b * H;
    if (!row_on(mask, mask_stride, b)) {  // skipped step: identity on the state
      std::memset(gx, 0, sizeof(float) * GH);
      std::memset(gh, 0, sizeof(float) * GH);
      std::memcpy(dhp, dhb, sizeof(float) * H);
      if (cell == RnnCell::lstm) std::memcpy(dc_prev + b * H, dc + b * H, sizeof(float) * H);
      continue;
    }
    if (cell == RnnCell::gru)
      gru_row_backward(H, cw, h_prev + b * H, dhb, gx, gh, dhp);
    else
      lstm_row_backward(H, cw, dhb, dc + b * H, gx, gh, dhp, dc_prev + b * H);
  }
  // dh_prev += dgh (B, G*H) @ w_hh (G*H, H)
  ops::sgemm(false, false, B, H, GH, 1.0f, dgh, w_hh, 1.0f, dh_prev);
}

void rnn_layer_forward(RnnCell cell, int64_t B, int64_t T, int64_t I, int64_t H, const float* x, const float* h0,
                       const float* c0, const RnnWeights& w, const uint8_t* mask, bool reverse, float* y,
                       int64_t y_stride, float* h_n, float* c_n, RnnLayerCache& cache) {
  const int64_t GH = rnn_gates(cell) * H, CW = rnn_cache_width(cell, H);
  const bool lstm = cell == RnnCell::lstm;
  cache.B = B, cache.T = T, cache.I = I, cache.H = H;
  cache.cell = cell, cache.reverse = reverse, cache.x = x, cache.mask = mask;
  cache.gx.resize(B * T * GH);
  cache.cache.resize(T * B * CW);
  cache.hprev.resize(T * B * H);
  cache.scratch.resize(B * GH);
  // gx (B*T, G*H) = x (B*T, I) @ w_ih^T + b_ih: all time steps in one sgemm.
  float* gx = cache.gx.data();
  linear_forward(gx, x, w.w_ih, w.b_ih, B * T, I, GH);

  std::vector<float> h(B * H, 0.0f), hnext(B * H), c, cnext;  // (B, H)
  if (h0) std::memcpy(h.data(), h0, sizeof(float) * B * H);
  if (lstm) {
    c.assign(B * H, 0.0f);
    cnext.resize(B * H);
    if (c0) std::memcpy(c.data(), c0, sizeof(float) * B * H);
  }
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    std::memcpy(cache.hprev.data() + s * B * H, h.data(), sizeof(float) * B * H);
    rnn_step_forward(cell, B, H, gx + t * GH, T * GH, h.data(), lstm ? c.data() : nullptr, w.w_hh, w.b_hh,
                     mask ? mask + t : nullptr, T, hnext.data(), lstm ? cnext.data() : nullptr,
                     cache.cache.data() + s * B * CW, cache.scratch.data());
    for (int64_t b = 0; b < B; ++b) {
      float* yr = y + (b * T + t) * y_stride;
      if (row_on(mask ? mask + t : nullptr, T, b))
        std::memcpy(yr, hnext.data() + b * H, sizeof(float) * H);
      else
        std::memset(yr, 0, sizeof(float) * H);
    }
    h.swap(hnext);
    if (lstm) c.swap(cnext);
  }
  if (h_n) std::memcpy(h_n, h.data(), sizeof(float) * B * H);
  if (c_n && lstm) std::memcpy(c_n, c.data(), sizeof(float) * B * H);
}

void rnn_layer_backward(const RnnLayerCache& cache, const RnnWeights& w, const float* dy, int64_t dy_stride,
                        const float* dh_n, const float* dc_n, RnnGrads& g, float* dx, float* dh0, float* dc0) {
  const int64_t B = cache.B, T = cache.T, I = cache.I, H = cache.H;
  const RnnCell cell = cache.cell;
  const bool lstm = cell == RnnCell::lstm;
  const int64_t GH = rnn_gates(cell) * H, CW = rnn_cache_width(cell, H);
  const uint8_t* mask = cache.mask;

  std::vector<float> dh(B * H, 0.0f), dhp(B * H), dc, dcp;  // (B, H)
  if (dh_n) std::memcpy(dh.data(), dh_n, sizeof(float) * B * H);
  if (lstm) {
    dc.assign(B * H, 0.0f);
    dcp.resize(B * H);
    if (dc_n) std::memcpy(dc.data(), dc_n, sizeof(float) * B * H);
  }
  std::vector<float> dgx(B * T * GH);  // (B, T, G*H)
  std::vector<float> dgh(T * B * GH);  // (T, B, G*H), processing order
  for (int64_t s = T - 1; s >= 0; --s) {
    const int64_t t = cache.reverse ? T - 1 - s : s;
    if (dy) {  // the output at a real step is the new state (zero at a skipped step)
      for (int64_t b = 0; b < B; ++b) {
        if (!row_on(mask ? mask + t : nullptr, T, b)) continue;
        const float* dyr = dy + (b * T + t) * dy_stride;
        float* d = dh.data() + b * H;
        for (int64_t j = 0; j < H; ++j) d[j] += dyr[j];
      }
    }
    rnn_step_backward(cell, B, H, cache.cache.data() + s * B * CW, cache.hprev.data() + s * B * H,
                      mask ? mask + t : nullptr, T, dh.data(), lstm ? dc.data() : nullptr, w.w_hh,
                      dgx.data() + t * GH, T * GH, dgh.data() + s * B * GH, dhp.data(),
                      lstm ? dcp.data() : nullptr);
    dh.swap(dhp);
    if (lstm) dc.swap(dcp);
  }
  if (dh0)
    for (int64_t i = 0; i < B * H; ++i) dh0[i] += dh[i];
  if (dc0 && lstm)
    for (int64_t i = 0; i < B * H; ++i) dc0[i] += dc[i];

  // Weight gradients (and dx): one sgemm each over all steps.
  linear_backward(nullptr, g.w_hh, g.b_hh, dgh.data(), cache.hprev.data(), w.w_hh, T * B, H, GH);
  linear_backward(dx, g.w_ih, g.b_ih, dgx.data(), cache.x, w.w_ih, B * T, I, GH);
}

void rnn_stack_forward(const RnnStackShape& s, int64_t B, int64_t T, const float* x, const float* h0,
                       const float* c0, const std::vector<RnnWeights>& w, const uint8_t* mask, float* y,
                       float* h_n, float* c_n, RnnStackCache& cache, float dropout, Rng* rng) {
  const int64_t D = s.dirs(), H = s.hidden, L = s.layers, OD = s.out_dim();
  QKV_CHECK(static_cast<int64_t>(w.size()) == L * D, "rnn_stack_forward: weight count");
  QKV_CHECK(dropout == 0.0f || rng != nullptr, "rnn_stack_forward: dropout needs an Rng");
  cache.dirs.resize(L * D);
  cache.outs.resize(L > 1 ? L - 1 : 0);
  cache.drop.resize(cache.outs.size());
  cache.dropout = L > 1 ? dropout : 0.0f;
  for (auto& o : cache.outs) o.resize(B * T * OD);
  for (auto& m : cache.drop) m.resize(B * T * OD);
  const bool lstm = s.cell == RnnCell::lstm;
  for (int64_t l = 0; l < L; ++l) {
    const float* in = l == 0 ? x : cache.outs[l - 1].data();
    const int64_t in_dim = l == 0 ? s.input : OD;
    float* out = l == L - 1 ? y : cache.outs[l].data();
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      rnn_layer_forward(s.cell, B, T, in_dim, H, in, h0 ? h0 + k * B * H : nullptr,
                        (lstm && c0) ? c0 + k * B * H : nullptr, w[k], mask, d == 1, out + d * H, OD,
                        h_n ? h_n + k * B * H : nullptr, (lstm && c_n) ? c_n + k * B * H : nullptr,
                        cache.dirs[k]);
    }
    if (l < L - 1 && cache.dropout > 0.0f)  // between layers, in place
      dropout_forward(out, cache.drop[l].data(), out, B * T * OD, cache.dropout, *rng);
  }
}

void rnn_stack_backward(const RnnStackShape& s, const std::vector<RnnWeights>& w, const float* dy,
                        const float* dh_n, const float* dc_n, std::vector<RnnGrads>& g, float* dx, float* dh0,
                        float* dc0, RnnStackCache& cache) {
  const int64_t D = s.dirs(), H = s.hidden, L = s.layers, OD = s.out_dim();
  const RnnLayerCache& c00 = cache.dirs[0];
  const int64_t B = c00.B, T = c00.T;
  const bool lstm = s.cell == RnnCell::lstm;
  const float* dout = dy;  // gradient reaching layer l's output (B, T, OD)
  for (int64_t l = L - 1; l >= 0; --l) {
    float* din = nullptr;  // gradient of layer l's input
    if (l > 0) {
      std::vector<float>& buf = cache.dbuf[l % 2];
      buf.assign(B * T * OD, 0.0f);
      din = buf.data();
    } else {
      din = dx;
    }
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      rnn_layer_backward(cache.dirs[k], w[k], dout ? dout + d * H : nullptr, OD, dh_n ? dh_n + k * B * H : nullptr,
                         (lstm && dc_n) ? dc_n + k * B * H : nullptr, g[k], din, dh0 ? dh0 + k * B * H : nullptr,
                         (lstm && dc0) ? dc0 + k * B * H : nullptr);
    }
    if (l > 0 && cache.dropout > 0.0f) {  // back through the dropout on layer l-1's output, in place
      std::vector<float> g(din, din + B * T * OD);
      std::fill(din, din + B * T * OD, 0.0f);
      dropout_backward(din, g.data(), cache.drop[l - 1].data(), B * T * OD, cache.dropout);
    }
    dout = din;
  }
}

}  // namespace qkv::nn
