// qkv-train --accum K (issue 17): K batches per optimizer step train as one
// batch of their union (within 1e-6), --epochs and the schedule count
// optimizer steps, the setting is recorded so --resume continues it exactly,
// and --accum 0 is refused. (The step itself: tests/train_step_test.cpp,
// Accumulate.*; data parallel: tests/dist_train_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "io/h5.h"
#include "nn/checkpoint.h"
#include "support/test_support.h"
#include "train_fixtures.h"

using namespace qkv;
using test::run;

namespace {

std::string transformer(const test::TempDir& d, const std::string& flags, const std::string& out) {
  return "qkv-train --no-provenance --threads 1 -q seq2seq " + d.file("pairs.h5") +
         " --layers 1 --heads 2 --d-model 8 --d-ff 16 --optimizer sgd --lr 0.3 " + flags + " -o " + d.file(out);
}


}  // namespace

// In file order, batches of 4 taken 2 at a time are the batches of 8: the same 6 optimizer steps. Sources
// of 3-6 tokens: the two halves pad differently and count different numbers of targets.
TEST(TrainAccum, TwoBatchesPerStepTrainAsTheirUnion) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 48, 1);
  auto a = run(transformer(d, "--no-shuffle --dropout 0 -b 8 --steps 6", "union.h5"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = run(transformer(d, "--no-shuffle --dropout 0 -b 4 --accum 2 --steps 6", "accum.h5"));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto c = run(transformer(d, "--no-shuffle --dropout 0 -b 4 --steps 6", "plain.h5"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_LE(test::max_difference(d.file("union.h5"), d.file("accum.h5")), 1e-6);
  EXPECT_GT(test::max_difference(d.file("union.h5"), d.file("plain.h5")), 1e-3) << "the comparison could not fail";
  EXPECT_EQ(test::train_state_int(d.file("accum.h5"), "accum"), 2);
  EXPECT_EQ(test::train_state_int(d.file("accum.h5"), "step"), 6);
  EXPECT_EQ(test::train_state_int(d.file("accum.h5"), "epoch"), 1);  // 12 batches of 4 taken: the next step starts epoch 1
  EXPECT_FALSE(io::H5In(d.file("union.h5")).has_attr("/train_state", "accum"));  // as before the flag existed

  // --epochs counts batches: one epoch of 12 batches is 6 optimizer steps.
  auto e = run(transformer(d, "-b 4 --accum 2 --epochs 1", "epoch.h5"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(test::train_state_int(d.file("epoch.h5"), "step"), 6);
}

// 42 pairs in batches of 4: 11 batches an epoch, so step 5 takes the last batch of epoch 0 and the first
// of epoch 1. With dropout, shuffling and a cosine schedule, a resume from step 3 without --accum or
// --steps (both restored from the checkpoint) gives the bytes of the uninterrupted 8 steps.
TEST(TrainAccum, ResumeContinuesExactly) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 42, 1);
  const std::string flags = "--dropout 0.1 -b 4 --schedule cosine --warmup 2 --accum 2 --steps 8 ";
  auto a = run(transformer(d, flags, "whole.h5"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = run(transformer(d, flags + "--save-every 3 --keep-last 5", "part.h5"));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_EQ(test::train_state_int(d.file("part-step3.h5"), "step"), 3);
  auto c = run(transformer(d, "--resume " + d.file("part-step3.h5"), "resumed.h5"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(test::train_state_int(d.file("resumed.h5"), "step"), 8);
  EXPECT_EQ(test::max_difference(d.file("whole.h5"), d.file("resumed.h5")), 0.0);
  EXPECT_GT(test::max_difference(d.file("whole.h5"), d.file("part-step6.h5")), 0.0);
}

TEST(TrainAccum, ZeroIsRefused) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 8, 1);
  auto r = run(transformer(d, "--accum 0 --steps 2", "m.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--accum"), std::string::npos) << r.err;
  EXPECT_FALSE(test::exists(d.file("m.h5")));
}
