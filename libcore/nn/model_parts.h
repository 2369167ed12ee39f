// Pieces the transformer-family models (gpt, transformer, vit) share:
// registering a layer's parameters under PyTorch names, turning handles into
// the weight/gradient pointer structs of nn/transformer_layer.h, the default
// initialization, and the loss head (logits -> cross-entropy, argmax hits).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>
#include "core/memory.h"

#include "nn/cross_entropy.h"
#include "nn/model.h"
#include "nn/param_store.h"
#include "nn/transformer_layer.h"

namespace qkv::nn {

// Parameter handles of one encoder layer (-1 = absent, e.g. bias=False).
struct EncoderLayerIds {
  ParamId in_w = -1, in_b = -1, out_w = -1, out_b = -1;
  ParamId ff1_w = -1, ff1_b = -1, ff2_w = -1, ff2_b = -1;
  ParamId n1_w = -1, n1_b = -1, n2_w = -1, n2_b = -1;
  int64_t first = 0;           // its mark: the offset of its first parameter (ParamStore::mark)
  HeadProbe* probe = nullptr;  // self_attn's gates and analysis gradients (Model::head_probes()), or none
};
struct DecoderLayerIds {
  ParamId self_in_w = -1, self_in_b = -1, self_out_w = -1, self_out_b = -1;
  ParamId cross_in_w = -1, cross_in_b = -1, cross_out_w = -1, cross_out_b = -1;
  ParamId ff1_w = -1, ff1_b = -1, ff2_w = -1, ff2_b = -1;
  ParamId n1_w = -1, n1_b = -1, n2_w = -1, n2_b = -1, n3_w = -1, n3_b = -1;
  int64_t first = 0;                 // as EncoderLayerIds::first
  HeadProbe* self_probe = nullptr;   // as EncoderLayerIds::probe
  HeadProbe* cross_probe = nullptr;
};

// Names of an encoder layer's parameters.
enum class LayerNaming {
  torch,    // nn.TransformerEncoderLayer: self_attn.in_proj_weight, linear1, norm1, ...
  nanogpt,  // nanoGPT Block: attn.c_attn.weight, mlp.c_fc, ln_1, ...
};

// Registers in PyTorch's state_dict order under prefix ("encoder.layers.0."),
// after a ParamStore::mark() (the layer's gradients are final together).
// bias = false (nanogpt naming only) drops the Linear and LayerNorm biases.
EncoderLayerIds add_encoder_layer(ParamStore& ps, const std::string& prefix, int64_t C, int64_t F, bool bias,
                                  LayerNaming naming);
DecoderLayerIds add_decoder_layer(ParamStore& ps, const std::string& prefix, int64_t C, int64_t F);
// LayerNorm weight and (unless !bias) bias; an absent bias is -1.
void add_layernorm(ParamStore& ps, const std::string& prefix, int64_t C, ParamId& w, ParamId& b, bool bias = true);

EncoderLayerWeights encoder_weights(const ParamStore& ps, const EncoderLayerIds& id);
EncoderLayerGrads encoder_grads(ParamStore& ps, const EncoderLayerIds& id);
DecoderLayerWeights decoder_weights(const ParamStore& ps, const DecoderLayerIds& id);
DecoderLayerGrads decoder_grads(ParamStore& ps, const DecoderLayerIds& id);

// Sizes `probes` (a Model's head_probes(), in attention_maps() order: the
// encoder layers (kind enc_kind), then each decoder layer's self and cross
// attention) and points the layers' ids at them. Called once, after the layers are added.
void attach_head_probes(std::vector<HeadProbe>& probes, int64_t H, std::vector<EncoderLayerIds>& enc,
                        const std::string& enc_kind, std::vector<DecoderLayerIds>* dec = nullptr);

// PyTorch's layer settings: one dropout for attention weights, residual
// branches and the feed-forward inside; not causal.
TransformerLayerConfig layer_config(int64_t C, int64_t H, int64_t F, Activation act, bool pre_norm, float dropout,
                                    float eps);

// Null for an absent parameter.
const float* param_or_null(const ParamStore& ps, ParamId id);
float* grad_or_null(ParamStore& ps, ParamId id);

// A stack of encoder layers over (B, T, C) with its activations, as gpt,
// vit and the transformer's encoder use it:
//   float* x0 = s.input(B, T);  ...fill x0 (B*T, C)...
//   const float* top = s.forward(ps, mask, training, &rng);     // (B*T, C)
//   float* dtop = s.output_grad();  ...accumulate d top...
//   const float* dx0 = s.backward(ps);                          // (B*T, C)
// An evaluation forward (training = false) keeps nothing for a backward: every
// layer runs in one layer's scratch and two activation buffers, and only each
// layer's attention weights stay (attention_maps); backward() then refuses.
// (Sizing every layer's training buffers made a one-shot gpt forward of a
// 64x64 batch touch 241 MB, most of its time in page faults and zero fills.)
struct EncoderStack {
  std::vector<EncoderLayerIds> ids;  // one per layer (add_encoder_layer)
  TransformerLayerConfig cfg;

  float* input(int64_t B, int64_t T);
  const float* forward(const ParamStore& ps, const uint8_t* key_padding_mask, bool training, Rng* rng);
  const float* output() const { return top_; }
  float* output_grad();  // zero-filled (B*T, C)
  // After each layer, ps.grads_final_from(its mark): the model writes no
  // gradient beyond the stack's first layer after the stack's backward.
  const float* backward(ParamStore& ps);
  // UsageError when the last forward was an evaluation forward (a model's
  // backward calls it before touching any gradient).
  void check_backward() const;
  // Map "<prefix><l><suffix>" of `kind`, layer l, per layer: weights (B, H, T, T).
  void attention_maps(const std::string& prefix, const std::string& suffix, const std::string& kind,
                      std::vector<AttentionMap>& out) const;

 private:
  int64_t B_ = 0, T_ = 0;
  bool inference_ = false;               // the last forward was an evaluation forward
  const float* top_ = nullptr;           // the last forward's output (B*T, C)
  std::vector<EncoderLayerCache> caches_;
  std::vector<Buffer<float>> xs_;  // training: (L+1) x (B*T, C): layer inputs, then the last output
  EncoderLayerCache eval_cache_;         // evaluation: one layer's scratch for all layers
  Buffer<float> eval_x_[2];         // evaluation: layer outputs, alternately
  std::vector<Buffer<float>> eval_att_;  // evaluation: per layer (B, H, T, T)
  Buffer<float> dx_, dprev_;
};

// Default init: rank-1 parameters named "*.weight" (LayerNorm gains) = 1,
// other rank-1 (biases) = 0, rank >= 2 through `matrix(id)`.
void init_params(ParamStore& ps, const std::function<void(ParamId)>& matrix);

// The loss head over logits (N, V): softmax cross-entropy (mean over targets
// that are not `ignore`, label smoothing eps as PyTorch's), argmax hits; keeps
// what backward() needs. Without targets (nullptr: inference) it computes
// nothing and returns empty Stats, and backward() throws UsageError.
class LossHead {
 public:
  Stats forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, int64_t ignore,
                float label_smoothing = 0.0f);
  // dlogits (N, V) = d(scale * mean loss)/dlogits (overwritten, not accumulated).
  void backward(float* dlogits, float scale);

 private:
  bool has_loss_ = false;
  Buffer<float> probs_;
  std::vector<int32_t> targets_;
  int64_t N_ = 0, V_ = 0, ignore_ = -1;
  float smoothing_ = 0.0f;
  CrossEntropyResult ce_;
};

// "arch batch: ..." DataError helpers for Model::check_batch.
void check_ids(const std::vector<int32_t>& ids, int64_t n, int64_t lo, int64_t hi, const std::string& what,
               int64_t allowed_extra = INT64_MIN);

}  // namespace qkv::nn
