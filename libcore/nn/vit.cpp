// vit: Vision Transformer (Dosovitskiy et al. 2021) over pre-cut patches.
//
//   pool = cls (default):
//     x = [cls ; patch_embed(patches)] + pos_embed      patches (B, P, patch_dim) -> (B, P+1, d)
//     x = encoder layers (pre-norm default), then encoder.norm
//     logits = head(x[:, 0])                            the [CLS] position
//   pool = mean (global average pooling, no [CLS]; Beyer et al. 2022, "Better plain ViT baselines"):
//     x = patch_embed(patches) + pos_embed              (B, P, d)
//     x = encoder layers, then encoder.norm
//     logits = head(mean of x over the P positions)
//   loss = cross-entropy over labels, label smoothing optional (label_smoothing, default 0)
//
// PyTorch twin: scripts/torch/qkv_models.py ViT (nn.TransformerEncoder with a
// final norm). With pool = cls the encoder norm is only evaluated at the [CLS]
// rows, the only ones the head reads (same result, less work).
#include <cstring>

#include "core/error.h"
#include "nn/dropout.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/model_parts.h"

namespace qkv::nn {
namespace {

class Vit : public Model {
 public:
  Vit(const Config& c, uint64_t seed, Build build = Build::full) : Model("vit", seed) {
    ConfigReader r(c, arch_);
    D_ = r.get_int("patch_dim", 48, 1, 1 << 24);
    P_ = r.get_int("n_patches", 64, 1, 1 << 20);
    K_ = r.get_int("n_classes", 10, 2, 1 << 24);
    C_ = r.get_int("d_model", 192, 1, 1 << 20);
    H_ = r.get_int("n_head", 3, 1, 1 << 16);
    L_ = r.get_int("n_layer", 6, 1, 1000);
    F_ = r.get_int("d_ff", 768, 1, 1 << 24);
    dropout_ = static_cast<float>(r.get_double("dropout", 0.0, 0.0, 0.99));
    bool pre = r.get_choice("norm", "pre", {"pre", "post"}) == "pre";
    Activation act = activation_from_name(r.get_choice("activation", "gelu", {"gelu", "relu", "gelu_tanh"}));
    eps_ = static_cast<float>(r.get_double("ln_eps", 1e-6, 1e-12, 1.0));
    smoothing_ = static_cast<float>(r.get_double("label_smoothing", 0.0, 0.0, 1.0));
    mean_pool_ = r.get_choice("pool", "cls", {"cls", "mean"}) == "mean";
    r.finish();
    config_ = r.resolved();
    if (C_ % H_ != 0)
      throw UsageError("vit: d_model (" + std::to_string(C_) + ") must be divisible by n_head (" +
                       std::to_string(H_) + ")");
    if (build == Build::config_only) return;

    // PyTorch state_dict order: directly-held parameters first.
    if (!mean_pool_) cls_ = ps_.add("cls_token", {1, 1, C_}, Decay::no);
    pos_ = ps_.add("pos_embed", {1, tokens(), C_}, Decay::no);
    patch_w_ = ps_.add("patch_embed.weight", {C_, D_});
    patch_b_ = ps_.add("patch_embed.bias", {C_});
    for (int64_t l = 0; l < L_; ++l)
      stack_.ids.push_back(
          add_encoder_layer(ps_, "encoder.layers." + std::to_string(l) + ".", C_, F_, true, LayerNaming::torch));
    add_layernorm(ps_, "encoder.norm.", C_, norm_w_, norm_b_);
    head_w_ = ps_.add("head.weight", {K_, C_});
    head_b_ = ps_.add("head.bias", {K_});
    ps_.finalize();
    attach_head_probes(probes_, H_, stack_.ids, "self");

    // [CLS] and positions ~ N(0, 0.02); matrices Xavier-uniform; biases 0; norms 1.
    Rng init(seed);
    init_params(ps_, [&](ParamId id) {
      if (id == cls_ || id == pos_) ps_.init_normal(id, init, 0.02f);
      else ps_.init_xavier_uniform(id, init);
    });

    stack_.cfg = layer_config(C_, H_, F_, act, pre, dropout_, eps_);
  }

  void check_batch(const Batch& b) const override {
    if (b.B <= 0) throw DataError("vit batch: empty");
    if (b.P != P_ || b.D != D_)
      throw DataError("vit batch: images of " + std::to_string(b.P) + " patches x " + std::to_string(b.D) +
                      " values, the model expects " + std::to_string(P_) + " x " + std::to_string(D_));
    if (static_cast<int64_t>(b.patches.size()) != b.B * P_ * D_)
      throw DataError("vit batch: expected " + std::to_string(b.B * P_ * D_) + " patch values, found " +
                      std::to_string(b.patches.size()));
    if (!b.labels.empty()) check_ids(b.labels, b.B, 0, K_, "vit batch labels");
  }

  Stats forward(const Batch& b, bool training) override {
    check_batch(b);
    B_ = b.B;
    const int64_t T = tokens(), N = B_ * T, first = T - P_;  // first: 1 with a [CLS] row, else 0
    patches_.assign(b.patches.begin(), b.patches.end());
    training_ = training;
    // patch embedding (B*P, C), then x0 (B, T, C) = [cls ;] emb + pos
    emb_.resize(static_cast<size_t>(B_ * P_ * C_));
    linear_forward(emb_.data(), patches_.data(), ps_.param(patch_w_), ps_.param(patch_b_), B_ * P_, D_, C_);
    x0_.resize(static_cast<size_t>(N * C_));
    const float* pos = ps_.param(pos_);  // (T, C)
    for (int64_t bi = 0; bi < B_; ++bi) {
      float* xb = x0_.data() + bi * T * C_;  // (T, C)
      if (first) {
        const float* cls = ps_.param(cls_);  // (C)
        for (int64_t j = 0; j < C_; ++j) xb[j] = cls[j] + pos[j];
      }
      const float* eb = emb_.data() + bi * P_ * C_;  // (P, C)
      for (int64_t i = 0; i < P_ * C_; ++i) xb[first * C_ + i] = eb[i] + pos[first * C_ + i];
    }
    mask_.resize(static_cast<size_t>(N * C_));
    dropout_forward(stack_.input(B_, T), mask_.data(), x0_.data(), N * C_, training ? dropout_ : 0.0f, rng_);
    const float* top = stack_.forward(ps_, nullptr, training, &rng_);  // (B, T, C)
    // final norm on the rows the head reads: the [CLS] rows (R = B) or all rows (R = B*T)
    const int64_t R = mean_pool_ ? N : B_;
    norm_in_ = top;  // mean pooling: all rows, read in place (the stack keeps its output until the next forward)
    if (!mean_pool_) {
      cls_rows_.resize(static_cast<size_t>(B_ * C_));
      for (int64_t bi = 0; bi < B_; ++bi)
        std::memcpy(cls_rows_.data() + bi * C_, top + bi * T * C_, static_cast<size_t>(C_) * sizeof(float));
      norm_in_ = cls_rows_.data();
    }
    norm_out_.resize(static_cast<size_t>(R * C_));
    mean_.resize(static_cast<size_t>(R));
    rstd_.resize(static_cast<size_t>(R));
    layernorm_forward(norm_out_.data(), mean_.data(), rstd_.data(), norm_in_, ps_.param(norm_w_),
                      ps_.param(norm_b_), R, C_, eps_);
    const float* feat = norm_out_.data();  // (B, C) the head's input
    if (mean_pool_) {
      pooled_.assign(static_cast<size_t>(B_ * C_), 0.0f);
      const float inv = 1.0f / static_cast<float>(T);
      for (int64_t bi = 0; bi < B_; ++bi) {
        float* pb = pooled_.data() + bi * C_;  // (C)
        for (int64_t t = 0; t < T; ++t) {
          const float* o = norm_out_.data() + (bi * T + t) * C_;  // (C)
          for (int64_t j = 0; j < C_; ++j) pb[j] += o[j];
        }
        for (int64_t j = 0; j < C_; ++j) pb[j] *= inv;
      }
      feat = pooled_.data();
    }
    logits_.resize(static_cast<size_t>(B_ * K_));
    linear_forward(logits_.data(), feat, ps_.param(head_w_), ps_.param(head_b_), B_, C_, K_);
    return loss_.forward(logits_.data(), b.labels.empty() ? nullptr : b.labels.data(), B_, K_, -1, smoothing_);
  }

  void backward(float scale) override {
    QKV_CHECK(B_ > 0, "vit backward() before forward()");
    dlogits_.resize(static_cast<size_t>(B_ * K_));
    loss_.backward(dlogits_.data(), scale);
    backward_logits();
  }

  void backward_from_logits(const float* dlogits) override {
    QKV_CHECK(B_ > 0, "vit backward() before forward()");
    dlogits_.assign(dlogits, dlogits + B_ * K_);
    backward_logits();
  }

  // From dlogits_ (B, K) down to the patch embedding.
  void backward_logits() {
    const int64_t T = tokens(), N = B_ * T, first = T - P_;
    stack_.check_backward();
    dfeat_.assign(static_cast<size_t>(B_ * C_), 0.0f);  // (B, C)
    linear_backward(dfeat_.data(), ps_.grad(head_w_), ps_.grad(head_b_), dlogits_.data(),
                    mean_pool_ ? pooled_.data() : norm_out_.data(), ps_.param(head_w_), B_, C_, K_);
    if (mean_pool_) {  // d norm_out (B, T, C) = d pooled / T at every position
      dnorm_out_.resize(static_cast<size_t>(N * C_));
      const float inv = 1.0f / static_cast<float>(T);
      for (int64_t bi = 0; bi < B_; ++bi)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < C_; ++j) dnorm_out_[(bi * T + t) * C_ + j] = dfeat_[bi * C_ + j] * inv;
    }
    float* dtop = stack_.output_grad();  // (B, T, C), zero-filled: with [CLS] pooling only the [CLS] rows get gradient
    if (mean_pool_) {
      layernorm_backward(dtop, ps_.grad(norm_w_), ps_.grad(norm_b_), dnorm_out_.data(), norm_in_, ps_.param(norm_w_),
                         mean_.data(), rstd_.data(), N, C_);
    } else {
      dnorm_in_.assign(static_cast<size_t>(B_ * C_), 0.0f);
      layernorm_backward(dnorm_in_.data(), ps_.grad(norm_w_), ps_.grad(norm_b_), dfeat_.data(), norm_in_,
                         ps_.param(norm_w_), mean_.data(), rstd_.data(), B_, C_);
      for (int64_t bi = 0; bi < B_; ++bi)
        std::memcpy(dtop + bi * T * C_, dnorm_in_.data() + bi * C_, static_cast<size_t>(C_) * sizeof(float));
    }
    const float* dx = stack_.backward(ps_);
    dx0_.assign(static_cast<size_t>(N * C_), 0.0f);
    dropout_backward(dx0_.data(), dx, mask_.data(), N * C_, training_ ? dropout_ : 0.0f);
    float* dpos = ps_.grad(pos_);  // (T, C)
    demb_.resize(static_cast<size_t>(B_ * P_ * C_));
    for (int64_t bi = 0; bi < B_; ++bi) {
      const float* db = dx0_.data() + bi * T * C_;  // (T, C)
      if (first) {
        float* dcls = ps_.grad(cls_);  // (C)
        for (int64_t j = 0; j < C_; ++j) dcls[j] += db[j];
      }
      for (int64_t i = 0; i < T * C_; ++i) dpos[i] += db[i];
      std::memcpy(demb_.data() + bi * P_ * C_, db + first * C_, static_cast<size_t>(P_ * C_) * sizeof(float));
    }
    linear_backward(nullptr, ps_.grad(patch_w_), ps_.grad(patch_b_), demb_.data(), patches_.data(),
                    ps_.param(patch_w_), B_ * P_, D_, C_);
  }

  const float* logits() const override { return logits_.data(); }

  std::vector<AttentionMap> attention_maps() const override {
    std::vector<AttentionMap> maps;
    stack_.attention_maps("encoder.layers.", ".self_attn", "self", maps);
    return maps;
  }

 private:
  // sequence length: the patches, after a [CLS] row unless pooling by mean
  int64_t tokens() const { return P_ + (mean_pool_ ? 0 : 1); }

  int64_t D_, P_, K_, C_, H_, L_, F_;
  float dropout_, eps_, smoothing_;
  bool mean_pool_ = false;
  ParamId cls_ = -1, pos_, patch_w_, patch_b_, norm_w_ = -1, norm_b_ = -1, head_w_, head_b_;
  EncoderStack stack_;

  int64_t B_ = 0;
  bool training_ = false;
  Buffer<float> patches_, emb_, x0_;
  std::vector<uint8_t> mask_;
  const float* norm_in_ = nullptr;  // the final norm's input rows, (B, C) [CLS] rows or (B*T, C)
  Buffer<float> cls_rows_, norm_out_, mean_, rstd_, pooled_, logits_;
  LossHead loss_;
  Buffer<float> dlogits_, dfeat_, dnorm_out_, dnorm_in_, dx0_, demb_;
};

ArchSpec vit_spec() {
  ArchSpec s;
  s.name = "vit";
  s.summary = "Vision Transformer classifier over image patches ([CLS] or mean pooling, pre-norm encoder)";
  s.task = Task::classify;
  s.data.n_patches = "n_patches";
  s.data.patch_dim = "patch_dim";
  s.data.n_classes = "n_classes";
  s.output = Output::per_example;  // (B, n_classes)
  s.output_size = "n_classes";
  s.command = "vit";
  s.command_help = "vision transformer on a patches file";
  s.flags = transformer_block_flags();
  s.flags.insert(s.flags.end(), {{"--layers", "n_layer", "transformer blocks", ""},
             {"--pool", "pool", "what the head reads: cls ([CLS] token) | mean (average of the patch outputs)", ""},
             {"--label-smoothing", "label_smoothing", "label smoothing epsilon", ""}});
  return s;
}

}  // namespace

QKV_REGISTER_ARCH(vit_spec(), Vit);

}  // namespace qkv::nn
