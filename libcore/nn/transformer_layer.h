// Transformer encoder and decoder layers (PyTorch nn.TransformerEncoderLayer /
// nn.TransformerDecoderLayer, batch_first), built from the layers in libcore/nn,
// with post-LayerNorm (the paper, PyTorch's default) or pre-LayerNorm
// (norm_first; GPT-2 / nanoGPT blocks):
//
//   encoder, post-norm:  x = norm1(x + drop(self_attn(x)));  out = norm2(x + drop(ff(x)))
//   encoder, pre-norm:   x = x + drop(self_attn(norm1(x)));  out = x + drop(ff(norm2(x)))
//   decoder adds cross-attention over `memory` (B, S, C) between the two, with
//   norm2 before/after it and norm3 for the feed-forward.
//   ff(x) = linear2(ffn_drop(act(linear1(x))))
//
// A nanoGPT Block is an encoder layer with norm_first, causal, gelu and
// ffn_dropout = 0 (its c_attn / c_proj / c_fc / mlp.c_proj map onto
// in_proj / out_proj / linear1 / linear2).
//
// The caller owns parameters (pointers into its flat buffer, PyTorch shapes),
// gradients (accumulated, +=) and one cache per layer, reused across steps.
#pragma once
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>
#include "core/memory.h"

#include "core/rng.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/feed_forward.h"

namespace qkv::nn {

struct TransformerLayerConfig {
  int64_t d_model = 0;  // C
  int64_t n_head = 0;   // H, divides C
  int64_t d_ff = 0;     // F
  Activation activation = Activation::relu;
  bool norm_first = false;      // pre-LN when true, post-LN (the paper) when false
  bool causal = false;          // causal mask on the self-attention (decoders, GPT)
  float attn_dropout = 0.0f;    // on attention weights       } PyTorch uses its one
  float resid_dropout = 0.0f;   // on each branch's output    } `dropout` for all three
  float ffn_dropout = 0.0f;     // inside the feed-forward    } (nanoGPT: 0 here)
  float eps = 1e-5f;            // LayerNorm epsilon

  // PyTorch's single dropout probability for all three places.
  TransformerLayerConfig& dropout(float p) {
    attn_dropout = resid_dropout = ffn_dropout = p;
    return *this;
  }
};

struct LayerNormWeights {
  const float* weight = nullptr;  // (C) or null (1)
  const float* bias = nullptr;    // (C) or null (0)
};
struct LayerNormGrads {
  float* weight = nullptr;
  float* bias = nullptr;
};

// One residual sub-layer's saved activations: LayerNorm stats, the branch
// output and its dropout mask, and (post-norm) the residual sum.
struct SublayerCache {
  Buffer<float> normed;       // (N, C) pre-norm: LayerNorm(x), the branch input
  Buffer<float> sum;          // (N, C) post-norm: x + branch, the LayerNorm input
  Buffer<float> mean, rstd;   // (N)
  Buffer<float> branch;       // (N, C) branch output after dropout
  std::vector<uint8_t> drop_mask;  // (N, C) when resid_dropout > 0
  Buffer<float> dbranch, dtmp;  // (N, C) backward scratch
};

struct EncoderLayerWeights {
  MhaWeights self_attn;
  LayerNormWeights norm1, norm2;
  FfnWeights ff;  // linear1 (F, C) / linear2 (C, F)
};
struct EncoderLayerGrads {
  MhaGrads self_attn;
  LayerNormGrads norm1, norm2;
  FfnGrads ff;
};
struct EncoderLayerCache {
  int64_t B = 0, T = 0;
  TransformerLayerConfig cfg;
  bool training = false;
  // Set by the caller for inference: the forward keeps nothing a backward
  // needs beyond what it computes anyway (the feed-forward runs in place) and
  // the backward refuses. One such cache can serve every layer of a stack.
  bool inference = false;
  SublayerCache s1, s2;
  MhaCache attn;  // attn.weights(): (B, H, T, T)
  FfnCache ff;
  Buffer<float> x1, dx1;  // (B, T, C) between the sub-layers, and its gradient
};

// out (B, T, C) from x (B, T, C). key_padding_mask (B, T), nonzero = pad, or null.
// training: dropout active (needs rng when any probability > 0).
void encoder_layer_forward(float* out, const float* x, const uint8_t* key_padding_mask, const EncoderLayerWeights& w,
                           const TransformerLayerConfig& cfg, int64_t B, int64_t T, bool training, Rng* rng,
                           EncoderLayerCache& cache);
// dx (B, T, C) +=, g +=; dout (B, T, C); x and w as in the forward.
void encoder_layer_backward(float* dx, const EncoderLayerGrads& g, const float* dout, const float* x,
                            const EncoderLayerWeights& w, EncoderLayerCache& cache);

struct DecoderLayerWeights {
  MhaWeights self_attn, cross_attn;  // PyTorch: self_attn, multihead_attn
  LayerNormWeights norm1, norm2, norm3;
  FfnWeights ff;
};
struct DecoderLayerGrads {
  MhaGrads self_attn, cross_attn;
  LayerNormGrads norm1, norm2, norm3;
  FfnGrads ff;
};
struct DecoderLayerCache {
  int64_t B = 0, T = 0, S = 0;
  TransformerLayerConfig cfg;
  bool training = false;
  bool inference = false;  // as EncoderLayerCache::inference
  SublayerCache s1, s2, s3;
  MhaCache self_attn;   // weights (B, H, T, T)
  MhaCache cross_attn;  // weights (B, H, T, S)
  FfnCache ff;
  Buffer<float> x1, x2, dx1, dx2;  // (B, T, C)
};

// out (B, T, C) from x (B, T, C) and memory (B, S, C) (the encoder output).
// tgt_key_padding_mask (B, T) and memory_key_padding_mask (B, S): nonzero = pad, or null.
// The self-attention is causal when cfg.causal (set it for a decoder).
void decoder_layer_forward(float* out, const float* x, const float* memory, const uint8_t* tgt_key_padding_mask,
                           const uint8_t* memory_key_padding_mask, const DecoderLayerWeights& w,
                           const TransformerLayerConfig& cfg, int64_t B, int64_t T, int64_t S, bool training,
                           Rng* rng, DecoderLayerCache& cache);
// dx (B, T, C) +=, dmemory (B, S, C) += (null = skip), g +=.
void decoder_layer_backward(float* dx, float* dmemory, const DecoderLayerGrads& g, const float* dout,
                            const float* x, const float* memory, const DecoderLayerWeights& w,
                            DecoderLayerCache& cache);

// ---- incremental decoding: one new position per row (inference, no dropout) ----
//
// The same layers at the next position of every row, against the rows' KV
// caches (nn/attention.h): out (B, C) from x (B, C). The result equals row t
// of the full forward over positions [0, t] with cfg.causal (tested).
struct LayerStepScratch {
  SublayerCache s1, s2, s3;
  MhaStepScratch self_attn, cross_attn;  // .att: this step's attention weights
  FfnCache ff;
  Buffer<float> x1, x2;  // (B, C)
};

// The weights a decoder steps with: its layers' and its output projection's,
// read from the model once, and for steps of more than kFewRows rows the same
// with packed copies of every matrix attached (nn/linear.h), made at the first
// such step. The copies do not follow later changes of the model's weights: a
// decoder is made after training changes them (nn/decoder.h).
template <class LayerWeights>  // EncoderLayerWeights (gpt) or DecoderLayerWeights (transformer)
class StepWeights {
 public:
  // layers: every layer's weights (cfg: their sizes); head (V, C) and
  // head_bias (V) or null: the output projection.
  StepWeights(std::vector<LayerWeights> layers, const TransformerLayerConfig& cfg, const float* head,
              const float* head_bias, int64_t V)
      : plain_(std::move(layers)), head_(head), head_bias_(head_bias), V_(V), C_(cfg.d_model), F_(cfg.d_ff) {}
  const LayerWeights& layer(int64_t l, int64_t B);
  // logits (B, V) = x (B, C) @ head^T + head_bias.
  void head_forward(float* logits, const float* x, int64_t B);

 private:
  void pack();
  std::vector<LayerWeights> plain_, packed_;  // packed_: empty until the first step of > kFewRows rows
  std::deque<PackedWeight> packs_;            // what packed_ points into (a deque: they never move)
  PackedWeight head_packed_;
  const float *head_, *head_bias_;
  int64_t V_, C_, F_;
};

// An encoder layer with causal self-attention (a GPT block).
void encoder_layer_step(float* out, const float* x, const EncoderLayerWeights& w, const TransformerLayerConfig& cfg,
                        KvCache& cache, LayerStepScratch& s);
// A decoder layer: causal self-attention over the cache, then cross-attention
// of row b over memory row mem_row[b].
void decoder_layer_step(float* out, const float* x, const DecoderLayerWeights& w, const TransformerLayerConfig& cfg,
                        KvCache& cache, const MemoryKv& memory, const int64_t* mem_row, LayerStepScratch& s);

}  // namespace qkv::nn
