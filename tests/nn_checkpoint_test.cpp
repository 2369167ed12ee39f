// Checkpoints (qkv_format "model"): round trip, exact resume, and the errors a
// user gets for a checkpoint that does not fit. Uses a small softmax-regression
// model defined here, so these tests do not depend on the real architectures
// (whose own tests save and load them too).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "support/test_support.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

// logits (B, K) = mean over patches of x (B, P, D) @ W^T + b; W (K, D).
class ToySoftmax : public Model {
 public:
  ToySoftmax(const Config& c, uint64_t seed, Build = Build::full) : Model("toy_softmax", seed) {
    ConfigReader r(c, arch_);
    D_ = r.get_int("patch_dim", 4, 1);
    K_ = r.get_int("n_classes", 3, 2);
    r.finish();
    config_ = r.resolved();
    w_ = ps_.add("head.weight", {K_, D_});
    b_ = ps_.add("head.bias", {K_});
    ps_.finalize();
    Rng init(seed);
    ps_.init_fan_in_uniform(w_, init);
    ps_.init_fan_in_uniform(b_, init);
  }
  void check_batch(const Batch& b) const override {
    if (b.D != D_) throw DataError("patch dim mismatch");
  }
  Stats forward(const Batch& b, bool) override {
    check_batch(b);
    B_ = b.B;
    x_.assign(static_cast<size_t>(B_ * D_), 0.0f);
    for (int64_t i = 0; i < B_; ++i)
      for (int64_t p = 0; p < b.P; ++p)
        for (int64_t d = 0; d < D_; ++d) x_[i * D_ + d] += b.patches[(i * b.P + p) * D_ + d] / b.P;
    probs_.assign(static_cast<size_t>(B_ * K_), 0.0f);
    labels_ = b.labels;
    Stats s;
    for (int64_t i = 0; i < B_; ++i) {
      float mx = -1e30f;
      for (int64_t k = 0; k < K_; ++k) {
        float z = ps_.param(b_)[k];
        for (int64_t d = 0; d < D_; ++d) z += ps_.param(w_)[k * D_ + d] * x_[i * D_ + d];
        probs_[i * K_ + k] = z;
        mx = std::max(mx, z);
      }
      logits_.assign(probs_.begin(), probs_.end());
      double sum = 0;
      for (int64_t k = 0; k < K_; ++k) sum += std::exp(probs_[i * K_ + k] - mx);
      for (int64_t k = 0; k < K_; ++k) probs_[i * K_ + k] = static_cast<float>(std::exp(probs_[i * K_ + k] - mx) / sum);
      s.loss_sum -= std::log(probs_[i * K_ + labels_[i]]);
      s.count++;
    }
    return s;
  }
  void backward(float scale) override {
    for (int64_t i = 0; i < B_; ++i)
      for (int64_t k = 0; k < K_; ++k) {
        float g = (probs_[i * K_ + k] - (labels_[i] == k ? 1.0f : 0.0f)) * scale / B_;
        ps_.grad(b_)[k] += g;
        for (int64_t d = 0; d < D_; ++d) ps_.grad(w_)[k * D_ + d] += g * x_[i * D_ + d];
      }
  }
  const float* logits() const override { return logits_.data(); }

 private:
  int64_t D_, K_, B_ = 0;
  ParamId w_, b_;
  std::vector<float> x_, probs_, logits_;
  std::vector<int32_t> labels_;
};
ArchSpec toy_spec() {
  ArchSpec s;
  s.name = "toy_softmax";
  s.summary = "test-only softmax regression";
  s.task = Task::classify;
  s.data.patch_dim = "patch_dim";
  s.data.n_classes = "n_classes";
  s.output = Output::per_example;
  s.output_size = "n_classes";
  return s;
}
QKV_REGISTER_ARCH(toy_spec(), ToySoftmax);

Batch random_batch(Rng& rng, int64_t B) {
  Batch b;
  b.B = B;
  b.P = 2;
  b.D = 4;
  for (int64_t i = 0; i < B * 8; ++i) b.patches.push_back(rng.normal());
  for (int64_t i = 0; i < B; ++i) b.labels.push_back(static_cast<int32_t>(rng.below(3)));
  return b;
}

// Trains `steps` steps from the model/optimizer state given; data from data_rng.
void train(Model& m, Optimizer& opt, Rng& data_rng, int steps) {
  for (int s = 0; s < steps; ++s) {
    Batch b = random_batch(data_rng, 5);
    m.params().zero_grad();
    m.forward(b, true);
    m.backward();
    clip_grad_norm(m.params(), 1.0);
    opt.step(0.05);
  }
}

std::string first_line_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Checkpoint, ResumeIsBitwiseExact) {
  test::TempDir tmp;
  Config c;
  auto a = make_model("toy_softmax", c, 3);
  OptimConfig oc;
  oc.weight_decay = 0.1;
  Optimizer opt_a(oc, a->params());
  Rng data(11);
  train(*a, opt_a, data, 4);
  TrainState ts;
  ts.step = opt_a.steps();
  ts.data_rng = data.state();
  ts.model_rng = a->rng().state();
  ts.extra.set("lr", 0.05);
  save_checkpoint(tmp.file("ck.h5"), *a, &opt_a, &ts);
  train(*a, opt_a, data, 3);  // the uninterrupted run

  io::H5In in(tmp.file("ck.h5"));
  auto b = load_model(in);
  EXPECT_EQ(b->arch(), "toy_softmax");
  EXPECT_EQ(b->config().to_string(), "patch_dim=4 n_classes=3");
  Optimizer opt_b(read_optimizer_config(in), b->params());
  load_optimizer(in, opt_b, b->params());
  TrainState ts_b = load_train_state(in);
  EXPECT_EQ(ts_b.step, 4);
  EXPECT_EQ(opt_b.steps(), 4);
  EXPECT_EQ(std::get<double>(*ts_b.extra.find("lr")), 0.05);
  EXPECT_DOUBLE_EQ(opt_b.config().weight_decay, 0.1);
  Rng data_b;
  data_b.set_state(ts_b.data_rng);
  b->rng().set_state(ts_b.model_rng);
  train(*b, opt_b, data_b, 3);  // the resumed run
  ASSERT_EQ(a->params().size(), b->params().size());
  EXPECT_EQ(std::memcmp(a->params().params(), b->params().params(), a->params().size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(opt_a.v(), opt_b.v(), opt_a.size() * sizeof(float)), 0);
}

TEST(Checkpoint, ClearErrorsForCheckpointsThatDoNotFit) {
  test::TempDir tmp;
  Config c;
  auto m = make_model("toy_softmax", c, 1);
  save_checkpoint(tmp.file("ok.h5"), *m, nullptr, nullptr);
  io::H5In ok(tmp.file("ok.h5"));
  EXPECT_FALSE(has_optimizer(ok));
  EXPECT_FALSE(has_train_state(ok));
  EXPECT_EQ(first_line_error([&] { load_train_state(ok); }), tmp.file("ok.h5") + ": no /train_state in this checkpoint");

  // Another hyperparameter: shapes disagree.
  Config c5;
  c5.set("n_classes", 5);
  auto m5 = make_model("toy_softmax", c5, 1);
  EXPECT_EQ(first_line_error([&] { load_params(ok, *m5); }),
            tmp.file("ok.h5") + ": /params/head.weight has shape [3, 4], toy_softmax expects [5, 4]");

  // A missing parameter (a file with only one of the two, built by hand).
  {
    io::H5Out out(tmp.file("partial.h5"), "model");
    out.set_attr("/", "arch", std::string("toy_softmax"));
    out.set_attr("/", "hyperparameters", std::vector<std::string>{"n_classes"});
    out.set_attr("/", "n_classes", int64_t{3});
    out.write("params/head.weight", m->params().param_tensor(0));
    out.commit();
  }
  io::H5In partial(tmp.file("partial.h5"));
  EXPECT_EQ(first_line_error([&] { load_model(partial); }),
            tmp.file("partial.h5") + ": missing parameter /params/head.bias (toy_softmax expects shape [3])");

  // A NaN or an infinity among the weights (a diverged run's file): refused, never silently run.
  for (float bad : {NAN, INFINITY}) {
    auto mb = make_model("toy_softmax", c, 1);
    const ParamInfo& bias = mb->params().infos().back();  // head.bias (3)
    mb->params().params()[bias.offset + bias.numel - 1] = bad;
    save_checkpoint(tmp.file("nan.h5"), *mb, nullptr, nullptr);
    io::H5In nan_in(tmp.file("nan.h5"));
    std::string what = std::isnan(bad) ? "NaN" : "an infinity";
    EXPECT_EQ(first_line_error([&] { load_model(nan_in); }),
              tmp.file("nan.h5") + ": /params/head.bias holds " + what + " at flat index 2 (a checkpoint of a diverged run?)");
  }

  // Another architecture.
  {
    io::H5Out out(tmp.file("other.h5"), "model");
    out.set_attr("/", "arch", std::string("vit"));
    out.set_attr("/", "hyperparameters", std::vector<std::string>{});
    out.commit();
  }
  io::H5In other(tmp.file("other.h5"));
  EXPECT_EQ(first_line_error([&] { load_params(other, *m); }),
            tmp.file("other.h5") + ": is a 'vit' checkpoint, expected a 'toy_softmax' model");

  // Not a model file at all.
  {
    io::H5Out out(tmp.file("tokens.h5"), "tokens");
    out.commit();
  }
  io::H5In tok(tmp.file("tokens.h5"));
  EXPECT_EQ(first_line_error([&] { load_model(tok); }), tmp.file("tokens.h5") + ": is a qkv 'tokens' file, expected 'model'");

  // Unknown hyperparameter in the file: a data error naming the file.
  {
    io::H5Out out(tmp.file("badhp.h5"), "model");
    out.set_attr("/", "arch", std::string("toy_softmax"));
    out.set_attr("/", "hyperparameters", std::vector<std::string>{"n_clases"});
    out.set_attr("/", "n_clases", int64_t{3});
    out.commit();
  }
  io::H5In badhp(tmp.file("badhp.h5"));
  EXPECT_EQ(first_line_error([&] { load_model(badhp); }),
            tmp.file("badhp.h5") +
                ": unknown toy_softmax hyperparameter(s): n_clases (known: patch_dim, n_classes)");
}

TEST(Registry, UnknownArchListsKnownOnes) {
  try {
    make_model("gtp", Config(), 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model architecture 'gtp' (known: "), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("toy_softmax"), std::string::npos);
  }
}
