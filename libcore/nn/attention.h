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
//
// Head gates (Michel et al. 2019, "Are Sixteen Heads Really Better than
// One?"): MhaWeights::head_gate (H) multiplies head h's output y_h (its slice
// of the context, before the output projection) by gate[h]; null = all ones,
// and then nothing is computed or kept for it. MhaGrads::gate_grad and
// att_grad (analysis outputs, OVERWRITTEN by each backward, unlike the
// parameter gradients) give dL/dgate_h per batch row, sum over the row's
// queries of <y_h, dL/d(gate_h y_h)>, and dL/d weights (the softmax output,
// as Chefer et al. 2021 use it).
#pragma once
#include <cstdint>
#include <vector>
#include "core/memory.h"
#include "nn/linear.h"

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
  Buffer<float> att;          // (B, H, Tq, Tk) softmax weights, before dropout
  std::vector<uint8_t> drop_mask;  // (B, H, Tq, Tk) when dropout > 0, else empty
  std::vector<uint8_t> key_pad;    // (B, Tk) copy of the key padding mask, or empty
  bool causal = false;
  float dropout = 0.0f;
  Buffer<float> scratch;      // backward work space
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
  const float* head_gate = nullptr;        // (H) or null (all ones): see the top of this file
  // Steps only (mha_step_*): packed copies for steps of more than kFewRows
  // rows (nn/linear.h), or null. in_proj: the rows a step projects (self: all
  // 3C; cross: the C query rows).
  const PackedWeight* in_proj_packed = nullptr;
  const PackedWeight* out_proj_packed = nullptr;
};
struct MhaGrads {  // same shapes; a null member is skipped
  float* in_proj_weight = nullptr;
  float* in_proj_bias = nullptr;
  float* out_proj_weight = nullptr;
  float* out_proj_bias = nullptr;
  Buffer<float>* gate_grad = nullptr;  // resized to (B, H), overwritten: dL/dgate_h per row
  Buffer<float>* att_grad = nullptr;   // resized to (B, H, Tq, Tk), overwritten: dL/d weights
};

// Activations kept between forward and backward (buffers resized as needed,
// so one cache per layer is reused across steps without allocation).
// The heads are read from the projections in place (strided GEMMs), so no
// per-head copies of Q, K, V or of the context are made.
struct MhaCache {
  int64_t B = 0, Tq = 0, Tk = 0, C = 0, H = 0;
  bool self = false;              // x_kv was x_q: fused (B, T, 3C) projection
  Buffer<float> proj;        // self: (B, T, 3C) = [q | k | v]; cross: q (B, Tq, C) then kv (B, Tk, 2C)
  Buffer<float> ctx;         // (B, Tq, C) heads side by side, ungated (y_h)
  Buffer<float> gated;       // (B, Tq, C) with head gates: gate_h y_h, out_proj's input; else empty
  std::vector<float> gate;   // (H) the forward's head gates, or empty
  SdpaCache sdpa;                 // att (B, H, Tq, Tk) lives here
  Buffer<float> dctx, dproj;  // backward scratch, shaped as ctx and proj

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

// ---- incremental decoding: one new query position per row ------------------
//
// A decoder generating token by token keeps every layer's keys and values
// (KvCache) so each step projects only the new position; the cross-attention
// keys and values of a fixed memory (the encoder output) are projected once
// per source (MemoryKv). These give the same outputs as mha_forward over the
// whole prefix with a causal mask (tests/nn_decoder_test.cpp).

// Keys and values of one self-attention layer, head-major, allocated once for
// T_max positions; positions [0, len) are filled. The keys are stored in
// tiles of kKeyTile positions, each tile transposed (hs, kKeyTile): a step's
// scores of a tile are then hs multiply-adds of one vector across its keys
// instead of one horizontal dot product per key (which cost ~50 cycles a key
// and made the step grow with its position).
struct KvCache {
  // Keys in tiles of kKeyTile positions: the dimension-d values of a tile's
  // keys are kKeyTile consecutive floats, so one step's scores of a tile are
  // one vector, summed over d in registers, from memory read in order.
  static constexpr int64_t kKeyTile = 16;
  int64_t B = 0, H = 0, T_max = 0, hs = 0, len = 0;  // T_max: a multiple of kKeyTile
  Buffer<float> k;  // (B, H, T_max / kKeyTile, hs, kKeyTile): key of position t, dimension d at
                    //   (b*H + h)*T_max*hs + (t / kKeyTile)*hs*kKeyTile + d*kKeyTile + t % kKeyTile
  Buffer<float> v;  // (B, H, T_max, hs)

  // len = 0; T_max rounded up to a tile. The buffers only grow: a reused
  // cache is neither reallocated nor zeroed (positions >= len are never read
  // into a result).
  void reset(int64_t B, int64_t H, int64_t T_max, int64_t hs);
  // Row i becomes old row rows[i] (positions [0, len) copied); B = rows.size().
  void gather(const std::vector<int64_t>& rows);

 private:
  Buffer<float> spare_k_, spare_v_;  // gather's destination, swapped in
};

// A memory's cross-attention keys and values, projected once: kv (Bm, S, 2C)
// = [K | V] = memory @ in_proj_weight[C:3C]^T + in_proj_bias[C:3C], and its
// key padding (Bm, S), nonzero = padded (never attended).
struct MemoryKv {
  int64_t Bm = 0, S = 0, C = 0;
  Buffer<float> kv;         // (Bm, S, 2C)
  std::vector<uint8_t> key_pad;  // (Bm, S)
};
// memory (Bm, S, C); key_pad (Bm, S) or null (nothing padded).
void mha_memory_kv(MemoryKv& m, const float* memory, const uint8_t* key_pad, const MhaWeights& w, int64_t Bm,
                   int64_t S, int64_t C);

// Scratch of one layer's steps; att holds the last step's weights (B, H, Tk).
struct MhaStepScratch {
  Buffer<float> proj;  // self: (B, 3C) [q | k | v]; cross: q (B, C)
  Buffer<float> ctx;   // (B, C) heads side by side
  Buffer<float> att;   // (B, H, Tk) softmax weights of the step
  int64_t Tk = 0;
};

// Self-attention step: x (B, C) holds each row's token at position cache.len;
// its key and value are written there and it attends to positions
// [0, cache.len] (causal by construction). cache.len advances by one.
// out (B, C); s.att (B, H, len + 1).
void mha_step_self(float* out, const float* x, const MhaWeights& w, int64_t C, int64_t H, KvCache& cache,
                   MhaStepScratch& s);
// Cross-attention step: row b of x (B, C) attends to memory row mem_row[b]
// (the beams of one source share its memory, so reordering beams never copies
// it). out (B, C); s.att (B, H, S).
void mha_step_cross(float* out, const float* x, const MhaWeights& w, int64_t H, const MemoryKv& m,
                    const int64_t* mem_row, int64_t B, MhaStepScratch& s);

// Naive twins (plain loops, double accumulation, no BLAS): only for the tests.
namespace ref {
// att (B, H, Tq, Tk) and out (B, H, Tq, hs); no dropout.
void sdpa_forward(float* out, float* att, const float* q, const float* k, const float* v, int64_t B, int64_t H,
                  int64_t Tq, int64_t Tk, int64_t hs, bool causal, const uint8_t* key_padding_mask);
void sdpa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                   const float* v, const float* att, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t hs);
}  // namespace ref

}  // namespace qkv::nn
