// Attention ("Attention Is All You Need", 3.2):
//
//   scaled dot-product:  out = softmax(Q K^T / sqrt(hs) + masks) V, per (batch, head)
//   multi-head:          PyTorch nn.MultiheadAttention (batch_first), packed
//                        in_proj_weight (3C, C) = [W_q; W_k; W_v], in_proj_bias (3C),
//                        out_proj.weight (C, C), out_proj.bias (C).
//                        Self-attention: Q, K, V all from x. Cross-attention:
//                        Q from x_q (B, Tq, C), K and V from x_kv (B, Tk, C).
//
// Masks: `causal` lets query i see keys j <= i + (Tk - Tq) (bottom-right
// aligned, which for Tq == Tk is the usual j <= i); `key_padding_mask`
// (B, Tk), nonzero = padded key, is never attended (PyTorch's
// key_padding_mask with True = ignore). A query row whose every key is masked
// gets all-zero weights and a zero output (PyTorch gives NaN there).
//
// The softmax weights att (B, H, Tq, Tk) are kept (before dropout) for the
// backward and for visualisation. Attention dropout (PyTorch's MHA dropout,
// on the weights) draws its mask from the caller's Rng.
//
// Backward functions ACCUMULATE (+=) into every gradient; null = skip.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace qkv::nn {

struct AttentionOptions {
  bool causal = false;
  const uint8_t* key_padding_mask = nullptr;  // (B, Tk), nonzero = ignore that key; null = none
  float dropout = 0.0f;                        // on the attention weights (training only)
  Rng* rng = nullptr;                          // required when dropout > 0
};

// ---- scaled dot-product attention over head-major tensors ------------------

// Scratch and saved state of one scaled-dot-product call (sized by the forward).
struct SdpaCache {
  std::vector<float> att;          // (B, H, Tq, Tk) softmax weights, before dropout
  std::vector<uint8_t> drop_mask;  // (B, H, Tq, Tk) when dropout > 0, else empty
  std::vector<uint8_t> key_pad;    // (B, Tk) copy of the key padding mask, or empty
  bool causal = false;
  float dropout = 0.0f;
  std::vector<float> scratch;      // backward work space
};

// out (B, H, Tq, hs) = attention of q (B, H, Tq, hs) over k, v (B, H, Tk, hs).
void sdpa_forward(float* out, const float* q, const float* k, const float* v, int64_t B, int64_t H, int64_t Tq,
                  int64_t Tk, int64_t hs, const AttentionOptions& opt, SdpaCache& cache);
// dq (B, H, Tq, hs) +=, dk, dv (B, H, Tk, hs) +=, from dout (B, H, Tq, hs).
void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs, SdpaCache& cache);

// ---- multi-head attention (PyTorch nn.MultiheadAttention) -------------------

struct MhaWeights {
  const float* in_proj_weight = nullptr;   // (3C, C): rows [0, C) Q, [C, 2C) K, [2C, 3C) V
  const float* in_proj_bias = nullptr;     // (3C) or null
  const float* out_proj_weight = nullptr;  // (C, C)
  const float* out_proj_bias = nullptr;    // (C) or null
};
struct MhaGrads {  // same shapes; a null member is skipped
  float* in_proj_weight = nullptr;
  float* in_proj_bias = nullptr;
  float* out_proj_weight = nullptr;
  float* out_proj_bias = nullptr;
};

// Activations kept between forward and backward (buffers resized as needed,
// so one cache per layer is reused across steps without allocation).
// The heads are read from the projections in place (strided GEMMs), so no
// per-head copies of Q, K, V or of the context are made.
struct MhaCache {
  int64_t B = 0, Tq = 0, Tk = 0, C = 0, H = 0;
  bool self = false;              // x_kv was x_q: fused (B, T, 3C) projection
  std::vector<float> proj;        // self: (B, T, 3C) = [q | k | v]; cross: q (B, Tq, C) then kv (B, Tk, 2C)
  std::vector<float> ctx;         // (B, Tq, C) heads side by side: out_proj's input
  SdpaCache sdpa;                 // att (B, H, Tq, Tk) lives here
  std::vector<float> dctx, dproj;  // backward scratch, shaped as ctx and proj

  const float* weights() const { return sdpa.att.data(); }  // (B, H, Tq, Tk)
};

// out (B, Tq, C). Self-attention: pass x_kv == x_q (then Tk must equal Tq).
// C must be divisible by H (head size hs = C / H).
void mha_forward(float* out, const float* x_q, const float* x_kv, const MhaWeights& w, int64_t B, int64_t Tq,
                 int64_t Tk, int64_t C, int64_t H, const AttentionOptions& opt, MhaCache& cache);
// dx_q (B, Tq, C) +=, dx_kv (B, Tk, C) += (for self-attention pass the same
// pointer for both, or null for dx_kv to add everything to dx_q), g +=.
// x_q, x_kv and w as given to the forward.
void mha_backward(float* dx_q, float* dx_kv, const MhaGrads& g, const float* dout, const float* x_q,
                  const float* x_kv, const MhaWeights& w, MhaCache& cache);

// Naive twins (plain loops, double accumulation, no BLAS): only for the tests.
namespace ref {
// att (B, H, Tq, Tk) and out (B, H, Tq, hs); no dropout.
void sdpa_forward(float* out, float* att, const float* q, const float* k, const float* v, int64_t B, int64_t H,
                  int64_t Tq, int64_t Tk, int64_t hs, bool causal, const uint8_t* key_padding_mask);
void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, const float* att, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs);
}  // namespace ref

}  // namespace qkv::nn
