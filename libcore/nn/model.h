// Model: what the trainer (qkv-train), the checkpoint code and the inspection
// tools drive. Every architecture (gpt, transformer, vit, rnn) implements it
// over one ParamStore, and registers itself with its ArchSpec (nn/arch.h)
// through QKV_REGISTER_ARCH so make_model("gpt", config, seed) builds it from
// hyperparameters alone (which is how a checkpoint is loaded: its root
// attributes are the config).
//
//   nn::Config cfg;  cfg.parse_assignment("n_layer=2");
//   auto m = nn::make_model("gpt", cfg, /*seed=*/1);    // params initialized from seed
//   nn::Batch b = nn::Batch::lm(B, T, inp, tgt);
//   m->params().zero_grad();
//   nn::Stats s = m->forward(b, /*training=*/true);      // s.loss_sum / s.count = mean loss
//   m->backward();                                       // grads of the mean loss, accumulated
//   optimizer.step(lr);
//
// Loss convention: forward() returns the SUM of per-target cross-entropy and
// the number of counted targets; backward(scale) adds d(scale * loss_sum /
// count)/dθ to the gradients, where count is that of the last forward (so
// scale = 1 is the gradient of the mean loss, as PyTorch's
// F.cross_entropy(reduction="mean")). Gradients accumulate: the caller zeroes
// them (params().zero_grad()).
//
// Inference: a batch may come without targets (tgt, tgt_out or labels left
// empty). forward() then computes the logits and the attention maps only and
// returns empty Stats (count 0); backward() after such a forward throws
// UsageError. Nothing is fabricated: the model never sees placeholder targets.
//
//   nn::Batch b = nn::Batch::lm(B, T, inp, {});            // no targets
//   m->forward(b, /*training=*/false);
//   const float* z = m->logits();                          // (B, T, V)
//   for (const nn::AttentionMap& a : m->attention_maps())  // every attention layer, see AttentionMap
//     use(a.kind, a.layer, a.weights);                     // (B, H, Tq, Tk)
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"
#include "core/rng.h"
#include "nn/arch.h"
#include "tensor/tensor.h"
#include "nn/config.h"
#include "nn/param_store.h"

namespace qkv::nn {

class Decoder;

// Ignored target id in LM targets (tgt); seq2seq ignores tgt_out == pad_id.
constexpr int32_t kIgnoreIndex = -1;

// One batch for any task; only the fields of the model's task are used.
// All id arrays are row-major int32. The targets (tgt, tgt_out, labels) are
// optional: empty means "inputs only" (see the top of this file).
struct Batch {
  int64_t B = 0;
  int64_t T = 0;  // LM sequence length, or seq2seq target length
  int64_t S = 0;  // seq2seq source length (src padded with pad_id to S)
  int64_t P = 0;  // vit: patches per image
  int64_t D = 0;  // vit: floats per patch
  std::vector<int32_t> inp, tgt;              // LM: (B, T) each; tgt == kIgnoreIndex not counted
  std::vector<int32_t> src, tgt_in, tgt_out;  // seq2seq: (B, S), (B, T), (B, T); pad_id ignored
  std::vector<float> patches;                 // vit: (B, P, D)
  std::vector<int32_t> labels;                // vit: (B)

  // True when the targets of `task` are present.
  bool has_targets(Task task) const;

  static Batch lm(int64_t B, int64_t T, std::vector<int32_t> inp, std::vector<int32_t> tgt);
  static Batch seq2seq(int64_t B, int64_t S, int64_t T, std::vector<int32_t> src, std::vector<int32_t> tgt_in,
                       std::vector<int32_t> tgt_out);
  static Batch images(int64_t B, int64_t P, int64_t D, std::vector<float> patches, std::vector<int32_t> labels);

  // Rows [begin, end) of this batch, padded lengths kept (one data-parallel process's share).
  Batch rows(int64_t begin, int64_t end) const;
};

// What one forward pass measured.
struct Stats {
  double loss_sum = 0;  // sum of per-target cross-entropy (nats)
  int64_t count = 0;    // targets counted (not ignored / padding)
  int64_t correct = 0;  // argmax == target among the counted
  double mean_loss() const { return count ? loss_sum / static_cast<double>(count) : 0.0; }
  Stats& operator+=(const Stats& o) {
    loss_sum += o.loss_sum;
    count += o.count;
    correct += o.correct;
    return *this;
  }
};

// Attention weights of one attention layer from the last forward: the
// softmax output before dropout, weights (B, H, Tq, Tk) row-major, valid until
// the next forward. Each row (b, h, q, :) sums to 1 over the keys the query
// may see; keys it may not see (a causal mask's future, padded source
// positions) are exactly 0. attention_maps() lists them in forward order:
//
//   arch         kind            layer  Tq x Tk   masked keys (exactly 0)
//   gpt          "self"          0..L-1 T x T     k > q (causal)
//   vit          "self"          0..L-1 N x N     none (N = patches [+ CLS])
//   transformer  "encoder_self"  0..Le-1 S x S    padded source positions (src == pad_id)
//                "decoder_self"  0..Ld-1 T x T    k > q (causal)
//                "cross"         0..Ld-1 T x S    padded source positions
//                (per decoder layer: decoder_self, then cross)
//   rnn          "additive"      0      T x S     padded source positions; H = 1
//
// A query row that may see no key at all (a source made only of padding) is all 0.
struct AttentionMap {
  std::string name;  // the layer's parameter prefix, e.g. "transformer.h.0.attn", "attn" (rnn)
  Shape shape;       // {B, H, Tq, Tk}
  const float* weights = nullptr;
  std::string kind;  // "self", "encoder_self", "decoder_self", "cross", "additive" (table above)
  int64_t layer = 0;  // index among the maps of the same kind
};

// Analysis hooks of one multi-head attention layer (nn/attention.h, "Head
// gates"): Model::head_probes() lists one per layer in attention_maps()
// order (a model without multi-head attention, the rnn, has none). Left
// alone (gate empty, keep_grads false) they cost nothing: the training
// paths never touch them.
struct HeadProbe {
  std::string kind;          // as AttentionMap::kind
  int64_t layer = 0, H = 0;  // index among the maps of the same kind; heads
  std::vector<float> gate;   // (H): head h's output times gate[h] in every forward and decoding step; empty = ones
  bool keep_grads = false;   // a backward fills gate_grad and att_grad (it needs a training forward)
  Buffer<float> gate_grad;   // (B, H) dL/dgate_h per batch row, of the last backward
  Buffer<float> att_grad;    // (B, H, Tq, Tk) dL/d weights (AttentionMap::weights), of the last backward
};

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& arch() const { return arch_; }
  // The architecture's registered facts (nn/arch.h); dims(model) reads the sizes.
  const ArchSpec& spec() const { return *spec_; }
  Task task() const { return spec_->task; }
  // Every hyperparameter, defaults resolved (the checkpoint's root attributes).
  const Config& config() const { return config_; }
  ParamStore& params() { return ps_; }
  const ParamStore& params() const { return ps_; }
  // Dropout's generator (saved in checkpoints' /train_state for exact resume).
  Rng& rng() { return rng_; }

  // Checks the batch against the model (shapes, id ranges; targets only when
  // present) and throws DataError with a clear message; forward() calls it.
  virtual void check_batch(const Batch& b) const = 0;
  // Logits, attention maps and, when b has targets, the loss statistics
  // (empty Stats without targets). training: dropout on.
  virtual Stats forward(const Batch& b, bool training) = 0;
  // Gradients of the last forward's loss; UsageError if it had no targets.
  virtual void backward(float scale = 1.0f) = 0;
  // Gradients of sum(dlogits * logits) (dlogits shaped as logits()) after a
  // training forward, targets or not: the gradient of chosen outputs
  // (gradient-weighted rollout). UsageError for a model without head probes.
  virtual void backward_from_logits(const float* dlogits);

  // One per multi-head attention layer, attention_maps() order (HeadProbe).
  std::vector<HeadProbe>& head_probes() { return probes_; }
  const std::vector<HeadProbe>& head_probes() const { return probes_; }

  // Logits of the last forward, (B, T, V) for LM/seq2seq, (B, n_classes) for
  // classify. Valid until the next forward.
  virtual const float* logits() const = 0;

  // Every attention layer's weights from the last forward (AttentionMap above):
  // the one way attention leaves a model. None by default (a model without attention).
  virtual std::vector<AttentionMap> attention_maps() const { return {}; }

  // Incremental decoding of a model that generates (nn/decoder.h); the model
  // must outlive it. Models that do not generate throw UsageError.
  virtual std::unique_ptr<Decoder> decoder();

 protected:
  // `arch` must be registered (its spec is looked up here).
  Model(std::string arch, uint64_t seed) : arch_(std::move(arch)), spec_(&arch_spec(arch_)), rng_(seed) {}
  std::string arch_;
  const ArchSpec* spec_;
  Config config_;
  ParamStore ps_;
  Rng rng_;
  std::vector<HeadProbe> probes_;  // sized once by the constructor: layers keep pointers into it
};

// Builds a registered architecture (nn/arch.h). Throws UsageError for an
// unknown arch (listing the known ones) or bad hyperparameters.
std::unique_ptr<Model> make_model(const std::string& arch, const Config& config, uint64_t seed);

}  // namespace qkv::nn
