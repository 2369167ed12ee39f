// The gpt, transformer and vit models against their PyTorch twins
// (scripts/torch/qkv_models.py; reference files from
// scripts/torch/make_model_refs.py): loss, every parameter's gradient after one
// batch, and the losses of 10 AdamW steps, within 1e-4 relative; plus finite
// differences, checkpoints, greedy decoding, dropout and training on
// synthetic tasks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

std::string ref_path(const std::string& name) { return test::source_path("tests/ref/model_" + name + ".h5"); }

std::vector<int32_t> ids_of(const io::H5In& in, const std::string& name, int64_t* d0, int64_t* d1) {
  Tensor t = in.read(name, DType::i32);
  if (d0) *d0 = t.dim(0);
  if (d1) *d1 = t.ndim() > 1 ? t.dim(1) : 1;
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

Batch ref_batch(const io::H5In& in, Task task) {
  Batch b;
  if (task == Task::language_model) {
    b.inp = ids_of(in, "ref/batch/inp", &b.B, &b.T);
    b.tgt = ids_of(in, "ref/batch/tgt", nullptr, nullptr);
  } else if (task == Task::seq2seq) {
    b.src = ids_of(in, "ref/batch/src", &b.B, &b.S);
    b.tgt_in = ids_of(in, "ref/batch/tgt_in", nullptr, &b.T);
    b.tgt_out = ids_of(in, "ref/batch/tgt_out", nullptr, nullptr);
  } else {
    Tensor p = in.read("ref/batch/patches", DType::f32, 3);
    b.B = p.dim(0);
    b.P = p.dim(1);
    b.D = p.dim(2);
    b.patches.assign(p.data<float>(), p.data<float>() + p.numel());
    b.labels = ids_of(in, "ref/batch/labels", nullptr, nullptr);
  }
  return b;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_qkv_bias(const std::string& name) { return ends_with(name, "in_proj_bias") || ends_with(name, "c_attn.bias"); }

double scalar(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::f32);
  return t.data<float>()[0];
}

void check_against_pytorch(const std::string& name) {
  SCOPED_TRACE(name);
  io::H5In in(ref_path(name));
  auto m = load_model(in);
  Batch b = ref_batch(in, m->task());
  ParamStore& ps = m->params();

  ps.zero_grad();
  Stats s = m->forward(b, true);
  double want = scalar(in, "ref/loss");
  EXPECT_NEAR(s.mean_loss(), want, 1e-4 * std::abs(want)) << "loss";
  m->backward();
  for (ParamId id = 0; id < ps.count(); ++id) {
    const ParamInfo& p = ps.info(id);
    Tensor g = in.read("ref/grads/" + p.name, DType::f32);
    ASSERT_EQ(g.shape(), p.shape) << p.name;
    double err = ops::rel_error(ps.grad(id), g.data<float>(), p.numel);
    EXPECT_LT(err, 1e-4) << "gradient of " << p.name;
  }

  OptimConfig oc;
  oc.kind = "adamw";
  oc.beta1 = in.attr_double("/ref", "beta1");
  oc.beta2 = in.attr_double("/ref", "beta2");
  oc.eps = in.attr_double("/ref", "eps");
  oc.weight_decay = in.attr_double("/ref", "weight_decay");
  const double lr = in.attr_double("/ref", "lr");
  Optimizer opt(oc, ps);
  Tensor losses = in.read("ref/adamw_losses", DType::f32, 1);
  ASSERT_EQ(losses.numel(), 10);
  for (int step = 0; step < 10; ++step) {
    ps.zero_grad();
    double l = m->forward(b, true).mean_loss();
    double w = losses.data<float>()[step];
    EXPECT_NEAR(l, w, 1e-4 * std::abs(w)) << "AdamW step " << step;
    m->backward();
    opt.step(lr);
  }
  for (ParamId id = 0; id < ps.count(); ++id) {
    const ParamInfo& p = ps.info(id);
    Tensor w = in.read("ref/adamw_params/" + p.name, DType::f32);
    const float* got = ps.param(id);
    const float* want_p = w.data<float>();
    if (is_qkv_bias(p.name)) {
      // The key bias cannot change attention (softmax ignores a constant per
      // query), so its true gradient is 0 and both sides hold rounding noise
      // (~1e-9) that Adam's m / sqrt(v) turns into arbitrary +-lr steps.
      // Compare the query and value parts only.
      const int64_t C = p.numel / 3;
      EXPECT_LT(ops::rel_error(got, want_p, C), 1e-4) << "after 10 AdamW steps: " << p.name << " (query part)";
      EXPECT_LT(ops::rel_error(got + 2 * C, want_p + 2 * C, C), 1e-4)
          << "after 10 AdamW steps: " << p.name << " (value part)";
      continue;
    }
    EXPECT_LT(ops::rel_error(got, want_p, p.numel), 1e-4) << "after 10 AdamW steps: " << p.name;
  }
}

}  // namespace

TEST(GptModel, MatchesPyTorchPreNormTiedLearnedGelu) { check_against_pytorch("gpt"); }
TEST(GptModel, MatchesPyTorchPostNormUntiedSinusoidalReluNoBias) { check_against_pytorch("gpt_post"); }
TEST(TransformerModel, MatchesPyTorchPostNorm) { check_against_pytorch("transformer"); }
TEST(TransformerModel, MatchesPyTorchPreNormSharedTied) { check_against_pytorch("transformer_pre_shared"); }
TEST(VitModel, MatchesPyTorch) { check_against_pytorch("vit"); }
