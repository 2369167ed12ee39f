// The training step's seam (train_step and its StepReduce) and
// the table of run settings: defaults, what /train_state records and in which
// order, and what --resume restores.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "nn/model.h"
#include "train/accumulate.h"
#include "train/settings.h"
#include "train/trainer.h"

using namespace qkv;
using namespace qkv::train;

namespace {

std::unique_ptr<nn::Model> tiny_gpt() {
  nn::Config c;
  c.set("vocab_size", 11);
  c.set("block_size", 8);
  c.set("n_layer", 1);
  c.set("n_head", 2);
  c.set("d_model", 8);
  return nn::make_model("gpt", c, 3);
}

nn::Batch tiny_batch() {
  std::vector<int32_t> inp(2 * 6), tgt(2 * 6);  // (B, T)
  for (int i = 0; i < 12; ++i) {
    inp[i] = (3 * i + 1) % 11;
    tgt[i] = (3 * i + 4) % 11;
  }
  return nn::Batch::lm(2, 6, std::move(inp), std::move(tgt));
}

std::vector<float> params_of(nn::Model& m) {
  return std::vector<float>(m.params().params(), m.params().params() + m.params().size());
}

std::vector<std::string> keys(const nn::Config& c) {
  std::vector<std::string> k;
  for (const auto& kv : c.items()) k.push_back(kv.first);
  return k;
}

}  // namespace

// As in a data-parallel run of 2 ranks that computed the same rows: the whole
// batch has twice the stats, this rank's share of the targets is `weight`,
// and the gradients are summed (doubled).
struct TwoRanks : StepReduce {
  double weight = 0.5;
  int stats_calls = 0, gradient_calls = 0, backward_calls = 0;
  double grad_sum = 0, grads_when_backward_began = 0;  // sum |g| when backward_begins() came
  bool poison = false;  // a rank sends a NaN
  double whole_batch(nn::Stats& s) override {
    ++stats_calls;
    s.loss_sum *= 2;
    s.count *= 2;
    s.correct *= 2;
    return weight;
  }
  void backward_begins(nn::ParamStore& ps) override {
    ++backward_calls;
    for (int64_t i = 0; i < ps.size(); ++i) grads_when_backward_began += std::fabs(ps.grads()[i]);
  }
  void gradients(nn::ParamStore& ps) override {
    ++gradient_calls;
    for (int64_t i = 0; i < ps.size(); ++i) {
      grad_sum += std::fabs(ps.grads()[i]);
      ps.grads()[i] *= 2;
    }
    if (poison) ps.grads()[0] = NAN;
  }
  void sum_stats(nn::Stats& s) override { whole_batch(s); }
  void sum_gradients(nn::ParamStore& ps) override { gradients(ps); }
};

TEST(TrainStep, ReductionSeesTheStatsBeforeBackwardAndTheGradientsBeforeClipping) {
  nn::OptimConfig sgd;
  sgd.kind = "sgd";
  sgd.momentum = 0;
  auto plain = tiny_gpt(), shared = tiny_gpt();
  nn::Optimizer opt_plain(sgd, plain->params()), opt_shared(sgd, shared->params());
  const std::vector<float> before = params_of(*plain);
  nn::Batch b = tiny_batch();

  StepResult a = train_step(*plain, opt_plain, b, 0.1, 0.0);
  TwoRanks two;
  StepResult h = train_step(*shared, opt_shared, b, 0.1, 0.0, &two);
  EXPECT_EQ(two.stats_calls, 1);
  EXPECT_EQ(two.gradient_calls, 1);
  EXPECT_EQ(two.backward_calls, 1);
  EXPECT_EQ(two.grads_when_backward_began, 0);  // before backward
  EXPECT_GT(two.grad_sum, 0);  // after backward
  ASSERT_TRUE(a.stepped && h.stepped);
  EXPECT_EQ(h.stats.loss_sum, 2 * a.stats.loss_sum);  // the whole batch's
  EXPECT_EQ(h.stats.count, 2 * a.stats.count);
  // Half the mean-loss gradient (backward's scale), summed over the two: exactly one process's.
  EXPECT_EQ(h.grad_norm, a.grad_norm);
  EXPECT_EQ(params_of(*shared), params_of(*plain));

  // Weight 1: twice the gradients, which the norm and clipping see.
  auto clipped = tiny_gpt();
  nn::Optimizer opt_clipped(sgd, clipped->params());
  TwoRanks doubled;
  doubled.weight = 1;
  StepResult c = train_step(*clipped, opt_clipped, b, 0.1, a.grad_norm / 2, &doubled);
  EXPECT_DOUBLE_EQ(c.grad_norm, 2 * a.grad_norm);
  const std::vector<float> pa = params_of(*plain), pc = params_of(*clipped);
  for (size_t i = 0; i < before.size(); ++i)  // to a few float ulps at |p| ~ 1
    EXPECT_NEAR(pc[i] - before[i], 0.5 * (pa[i] - before[i]), 4e-7) << i;
}

TEST(TrainStep, NonFiniteStopsBeforeTheUpdate) {
  nn::OptimConfig adamw;
  auto m = tiny_gpt();
  nn::Optimizer opt(adamw, m->params());
  const std::vector<float> before = params_of(*m);
  TwoRanks poisoned;
  poisoned.poison = true;
  StepResult r = train_step(*m, opt, tiny_batch(), 1e-3, 1.0, &poisoned);
  EXPECT_FALSE(r.stepped);
  EXPECT_TRUE(std::isnan(r.grad_norm));
  EXPECT_EQ(opt.steps(), 0);
  EXPECT_EQ(params_of(*m), before);
}

namespace {

// A (4, 6) LM batch whose rows count 6, 1, 2 and 5 targets (the rest kIgnoreIndex): micro-batches of
// rows {0} and {1, 2, 3} count 6 and 8, so averaging their mean losses would weigh them wrongly.
nn::Batch uneven_batch() {
  const int counted[4] = {6, 1, 2, 5};
  std::vector<int32_t> inp(4 * 6), tgt(4 * 6);  // (B, T)
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < 6; ++t) {
      inp[r * 6 + t] = (5 * r + 3 * t + 1) % 11;
      tgt[r * 6 + t] = t < counted[r] ? (7 * r + 3 * t + 4) % 11 : nn::kIgnoreIndex;
    }
  return nn::Batch::lm(4, 6, std::move(inp), std::move(tgt));
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

}  // namespace

// --accum: K micro-batches per optimizer step give the step of their union (issue 17: within 1e-6).
TEST(Accumulate, MicroBatchesStepAsTheirUnion) {
  const nn::Batch all = uneven_batch();
  for (const char* kind : {"sgd", "adamw"}) {
    nn::OptimConfig oc;
    oc.kind = kind;
    oc.momentum = 0;
    oc.weight_decay = 0;
    oc.eps = 1e-4;  // AdamW's g / (sqrt(v) + eps) turns float-order noise in near-zero gradients into steps of lr
    auto one = tiny_gpt(), acc = tiny_gpt(), naive = tiny_gpt();
    nn::Optimizer o1(oc, one->params()), o2(oc, acc->params()), o3(oc, naive->params());
    const double lr = oc.kind == "sgd" ? 0.5 : 1e-2;
    for (int step = 0; step < 3; ++step) {  // AdamW's moments carry over steps
      StepResult u = train_step(*one, o1, all, lr, 0.0);
      Accumulator a(*acc);
      a.add(all.rows(0, 1));
      a.add(all.rows(1, 4));
      StepResult k = a.step(o2, lr, 0.0);
      ASSERT_TRUE(u.stepped && k.stepped) << kind;
      EXPECT_EQ(k.stats.count, 14);
      EXPECT_EQ(u.stats.count, 14);
      EXPECT_NEAR(k.stats.loss_sum, u.stats.loss_sum, 1e-4);
      EXPECT_NEAR(k.grad_norm, u.grad_norm, 1e-6 * u.grad_norm);
      // The mistake this guards against: the mean of the two micro-batches' mean losses.
      naive->params().zero_grad();
      naive->forward(all.rows(0, 1), true);
      naive->backward(0.5f);
      naive->forward(all.rows(1, 4), true);
      naive->backward(0.5f);
      nn::clip_grad_norm(naive->params(), 0.0);
      o3.step(lr);
    }
    EXPECT_LE(max_diff(params_of(*acc), params_of(*one)), 1e-6) << kind;
    if (oc.kind == "sgd")  // (AdamW's first steps are nearly sign(g) * lr: scale-blind)
      EXPECT_GT(max_diff(params_of(*naive), params_of(*one)), 1e-4) << "the test could not tell them apart";
  }
}

// Data parallel: stats and gradients summed over processes once per step, stand-ins left out.
TEST(Accumulate, SumsOverProcessesOncePerStepAndSkipsStandIns) {
  nn::OptimConfig sgd;
  sgd.kind = "sgd";
  sgd.momentum = 0;
  auto plain = tiny_gpt(), shared = tiny_gpt();
  nn::Optimizer op(sgd, plain->params()), os(sgd, shared->params());
  const nn::Batch all = uneven_batch();
  Accumulator a(*plain);
  a.add(all.rows(0, 2));
  a.add(all.rows(2, 4));
  StepResult p = a.step(op, 0.1, 0.0);
  Accumulator b(*shared);
  b.add(all.rows(0, 2));
  b.add(all.rows(0, 1), false);  // a stand-in: forward only
  TwoRanks two;  // both "ranks" computed the same rows: sums double, the division by the doubled count undoes it
  b.add(all.rows(2, 4), true, &two);  // the last micro-batch: its backward may overlap the sum
  StepResult s = b.step(os, 0.1, 0.0, &two);
  EXPECT_EQ(two.stats_calls, 1);
  EXPECT_EQ(two.gradient_calls, 1);
  EXPECT_EQ(two.backward_calls, 1);
  EXPECT_GT(two.grads_when_backward_began, 0) << "after the first micro-batch's backward";
  EXPECT_EQ(s.stats.count, 2 * p.stats.count);
  EXPECT_LE(max_diff(params_of(*shared), params_of(*plain)), 1e-7);
  // A non-finite sum stops every process before the update.
  auto m = tiny_gpt();
  nn::Optimizer om(sgd, m->params());
  const std::vector<float> before = params_of(*m);
  Accumulator c(*m);
  c.add(all.rows(0, 2));
  TwoRanks poisoned;
  poisoned.poison = true;
  EXPECT_FALSE(c.step(om, 0.1, 0.0, &poisoned).stepped);
  EXPECT_EQ(params_of(*m), before);
}

TEST(RunSettings, DefaultsComeFromTheTable) {
  TrainOptions o;
  EXPECT_EQ(o.batch_size, 32);
  EXPECT_EQ(o.seed, 1u);
  EXPECT_EQ(o.clip, 1.0);
  EXPECT_EQ(o.output, "model.h5");
  EXPECT_EQ(o.lm_mode, "stream");
  EXPECT_EQ(o.augment, "none");
  EXPECT_TRUE(o.shuffle);
  EXPECT_EQ(o.optim.kind, "adamw");
  EXPECT_EQ(o.optim.eps, 1e-8);
  EXPECT_EQ(o.schedule.kind, "constant");
  EXPECT_EQ(o.steps, 0);
  EXPECT_EQ(o.accum, 1);
  EXPECT_FALSE(o.eval_only);
  // Flags are unique within every task; saved places are 1, 2, ... once each.
  std::set<int> places;
  for (nn::Task t : {nn::Task::language_model, nn::Task::seq2seq, nn::Task::classify}) {
    std::set<std::string> flags;
    for (const auto& s : run_settings())
      if (s.flag[0] && s.applies(t)) EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
  }
  for (const auto& s : run_settings())
    if (s.saved) EXPECT_TRUE(places.insert(s.saved).second) << s.key;
  EXPECT_EQ(*places.rbegin(), static_cast<int>(places.size()));
}

TEST(RunSettings, ResolvedByOptimizer) {
  TrainOptions a;
  resolve_settings(a);
  EXPECT_EQ(a.schedule.base_lr, 1e-3);
  EXPECT_EQ(a.optim.weight_decay, 0.01);
  TrainOptions s;
  s.optim.kind = "sgd";
  s.schedule.kind = "noam";
  s.augment = "erase=0.25,flip";
  resolve_settings(s);
  EXPECT_EQ(s.schedule.base_lr, 0.1);
  EXPECT_EQ(s.optim.weight_decay, 0.0);
  EXPECT_EQ(s.schedule.kind, "inv_sqrt");
  EXPECT_EQ(s.augment, "flip,erase=0.25");
  TrainOptions zero;
  zero.given = {"lr"};
  EXPECT_THROW(resolve_settings(zero), UsageError);  // --lr 0
  TrainOptions bad;
  bad.augment = "flop";
  EXPECT_THROW(resolve_settings(bad), UsageError);
  TrainOptions no_batches;
  no_batches.accum = 0;
  EXPECT_THROW(resolve_settings(no_batches), UsageError);
}

TEST(RunSettings, SavedInTheDocumentedOrderAndRestoredByResume) {
  TrainOptions o;
  o.task = "vit";
  o.context = 16;
  o.window_stride = 8;
  o.bucket = true;
  o.shuffle = false;
  o.batch_size = 7;
  o.steps = 50;
  o.seed = 9;
  o.schedule.base_lr = 0.25;
  o.schedule.kind = "cosine";
  o.schedule.warmup = 3;
  o.schedule.min_lr = 1e-5;
  o.clip = 0.5;
  o.val_fraction = 0.2;
  o.augment = "flip";
  o.optim.kind = "sgd";
  o.optim.momentum = 0.5;
  const nn::Config saved = saved_settings(o);
  // docs/FORMATS.md, /train_state: checkpoints keep this order, byte for byte.
  EXPECT_EQ(keys(saved), (std::vector<std::string>{"task", "lm_mode", "context", "window_stride", "max_src_len",
                                                   "max_tgt_len", "bucket", "shuffle", "batch_size", "total_steps",
                                                   "seed", "lr", "schedule", "warmup", "min_lr", "clip",
                                                   "val_fraction", "augment"}));
  EXPECT_EQ(nn::config_value_str(*saved.find("shuffle")), "0");
  EXPECT_EQ(nn::config_value_str(*saved.find("seed")), "9");
  o.task = "lm";
  EXPECT_FALSE(saved_settings(o).has("augment"));  // only the tasks having it save it
  o.task = "vit";
  TrainOptions with_accum = o;  // saved when not at its default (1)
  with_accum.accum = 4;
  EXPECT_EQ(keys(saved_settings(with_accum)).back(), "accum");

  // --resume with nothing given: every saved setting and the optimizer come back.
  TrainOptions r;
  r.task = "vit";
  r.epochs = 3;
  restore_settings(r, saved, o.optim);
  EXPECT_EQ(keys(saved_settings(r)), keys(saved));
  for (const auto& [k, v] : saved.items())
    EXPECT_EQ(nn::config_value_str(*saved_settings(r).find(k)), nn::config_value_str(v)) << k;
  EXPECT_EQ(r.epochs, 0);
  EXPECT_EQ(r.optim.kind, "sgd");
  EXPECT_EQ(r.optim.momentum, 0.5);

  // Given anew: those win (--epochs counts as total_steps, any optimizer flag as optim).
  TrainOptions g;
  g.task = "vit";
  g.batch_size = 64;
  g.epochs = 2;
  g.optim.beta1 = 0.8;
  g.given = {"batch_size", "total_steps", "optim"};
  restore_settings(g, saved, o.optim);
  EXPECT_EQ(g.batch_size, 64);
  EXPECT_EQ(g.steps, 0);
  EXPECT_EQ(g.epochs, 2);
  EXPECT_EQ(g.optim.kind, "adamw");
  EXPECT_EQ(g.optim.beta1, 0.8);
  EXPECT_EQ(g.seed, 9u);
  EXPECT_EQ(g.augment, "flip");
}
