// qkv-train's checkpoint policies for translation-style training (issue 17):
// --keep-last N keeps the last N periodic checkpoints named by step (for
// qkv-model average), --early-stopping N ends a run after N validations
// without a lower loss; both are recorded in checkpoints so --resume continues
// with them, and a run without them writes the same checkpoints as before.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/h5.h"
#include "support/test_support.h"
#include "train/trainer.h"
#include "train_fixtures.h"

using namespace qkv;
using test::run;

namespace {

std::string rnn(const test::TempDir& d, const std::string& flags, const std::string& out) {
  return "qkv-train --no-provenance --threads 1 rnn " + d.file("pairs.h5") + " --val " + d.file("val.h5") +
         " -b 16 --d-emb 8 --hidden 16 --dropout 0.1 --decode-final-only --decode-limit 10 " + flags + " -o " +
         d.file(out);
}

int64_t step_of(const std::string& path) { return test::train_state_int(path, "step"); }

}  // namespace

TEST(TrainCheckpoints, SteppedPathsAndPruning) {
  EXPECT_EQ(train::stepped_path("run/model.h5", 1200), "run/model-step1200.h5");
  EXPECT_EQ(train::stepped_path("m", 7), "m-step7");
  test::TempDir d;
  for (const char* f : {"m-step5.h5", "m-step40.h5", "m-step100.h5", "m-step7x.h5", "m-best.h5", "n-step1.h5"})
    test::write_file(d.file(f), "x");
  train::prune_stepped(d.file("m.h5"), 2);
  EXPECT_FALSE(std::filesystem::exists(d.file("m-step5.h5")));
  for (const char* f : {"m-step40.h5", "m-step100.h5", "m-step7x.h5", "m-best.h5", "n-step1.h5"})
    EXPECT_TRUE(std::filesystem::exists(d.file(f))) << f;
}

TEST(TrainCheckpoints, KeepLastKeepsTheNewestNamedByStep) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 200, 1);
  test::write_reversal_pairs(d.file("val.h5"), 20, 2);
  auto r = run(rnn(d, "--steps 50 --save-every 10 --keep-last 2 --eval-every 25", "m.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int s : {10, 20, 30}) EXPECT_FALSE(std::filesystem::exists(d.file("m-step" + std::to_string(s) + ".h5")));
  EXPECT_EQ(step_of(d.file("m-step40.h5")), 40);
  EXPECT_EQ(step_of(d.file("m-step50.h5")), 50);
  EXPECT_EQ(test::params_of(d.file("m-step50.h5")), test::params_of(d.file("m.h5")));
  EXPECT_NE(test::params_of(d.file("m-step40.h5")), test::params_of(d.file("m.h5")));
  // recorded: resuming from step 40 keeps on keeping
  EXPECT_EQ(io::H5In(d.file("m.h5")).attr_int("/train_state", "keep_last"), 2);

  // Without --keep-last nothing about it is recorded (checkpoints as before the flag existed).
  r = run(rnn(d, "--steps 5", "plain.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In plain(d.file("plain.h5"));
  EXPECT_FALSE(plain.has_attr("/train_state", "keep_last"));
  EXPECT_FALSE(plain.has_attr("/train_state", "early_stopping"));
  EXPECT_FALSE(plain.has_attr("/train_state", "validations_since_best"));
}

// A learning rate of 1e-12 leaves every parameter as it is (below float rounding), so the validation loss
// never gets lower after the first validation: with --early-stopping 2 and validations every 10 steps, the
// run ends at step 30 (best at 10; not lower at 20 and 30), and a resume from step 20 ends there too.
TEST(TrainCheckpoints, EarlyStoppingEndsTheRunAndResumesItsCount) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 200, 1);
  test::write_reversal_pairs(d.file("val.h5"), 20, 2);
  const std::string flags = "--steps 100 --lr 1e-12 --eval-every 10 --early-stopping 2 --save-every 10 --keep-last 5";
  auto r = run(rnn(d, flags, "m.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("early stopping at step 30: 2 validations without a better loss than "), std::string::npos) << r.err;
  EXPECT_EQ(step_of(d.file("m.h5")), 30);
  EXPECT_TRUE(std::filesystem::exists(d.file("m-step30.h5")));
  EXPECT_FALSE(std::filesystem::exists(d.file("m-step40.h5")));
  io::H5In at20(d.file("m-step20.h5"));
  EXPECT_EQ(at20.attr_int("/train_state", "validations_since_best"), 1);
  EXPECT_EQ(at20.attr_int("/train_state", "early_stopping"), 2);
  // --resume from step 20 (settings from the checkpoint): one more validation without improvement ends it at 30
  std::filesystem::copy_file(d.file("m-step20.h5"), d.file("r.h5"));
  r = run("qkv-train --no-provenance --threads 1 rnn " + d.file("pairs.h5") + " --val " + d.file("val.h5") +
          " --resume " + d.file("r.h5") + " -o " + d.file("r.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(step_of(d.file("r.h5")), 30);
  EXPECT_EQ(test::params_of(d.file("r.h5")), test::params_of(d.file("m.h5")));
}

TEST(TrainCheckpoints, BadFlagsRefusedUpFront) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("pairs.h5"), 50, 1);
  test::write_reversal_pairs(d.file("val.h5"), 10, 2);
  auto r = run(rnn(d, "--steps 5 --keep-last 3", "a.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--keep-last 3 keeps periodic checkpoints: give --save-every too"), std::string::npos) << r.err;
  r = run("qkv-train rnn " + d.file("pairs.h5") + " --steps 5 --early-stopping 2 -o " + d.file("b.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--early-stopping watches the validation loss"), std::string::npos) << r.err;
  r = run(rnn(d, "--steps 5 --keep-last -1", "c.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(d.file("a.h5")));
  EXPECT_FALSE(std::filesystem::exists(d.file("b.h5")));
}
