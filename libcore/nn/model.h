// Model: what the trainer (qkv-train), the checkpoint code and the inspection
// tools drive. Every architecture (gpt, transformer, vit, rnn) implements it
// over one ParamStore, and registers itself by name with QKV_REGISTER_ARCH so
// make_model("gpt", config, seed) builds it from hyperparameters alone (which
// is how a checkpoint is loaded: its root attributes are the config).
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
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tensor/tensor.h"
#include "nn/config.h"
#include "nn/param_store.h"

namespace qkv::nn {

class Decoder;

// Ignored target id in LM targets (tgt); seq2seq ignores tgt_out == pad_id.
constexpr int32_t kIgnoreIndex = -1;

enum class Task {
  language_model,  // inp (B, T) -> next-token logits, targets tgt (B, T)
  seq2seq,         // src (B, S) + tgt_in (B, T) -> logits, targets tgt_out (B, T)
  classify,        // patches (B, P, D) -> class logits, targets labels (B)
};
const char* task_name(Task t);

// One batch for any task; only the fields of the model's task are used.
// All id arrays are row-major int32.
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

  static Batch lm(int64_t B, int64_t T, std::vector<int32_t> inp, std::vector<int32_t> tgt);
  static Batch seq2seq(int64_t B, int64_t S, int64_t T, std::vector<int32_t> src, std::vector<int32_t> tgt_in,
                       std::vector<int32_t> tgt_out);
  static Batch images(int64_t B, int64_t P, int64_t D, std::vector<float> patches, std::vector<int32_t> labels);
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

// Attention weights of one attention layer from the last forward, softmax
// output before dropout: weights (B, H, Tq, Tk), valid until the next forward.
struct AttentionMap {
  std::string name;  // the layer's parameter prefix, e.g. "transformer.h.0.attn"
  Shape shape;       // {B, H, Tq, Tk}
  const float* weights = nullptr;
};

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& arch() const { return arch_; }
  virtual Task task() const = 0;
  // Every hyperparameter, defaults resolved (the checkpoint's root attributes).
  const Config& config() const { return config_; }
  ParamStore& params() { return ps_; }
  const ParamStore& params() const { return ps_; }
  // Dropout's generator (saved in checkpoints' /train_state for exact resume).
  Rng& rng() { return rng_; }

  // Checks the batch against the model (shapes, id ranges) and throws
  // DataError with a clear message; forward() calls it.
  virtual void check_batch(const Batch& b) const = 0;
  virtual Stats forward(const Batch& b, bool training) = 0;
  virtual void backward(float scale = 1.0f) = 0;

  // Logits of the last forward, (B, T, V) for LM/seq2seq, (B, n_classes) for
  // classify. Valid until the next forward.
  virtual const float* logits() const = 0;

  // Every attention layer's weights from the last forward (for inspection tools).
  virtual std::vector<AttentionMap> attention_maps() const { return {}; }

  // Incremental decoding of a model that generates (nn/decoder.h); the model
  // must outlive it. Models that do not generate throw UsageError.
  virtual std::unique_ptr<Decoder> decoder();

 protected:
  Model(std::string arch, uint64_t seed) : arch_(std::move(arch)), rng_(seed) {}
  std::string arch_;
  Config config_;
  ParamStore ps_;
  Rng rng_;
};

// Registry of architectures.
using ModelFactory = std::function<std::unique_ptr<Model>(const Config& config, uint64_t seed)>;
bool register_arch(const std::string& name, const std::string& summary, ModelFactory make);
std::vector<std::string> arch_names();  // sorted
std::string arch_summary(const std::string& name);
// Throws UsageError for an unknown arch (listing the known ones) or bad hyperparameters.
std::unique_ptr<Model> make_model(const std::string& arch, const Config& config, uint64_t seed);

#define QKV_REGISTER_ARCH(name, summary, Class)                                                         \
  static const bool qkv_registered_arch_##Class = ::qkv::nn::register_arch(                              \
      name, summary, [](const ::qkv::nn::Config& c, uint64_t seed) -> std::unique_ptr<::qkv::nn::Model> { \
        return std::make_unique<Class>(c, seed);                                                        \
      })

}  // namespace qkv::nn
