// Optimizers, schedules and clipping against PyTorch 1.13 (values printed by
// torch.optim.AdamW / SGD and clip_grad_norm_ on the same inputs; the script
// is in the comment of each test).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "nn/optim.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

// w (2,3) decays, b (2) does not; lr 0.01; grads for t = 1..5:
//   w.grad[0][i] = sin(t (i+1)), w.grad[1][i] = cos(t (i+1)); b.grad = [0.3 t, -0.1 t^2]
std::vector<float> run(OptimConfig oc) {
  ParamStore ps;
  ParamId w = ps.add("w", {2, 3});
  ParamId b = ps.add("b", {2});
  ps.finalize();
  const float w0[6] = {0.5f, -1.0f, 2.0f, 0.25f, 0.75f, -0.5f};
  for (int i = 0; i < 6; ++i) ps.param(w)[i] = w0[i];
  ps.param(b)[0] = 0.1f;
  ps.param(b)[1] = -0.2f;
  Optimizer opt(oc, ps);
  for (int t = 1; t <= 5; ++t) {
    for (int i = 0; i < 3; ++i) {
      ps.grad(w)[i] = static_cast<float>(std::sin(t * (i + 1.0)));
      ps.grad(w)[3 + i] = static_cast<float>(std::cos(t * (i + 1.0)));
    }
    ps.grad(b)[0] = 0.3f * t;
    ps.grad(b)[1] = -0.1f * t * t;
    opt.step(0.01);
  }
  std::vector<float> out(ps.param(w), ps.param(w) + 6);
  out.push_back(ps.param(b)[0]);
  out.push_back(ps.param(b)[1]);
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 2e-6) << "element " << i;
}

}  // namespace

TEST(Optim, AdamWMatchesPyTorch) {
  OptimConfig oc;
  oc.kind = "adamw";
  oc.beta1 = 0.9;
  oc.beta2 = 0.95;
  oc.eps = 1e-8;
  oc.weight_decay = 0.1;
  expect_close(run(oc), {0.467160136f, -1.00763226f, 1.98041487f, 0.253286898f, 0.769773126f, -0.483002722f,
                         0.0521500334f, -0.155902937f});
}

TEST(Optim, SgdMomentumMatchesPyTorch) {
  OptimConfig oc;
  oc.kind = "sgd";
  oc.momentum = 0.9;
  oc.weight_decay = 0.1;
  expect_close(run(oc), {0.448082f, -1.0037955f, 1.97013676f, 0.275329471f, 0.764724851f, -0.469776571f,
                         0.00489071012f, -0.102358907f});
  oc.nesterov = true;
  expect_close(run(oc), {0.449290305f, -1.00155604f, 1.95933461f, 0.283879012f, 0.770378768f, -0.461858273f,
                         -0.0305983573f, -0.0571229979f});
  oc.nesterov = false;
  oc.momentum = 0;
  oc.weight_decay = 0;
  expect_close(run(oc), {0.498238385f, -1.00318408f, 1.99612474f, 0.262358159f, 0.760941923f, -0.49143213f,
                         0.0550000072f, -0.144999996f});
}

TEST(Optim, ClipGradNormMatchesPyTorch) {
  ParamStore ps;
  ParamId a = ps.add("a", {1});
  ParamId b = ps.add("b", {1});  // padding between params must not count
  ps.finalize();
  ps.grad(a)[0] = 3;
  ps.grad(b)[0] = 4;
  EXPECT_NEAR(clip_grad_norm(ps, 0), 5.0, 1e-12);  // measure only
  EXPECT_EQ(ps.grad(a)[0], 3.0f);
  EXPECT_NEAR(clip_grad_norm(ps, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(ps.grad(a)[0], 0.6f, 1e-6);
  EXPECT_NEAR(ps.grad(b)[0], 0.8f, 1e-6);
  EXPECT_NEAR(clip_grad_norm(ps, 10.0), 1.0, 1e-5);  // below the limit: untouched
  EXPECT_NEAR(ps.grad(b)[0], 0.8f, 1e-6);
}

TEST(Optim, DecayFlagsFollowRankUnlessOverridden) {
  ParamStore ps;
  EXPECT_TRUE(ps.info(ps.add("w", {4, 3})).decay);
  EXPECT_FALSE(ps.info(ps.add("b", {4})).decay);
  EXPECT_FALSE(ps.info(ps.add("pos", {4, 3}, Decay::no)).decay);
  EXPECT_TRUE(ps.info(ps.add("g", {4}, Decay::yes)).decay);
}

TEST(Schedule, WarmupCosineAndInvSqrt) {
  Schedule s{"cosine", 1.0, 10, 110, 0.1};
  s.validate();
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);
  EXPECT_NEAR(s.lr(60), 0.55, 1e-12);  // half way: min + (base - min) / 2
  EXPECT_NEAR(s.lr(110), 0.1, 1e-12);
  EXPECT_NEAR(s.lr(1000), 0.1, 1e-12);
  for (int64_t i = 11; i < 110; ++i) EXPECT_LE(s.lr(i), s.lr(i - 1));

  Schedule n{"inv_sqrt", 2.0, 4, 0, 0};
  n.validate();
  EXPECT_DOUBLE_EQ(n.lr(0), 0.5);
  EXPECT_DOUBLE_EQ(n.lr(3), 2.0);  // peak at step warmup
  EXPECT_DOUBLE_EQ(n.lr(15), 1.0);  // 2 * sqrt(4 / 16)

  Schedule c{"constant", 0.3, 0, 0, 0};
  c.validate();
  EXPECT_DOUBLE_EQ(c.lr(0), 0.3);
  EXPECT_DOUBLE_EQ(c.lr(12345), 0.3);

  EXPECT_THROW((Schedule{"cosine", 1.0, 10, 10, 0}.validate()), UsageError);
  EXPECT_THROW((Schedule{"linear_ish", 1.0, 0, 10, 0}.validate()), UsageError);
  EXPECT_THROW((Schedule{"inv_sqrt", 1.0, 0, 10, 0}.validate()), UsageError);
}

TEST(Optim, ConfigRoundTripAndErrors) {
  OptimConfig oc;
  oc.kind = "sgd";
  oc.momentum = 0.5;
  oc.nesterov = true;
  OptimConfig back = OptimConfig::from_config(oc.to_config());
  EXPECT_EQ(back.kind, "sgd");
  EXPECT_EQ(back.momentum, 0.5);
  EXPECT_TRUE(back.nesterov);
  Config bad;
  bad.set("optim", "adam");
  EXPECT_THROW(OptimConfig::from_config(bad), UsageError);
  Config bad2;
  bad2.set("beta3", 0.5);
  EXPECT_THROW(OptimConfig::from_config(bad2), UsageError);
}

// Large parameters (several parallel chunks, sizes not multiples of the chunk
// or of the 8 lanes), decayed and not: clipping and AdamW / SGD steps give the
// same bits on 1 and 2 threads, and the clipped norm equals a plain double sum.
TEST(Optim, StepAndClipDoNotDependOnThreadCount) {
  auto train = [](const std::string& kind, int nthreads, double& norm) {
    qkv::set_threads(nthreads);
    ParamStore ps;
    ParamId w = ps.add("w", {301, 257});  // 77,357 values: several chunks
    ParamId b = ps.add("b", {1001});
    ParamId e = ps.add("e", {17, 999});
    ps.finalize();
    for (ParamId id : {w, b, e})
      for (int64_t i = 0; i < ps.info(id).numel; ++i) ps.param(id)[i] = static_cast<float>(std::sin(0.001 * i + id));
    OptimConfig oc;
    oc.kind = kind;
    oc.weight_decay = 0.1;
    Optimizer opt(oc, ps);
    for (int t = 1; t <= 3; ++t) {
      for (ParamId id : {w, b, e})
        for (int64_t i = 0; i < ps.info(id).numel; ++i)
          ps.grad(id)[i] = static_cast<float>(std::cos(0.37 * i * t + id));
      norm = clip_grad_norm(ps, 1.0);
      opt.step(0.01);
    }
    std::vector<float> out;
    for (ParamId id : {w, b, e}) out.insert(out.end(), ps.param(id), ps.param(id) + ps.info(id).numel);
    // The norm of the last (pre-clip) gradients, summed plainly in double.
    double sum = 0;
    for (ParamId id : {w, b, e})
      for (int64_t i = 0; i < ps.info(id).numel; ++i) {
        double g = static_cast<float>(std::cos(0.37 * i * 3 + id));
        sum += g * g;
      }
    EXPECT_NEAR(norm, std::sqrt(sum), 1e-9 * std::sqrt(sum));
    return out;
  };
  for (const std::string kind : {"adamw", "sgd"}) {
    double n1 = 0, n2 = 0;
    std::vector<float> one = train(kind, 1, n1), two = train(kind, 2, n2);
    EXPECT_EQ(n1, n2) << kind;
    ASSERT_EQ(one.size(), two.size());
    EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float))) << kind;
  }
  qkv::set_threads(0);  // back to all cores
}
