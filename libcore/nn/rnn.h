// GRU and LSTM layers: forward over a sequence and backward through time.
//
// Parameters follow PyTorch's nn.GRU / nn.LSTM exactly (one direction of one layer):
//   w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H), b_hh (G*H)
// with G = 3 gates for GRU in the order [r, z, n] and G = 4 for LSTM in the order [i, f, g, o]:
//   GRU:  r = σ(W_ir x + b_ir + W_hr h + b_hr)          LSTM: i = σ(W_ii x + b_ii + W_hi h + b_hi)
//         z = σ(W_iz x + b_iz + W_hz h + b_hz)                f = σ(W_if x + b_if + W_hf h + b_hf)
//         n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
//         h' = (1 − z) ⊙ n + z ⊙ h                              o = σ(W_io x + b_io + W_ho h + b_ho)
//                                                               c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
//
// Padding: a mask (B, T) (1 = real token, 0 = padding; nullptr = all real) marks steps to skip.
// A skipped step leaves the state (h, and c for LSTM) unchanged and writes zeros to the output,
// so with right padding a forward layer's final state is the state after the last real token
// and a reverse layer starts at the last real token: exactly what PyTorch's
// pack_padded_sequence gives (pad_packed_sequence also pads outputs with zeros).
//
// Speed: the input projections of all time steps are one sgemm (B*T, I) x (I, G*H) before the
// recurrence; the recurrence is one (B, H) x (H, G*H) sgemm per step; in backward the weight
// gradients are again one big sgemm each, after the per-step loop.
//
// Gradients ACCUMULATE (+=) into parameter gradients and into dx / dh0 / dc0, like every
// backward in libcore/nn.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace qkv::nn {

enum class RnnCell { gru, lstm };

// "gru" / "lstm" (DataError otherwise).
RnnCell parse_rnn_cell(const std::string& name);
const char* rnn_cell_name(RnnCell cell);
inline int64_t rnn_gates(RnnCell cell) { return cell == RnnCell::gru ? 3 : 4; }
// Floats of per-step cache per batch row (see rnn_step_forward).
inline int64_t rnn_cache_width(RnnCell cell, int64_t H) { return cell == RnnCell::gru ? 4 * H : 6 * H; }

// One direction of one layer; pointers into a parameter store.
struct RnnWeights {
  const float* w_ih = nullptr;  // (G*H, I)
  const float* w_hh = nullptr;  // (G*H, H)
  const float* b_ih = nullptr;  // (G*H)
  const float* b_hh = nullptr;  // (G*H)
};
struct RnnGrads {
  float* w_ih = nullptr;
  float* w_hh = nullptr;
  float* b_ih = nullptr;
  float* b_hh = nullptr;
};

// ---- one time step, B rows (used by the sequence layer and by step-wise decoders) ----
//
// gx: (B, G*H) rows gx_stride apart: the input projection W_ih x + b_ih of this step.
// h_prev (B, H), c_prev (B, H) (LSTM only, else nullptr) -> h (B, H), c (B, H).
// mask: B flags mask_stride apart (nullptr = all real).
// cache (B, rnn_cache_width): GRU [r, z, n, W_hn h + b_hn]; LSTM [i, f, g, o, c_prev, tanh(c)].
// gh_scratch (B, G*H).
void rnn_step_forward(RnnCell cell, int64_t B, int64_t H, const float* gx, int64_t gx_stride, const float* h_prev,
                      const float* c_prev, const float* w_hh, const float* b_hh, const uint8_t* mask,
                      int64_t mask_stride, float* h, float* c, float* cache, float* gh_scratch);

// Backward of one step. dh (B, H) is the full gradient reaching h of this step, dc (B, H) that
// reaching c (LSTM; nullptr for GRU). Writes (overwrites): dgx (B, G*H) rows dgx_stride apart,
// the gradient of the gate pre-activations from the input side; dgh (B, G*H) that of
// W_hh h_prev + b_hh; dh_prev (B, H) = the gradient reaching h_prev (recurrent sgemm included);
// dc_prev (B, H) (LSTM). dh_prev may not alias dh.
void rnn_step_backward(RnnCell cell, int64_t B, int64_t H, const float* cache, const float* h_prev,
                       const uint8_t* mask, int64_t mask_stride, const float* dh, const float* dc,
                       const float* w_hh, float* dgx, int64_t dgx_stride, float* dgh, float* dh_prev,
                       float* dc_prev);

// ---- one direction of one layer over a whole (B, T, I) sequence ----

// What forward keeps for backward. Reused across calls (buffers only grow).
struct RnnLayerCache {
  int64_t B = 0, T = 0, I = 0, H = 0;
  RnnCell cell = RnnCell::gru;
  bool reverse = false;
  const float* x = nullptr;     // (B, T, I), the caller keeps it alive until backward
  const uint8_t* mask = nullptr;
  std::vector<float> gx;        // (B, T, G*H)  input projections (+ b_ih)
  std::vector<float> cache;     // (T, B, cache_width), per processing step
  std::vector<float> hprev;     // (T, B, H), state entering each processing step
  std::vector<float> scratch;   // (B, G*H)
};

// x (B, T, I); h0, c0 (B, H) initial state (nullptr = zeros; c0 LSTM only).
// y: (B, T, ·) with row stride y_stride floats; this layer writes y[b, t, 0:H] (pass y + H for
// the reverse half of a bidirectional output). h_n, c_n (B, H): final state (may be nullptr).
// reverse: process t = T-1 .. 0.
void rnn_layer_forward(RnnCell cell, int64_t B, int64_t T, int64_t I, int64_t H, const float* x, const float* h0,
                       const float* c0, const RnnWeights& w, const uint8_t* mask, bool reverse, float* y,
                       int64_t y_stride, float* h_n, float* c_n, RnnLayerCache& cache);

// dy (B, T, ·) row stride dy_stride (nullptr = no gradient from outputs); dh_n, dc_n (B, H)
// (nullptr = zero). Accumulates into g, dx (B, T, I) (nullptr = not needed), dh0, dc0 (B, H).
void rnn_layer_backward(const RnnLayerCache& cache, const RnnWeights& w, const float* dy, int64_t dy_stride,
                        const float* dh_n, const float* dc_n, RnnGrads& g, float* dx, float* dh0, float* dc0);

// ---- stacked, optionally bidirectional RNN (PyTorch nn.GRU / nn.LSTM with batch_first) ----
//
// Layer l direction d has weights[l * D + d] (D = 2 when bidirectional; d = 1 is PyTorch's
// "_reverse"). Layer 0 reads x (B, T, I); layer l > 0 reads the previous layer's (B, T, D*H).
// Output y (B, T, D*H): [forward; reverse] halves. h_n, c_n (L*D, B, H) as PyTorch orders them.
// dropout: applied to the outputs of every layer but the last (PyTorch's `dropout` argument),
// masks drawn from rng (needed when dropout > 0).
struct RnnStackCache {
  std::vector<RnnLayerCache> dirs;         // L*D
  std::vector<std::vector<float>> outs;    // L-1 intermediate outputs (B, T, D*H), after dropout
  std::vector<std::vector<uint8_t>> drop;  // L-1 dropout keep masks (B, T, D*H)
  float dropout = 0.0f;
  std::vector<float> dbuf[2];              // gradient buffers between layers
};

struct RnnStackShape {
  RnnCell cell = RnnCell::gru;
  int64_t input = 0, hidden = 0, layers = 1;
  bool bidirectional = false;
  int64_t dirs() const { return bidirectional ? 2 : 1; }
  int64_t out_dim() const { return dirs() * hidden; }
};

void rnn_stack_forward(const RnnStackShape& s, int64_t B, int64_t T, const float* x, const float* h0,
                       const float* c0, const std::vector<RnnWeights>& w, const uint8_t* mask, float* y,
                       float* h_n, float* c_n, RnnStackCache& cache, float dropout = 0.0f, Rng* rng = nullptr);
// dy (B, T, D*H); dh_n, dc_n (L*D, B, H) or nullptr. Accumulates into g, dx, dh0, dc0.
void rnn_stack_backward(const RnnStackShape& s, const std::vector<RnnWeights>& w, const float* dy,
                        const float* dh_n, const float* dc_n, std::vector<RnnGrads>& g, float* dx, float* dh0,
                        float* dc0, RnnStackCache& cache);

}  // namespace qkv::nn
