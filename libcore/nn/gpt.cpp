// gpt: decoder-only Transformer language model (GPT-2 / nanoGPT layout).
//
//   x = drop(wte[inp] + pos)                   pos: learned wpe[t] or sinusoidal
//   x = block_l(x), l = 0 .. n_layer-1          causal self-attention + MLP, pre- or post-norm
//   logits = lm_head(ln_f(x))                   ln_f only with norm=pre; lm_head = wte when tied
//   bias=0: no bias in any Linear or LayerNorm (nanoGPT's bias=False)
//   loss = cross-entropy over targets != -1, label smoothing optional (label_smoothing, default 0)
//
// PyTorch twin: scripts/torch/qkv_models.py GPT (nanoGPT's model.py names and
// shapes, so a nanoGPT state_dict converts directly; see docs/FORMATS.md).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "nn/decoder.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/model_parts.h"
#include "nn/positional.h"

namespace qkv::nn {
namespace {

class Gpt : public Model {
 public:
  Gpt(const Config& c, uint64_t seed, Build build = Build::full) : Model("gpt", seed) {
    ConfigReader r(c, arch_);
    V_ = r.get_int("vocab_size", 65, 1, INT32_MAX);
    block_ = r.get_int("block_size", 64, 1, 1 << 20);
    L_ = r.get_int("n_layer", 4, 1, 1000);
    H_ = r.get_int("n_head", 4, 1, 1 << 16);
    C_ = r.get_int("d_model", 128, 1, 1 << 20);
    F_ = r.get_int("d_ff", 0, 0, 1 << 24);
    dropout_ = static_cast<float>(r.get_double("dropout", 0.0, 0.0, 0.99));
    learned_pos_ = r.get_choice("pos", "learned", {"learned", "sinusoidal"}) == "learned";
    tied_ = r.get_bool("tie_weights", true);
    pre_norm_ = r.get_choice("norm", "pre", {"pre", "post"}) == "pre";
    act_ = activation_from_name(r.get_choice("activation", "gelu", {"gelu", "relu", "gelu_tanh"}));
    bias_ = r.get_bool("bias", true);
    eps_ = static_cast<float>(r.get_double("ln_eps", 1e-5, 1e-12, 1.0));
    smoothing_ = static_cast<float>(r.get_double("label_smoothing", 0.0, 0.0, 1.0));
    r.finish();
    config_ = r.resolved();
    if (C_ % H_ != 0)
      throw UsageError("gpt: d_model (" + std::to_string(C_) + ") must be divisible by n_head (" +
                       std::to_string(H_) + ")");
    if (!learned_pos_ && C_ % 2 != 0) throw UsageError("gpt: sinusoidal positions need an even d_model");
    if (build == Build::config_only) return;
    if (F_ == 0) F_ = 4 * C_;

    wte_ = ps_.add("transformer.wte.weight", {V_, C_});
    if (learned_pos_) wpe_ = ps_.add("transformer.wpe.weight", {block_, C_});
    for (int64_t l = 0; l < L_; ++l)
      stack_.ids.push_back(
          add_encoder_layer(ps_, "transformer.h." + std::to_string(l) + ".", C_, F_, bias_, LayerNaming::nanogpt));
    if (pre_norm_) add_layernorm(ps_, "transformer.ln_f.", C_, lnf_w_, lnf_b_, bias_);
    lm_head_ = tied_ ? wte_ : ps_.add("lm_head.weight", {V_, C_});
    ps_.finalize();
    attach_head_probes(probes_, H_, stack_.ids, "self");

    // nanoGPT's init: N(0, 0.02) for matrices and embeddings, the residual
    // projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)).
    Rng init(seed);
    const float proj_std = 0.02f / std::sqrt(2.0f * static_cast<float>(L_));
    init_params(ps_, [&](ParamId id) {
      const std::string& n = ps_.info(id).name;
      bool proj = n.size() > 13 && n.compare(n.size() - 13, 13, "c_proj.weight") == 0;
      ps_.init_normal(id, init, proj ? proj_std : 0.02f);
    });

    stack_.cfg = layer_config(C_, H_, F_, act_, pre_norm_, dropout_, eps_);
    stack_.cfg.causal = true;
    stack_.cfg.ffn_dropout = 0.0f;  // nanoGPT's MLP has no inner dropout
    if (!learned_pos_) {
      pe_.resize(static_cast<size_t>(block_ * C_));
      sinusoidal_table(pe_.data(), block_, C_);
    }
  }

  void check_batch(const Batch& b) const override {
    if (b.B <= 0 || b.T <= 0) throw DataError("gpt batch: empty (B=" + std::to_string(b.B) + ", T=" + std::to_string(b.T) + ")");
    if (b.T > block_)
      throw DataError("gpt batch: sequence length " + std::to_string(b.T) + " exceeds the model's block_size " +
                      std::to_string(block_));
    check_ids(b.inp, b.B * b.T, 0, V_, "gpt batch inputs");
    if (!b.tgt.empty()) check_ids(b.tgt, b.B * b.T, 0, V_, "gpt batch targets", kIgnoreIndex);
  }

  Stats forward(const Batch& b, bool training) override {
    check_batch(b);
    B_ = b.B;
    T_ = b.T;
    const int64_t N = B_ * T_;
    inp_ = b.inp;
    training_ = training;
    float* x0 = stack_.input(B_, T_);  // (N, C)

    // x0 (N, C) = drop(wte[inp] + pos)
    emb_.resize(static_cast<size_t>(N * C_));
    embedding_forward(emb_.data(), inp_.data(), ps_.param(wte_), N, V_, C_);
    const float* pos = learned_pos_ ? ps_.param(wpe_) : pe_.data();  // (block, C); rows [0, T) used
    add_positional(emb_.data(), pos, B_, T_, C_, 1.0f);
    const float p = training ? dropout_ : 0.0f;
    emb_mask_.resize(static_cast<size_t>(N * C_));
    dropout_forward(x0, emb_mask_.data(), emb_.data(), N * C_, p, rng_);

    const float* top = stack_.forward(ps_, nullptr, training, &rng_);  // (N, C)
    if (pre_norm_) {
      xf_.resize(static_cast<size_t>(N * C_));
      lnf_mean_.resize(static_cast<size_t>(N));
      lnf_rstd_.resize(static_cast<size_t>(N));
      layernorm_forward(xf_.data(), lnf_mean_.data(), lnf_rstd_.data(), top, ps_.param(lnf_w_), param_or_null(ps_, lnf_b_), N,
                        C_, eps_);
      top = xf_.data();
    }
    logits_.resize(static_cast<size_t>(N * V_));
    linear_forward(logits_.data(), top, ps_.param(lm_head_), nullptr, N, C_, V_);  // (N, V)
    return head_.forward(logits_.data(), b.tgt.empty() ? nullptr : b.tgt.data(), N, V_, kIgnoreIndex, smoothing_);
  }

  void backward(float scale) override {
    QKV_CHECK(B_ > 0, "gpt backward() before forward()");
    dlogits_.resize(static_cast<size_t>(B_ * T_ * V_));
    head_.backward(dlogits_.data(), scale);
    backward_logits();
  }

  void backward_from_logits(const float* dlogits) override {
    QKV_CHECK(B_ > 0, "gpt backward() before forward()");
    dlogits_.assign(dlogits, dlogits + B_ * T_ * V_);
    backward_logits();
  }

  // From dlogits_ (N, V) down to the embeddings.
  void backward_logits() {
    const int64_t N = B_ * T_;
    stack_.check_backward();
    float* dstack = stack_.output_grad();  // d of the last block's output (N, C)
    if (pre_norm_) {
      dtop_.assign(static_cast<size_t>(N * C_), 0.0f);
      linear_backward(dtop_.data(), ps_.grad(lm_head_), nullptr, dlogits_.data(), xf_.data(), ps_.param(lm_head_), N,
                      C_, V_);
      layernorm_backward(dstack, ps_.grad(lnf_w_), grad_or_null(ps_, lnf_b_), dtop_.data(), stack_.output(),
                         ps_.param(lnf_w_), lnf_mean_.data(), lnf_rstd_.data(), N, C_);
    } else {
      linear_backward(dstack, ps_.grad(lm_head_), nullptr, dlogits_.data(), stack_.output(), ps_.param(lm_head_), N,
                      C_, V_);
    }
    const float* dx0 = stack_.backward(ps_);
    // through the embedding dropout, then into wte and wpe
    demb_.assign(static_cast<size_t>(N * C_), 0.0f);
    dropout_backward(demb_.data(), dx0, emb_mask_.data(), N * C_, training_ ? dropout_ : 0.0f);
    embedding_backward(ps_.grad(wte_), demb_.data(), inp_.data(), N, C_);
    if (learned_pos_) {
      float* dwpe = ps_.grad(wpe_);  // (block, C)
      for (int64_t bi = 0; bi < B_; ++bi)
        for (int64_t i = 0; i < T_ * C_; ++i) dwpe[i] += demb_[static_cast<size_t>(bi * T_ * C_ + i)];
    }
  }

  const float* logits() const override { return logits_.data(); }

  std::vector<AttentionMap> attention_maps() const override {
    std::vector<AttentionMap> maps;
    stack_.attention_maps("transformer.h.", ".attn", "self", maps);
    return maps;
  }

  std::unique_ptr<Decoder> decoder() override { return std::make_unique<StepDecoder>(*this); }

 private:
  // Incremental decoding (nn/decoder.h): each step runs the blocks at one
  // position against their KV caches.
  class StepDecoder;
  struct State : DecoderState {
    std::vector<KvCache> cache;           // per layer: keys (B, H, capacity / 16, hs, 16), values (B, H, capacity, hs)
    std::vector<LayerStepScratch> layer;  // per layer
    std::vector<float> x, y, mean, rstd;  // (B, C), (B, C), (B), (B)
    friend class StepDecoder;
  };

  class StepDecoder : public Decoder {
   public:
    explicit StepDecoder(Gpt& m) : m_(m), w_(layer_weights(m), m.stack_.cfg, m.ps_.param(m.lm_head_), nullptr, m.V_) {}
    int64_t vocab_size() const override { return m_.V_; }
    int64_t max_positions() const override { return m_.block_; }
    bool has_source() const override { return false; }

    std::unique_ptr<DecoderState> start(const std::vector<std::vector<int32_t>>& sources,
                                        int64_t capacity) override {
      const int64_t B = static_cast<int64_t>(sources.size());
      if (B < 1) throw UsageError("gpt decoder: no rows");
      for (const auto& s : sources)
        if (!s.empty()) throw DataError("gpt decoder: a language model takes no source (its prompt is the context)");
      if (capacity < 1 || capacity > m_.block_)
        throw UsageError("gpt decoder: " + std::to_string(capacity) + " positions exceed the model's block_size " +
                         std::to_string(m_.block_));
      std::unique_ptr<State> st = spare_ ? std::move(spare_) : std::make_unique<State>();
      st->B_ = B;
      st->len_ = 0;
      st->cap_ = capacity;
      st->cache.resize(static_cast<size_t>(m_.L_));
      st->layer.resize(static_cast<size_t>(m_.L_));
      for (auto& c : st->cache) c.reset(B, m_.H_, capacity, m_.C_ / m_.H_);
      return st;
    }

    void step(DecoderState& state, const int32_t* ids, float* logits, std::vector<AttentionMap>* att) override {
      Gpt& m = m_;
      State& st = static_cast<State&>(state);
      const int64_t B = st.B_, C = m.C_, t = st.len_;
      if (t >= st.cap_) throw UsageError("gpt decoder: step beyond the state's capacity " + std::to_string(st.cap_));
      st.x.resize(B * C);
      st.y.resize(B * C);
      // x (B, C) = wte[ids] + pos[t]
      embedding_forward(st.x.data(), ids, m.ps_.param(m.wte_), B, m.V_, C);
      const float* pos = m.learned_pos_ ? m.ps_.param(m.wpe_) : m.pe_.data();  // (block, C)
      add_positional(st.x.data(), pos + t * C, B, 1, C, 1.0f);
      for (int64_t l = 0; l < m.L_; ++l) {
        encoder_layer_step(st.y.data(), st.x.data(), w_.layer(l, B), m.stack_.cfg, st.cache[l], st.layer[l]);
        st.x.swap(st.y);
      }
      const float* top = st.x.data();  // (B, C)
      if (m.pre_norm_) {
        st.mean.resize(B);
        st.rstd.resize(B);
        layernorm_forward(st.y.data(), st.mean.data(), st.rstd.data(), top, m.ps_.param(m.lnf_w_),
                          param_or_null(m.ps_, m.lnf_b_), B, C, m.eps_);
        top = st.y.data();
      }
      w_.head_forward(logits, top, B);  // (B, V)
      st.len_ = t + 1;
      if (!att) return;
      att->clear();
      for (int64_t l = 0; l < m.L_; ++l) {
        const MhaStepScratch& s = st.layer[l].self_attn;
        att->push_back({"transformer.h." + std::to_string(l) + ".attn", {B, m.H_, 1, s.Tk}, s.att.data(), "self", l});
      }
    }

    void reorder(DecoderState& state, const std::vector<int64_t>& rows) override {
      State& st = static_cast<State&>(state);
      for (int64_t r : rows) QKV_CHECK(r >= 0 && r < st.B_, "gpt decoder: reorder row out of range");
      for (auto& c : st.cache) c.gather(rows);
      st.B_ = static_cast<int64_t>(rows.size());
    }

    void recycle(std::unique_ptr<DecoderState> state) override {
      if (dynamic_cast<State*>(state.get())) spare_.reset(static_cast<State*>(state.release()));
    }

   private:
    static std::vector<EncoderLayerWeights> layer_weights(const Gpt& m) {
      std::vector<EncoderLayerWeights> w;
      for (int64_t l = 0; l < m.L_; ++l) w.push_back(encoder_weights(m.ps_, m.stack_.ids[l]));
      return w;
    }
    Gpt& m_;
    StepWeights<EncoderLayerWeights> w_;  // the blocks' and lm_head's, packed for many rows
    std::unique_ptr<State> spare_;        // recycle()'s, for the next start()
  };

  int64_t V_, block_, L_, H_, C_, F_;
  float dropout_, eps_, smoothing_;
  bool learned_pos_, tied_, pre_norm_, bias_;
  Activation act_;
  ParamId wte_ = -1, wpe_ = -1, lnf_w_ = -1, lnf_b_ = -1, lm_head_ = -1;
  EncoderStack stack_;
  std::vector<float> pe_;  // (block, C) sinusoidal table

  // activations of the last forward
  int64_t B_ = 0, T_ = 0;
  bool training_ = false;
  std::vector<int32_t> inp_;
  Buffer<float> emb_;
  std::vector<uint8_t> emb_mask_;
  Buffer<float> xf_, lnf_mean_, lnf_rstd_, logits_;
  LossHead head_;
  Buffer<float> dlogits_, dtop_, demb_;
};

ArchSpec gpt_spec() {
  ArchSpec s;
  s.name = "gpt";
  s.summary = "decoder-only Transformer language model (nanoGPT layout)";
  s.task = Task::language_model;
  s.data.vocab = "vocab_size";
  s.data.max_len = "block_size";
  s.output = Output::per_position;  // (B, T, vocab_size)
  s.output_size = "vocab_size";
  s.command = "lm";
  s.command_help = "language model (gpt) on a tokens file";
  s.flags = transformer_block_flags("feed-forward width (0: 4 x --d-model)");
  s.flags.insert(s.flags.end(), {{"--layers", "n_layer", "transformer blocks", ""},
             {"--pos", "pos", "positional encoding: learned | sinusoidal", ""},
             {"--tie-embeddings", "tie_weights", "output layer tied to the token embedding: 1 | 0", ""},
             {"--bias", "bias", "biases in linear layers and norms: 1 | 0", ""},
             {"--max-context", "block_size", "longest context the model takes", "--context"},
             {"--label-smoothing", "label_smoothing", "label smoothing epsilon", ""}});
  return s;
}

}  // namespace

QKV_REGISTER_ARCH(gpt_spec(), Gpt);

}  // namespace qkv::nn
