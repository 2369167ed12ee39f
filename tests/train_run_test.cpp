// qkv-train run as a user runs it: determinism, SIGTERM, resume after
// SIGKILL, bad input, metrics / plot / eval-only outputs. Tiny models and a
// few hundred steps keep each test within seconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "io/h5.h"
#include "support/test_support.h"
#include "train_fixtures.h"

using namespace qkv;
using test::run;

namespace {

// A tiny rnn run on the reversal task (dropout on, so the dropout generator's
// state matters for exact resume).
std::string rnn_cmd(const test::TempDir& d, int steps, const std::string& out) {
  return "qkv-train --no-provenance --threads 1 rnn " + d.file("pairs.h5") + " --val " + d.file("val.h5") +
         " --steps " + std::to_string(steps) +
         " -b 16 --d-emb 16 --hidden 32 --dropout 0.2 --eval-every 100 --save-every 25"
         " --decode-limit 50 -o " + d.file(out);
}

void make_pairs(const test::TempDir& d) {
  test::write_reversal_pairs(d.file("pairs.h5"), 600, 1);
  test::write_reversal_pairs(d.file("val.h5"), 60, 2);
}

int64_t checkpoint_step(const std::string& path) {
  io::H5In in(path);
  return in.attr_int("/train_state", "step");
}

// "step/split" of every record of a metrics file, in order.
std::vector<std::string> metric_steps(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(test::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find("\"step\": "), b = line.find("\"split\": ");
    if (a == std::string::npos || b == std::string::npos) continue;
    out.push_back(line.substr(a + 8, line.find(',', a) - a - 8) + "/" + line.substr(b + 9, line.find(',', b) - b - 9));
  }
  return out;
}

std::vector<std::string> val_records(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(test::read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (line.find("\"split\": \"val\"") != std::string::npos) out.push_back(line);
  return out;
}

// Every parameter's bytes, in name order.
std::string all_params(const std::string& path) {
  io::H5In in(path);
  std::string out;
  for (const auto& n : in.list("params")) {
    Tensor t = in.read("params/" + n, DType::f32);
    out += n;
    out.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  return out;
}

bool no_temporary_files(const test::TempDir& d) {
  for (const auto& e : d.entries())
    if (e.find(".tmp.") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST(TrainRun, SameInputsGiveIdenticalCheckpoints) {
  test::TempDir d;
  make_pairs(d);
  auto a = run(rnn_cmd(d, 120, "a.h5") + " -q");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = run(rnn_cmd(d, 120, "b.h5") + " -q");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(test::read_file(d.file("a.h5")) == test::read_file(d.file("b.h5")));
  EXPECT_EQ(checkpoint_step(d.file("a.h5")), 120);
  // A different seed gives different parameters.
  auto c = run(rnn_cmd(d, 120, "c.h5") + " -q --seed 2");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_FALSE(test::read_file(d.file("a.h5")) == test::read_file(d.file("c.h5")));
}

TEST(TrainRun, SigtermSavesAndResumeMatchesUninterrupted) {
  test::TempDir d;
  make_pairs(d);
  const int steps = 1000;
  auto full = run(rnn_cmd(d, steps, "full.h5") + " -q --metrics " + d.file("full.jsonl"));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  // Stop it once its first checkpoint exists (so it is surely mid-run).
  auto t = run(rnn_cmd(d, steps, "part.h5") + " --metrics " + d.file("part.jsonl") + " & pid=$!; while [ ! -e " + d.file("part.h5") +
               " ]; do sleep 0.05; done; kill -TERM $pid; wait $pid; echo \"exit=$?\"");
  EXPECT_NE(t.out.find("exit=143"), std::string::npos) << t.out << t.err;  // saved, but not finished
  EXPECT_NE(t.err.find("stopped by SIGTERM"), std::string::npos) << t.err;
  int64_t stopped_at = checkpoint_step(d.file("part.h5"));
  EXPECT_GT(stopped_at, 0);
  EXPECT_LT(stopped_at, steps);
  EXPECT_TRUE(no_temporary_files(d));
  auto r = run(rnn_cmd(d, steps, "part.h5") + " --resume " + d.file("part.h5") + " -q --metrics " +
               d.file("part.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::read_file(d.file("full.h5")) == test::read_file(d.file("part.h5")));
  // The metrics file of the resumed run has each record once, as the uninterrupted run's
  // (records after the checkpoint's step were dropped before continuing); validations agree exactly.
  EXPECT_EQ(metric_steps(d.file("part.jsonl")), metric_steps(d.file("full.jsonl")));
  EXPECT_EQ(val_records(d.file("part.jsonl")), val_records(d.file("full.jsonl")));
}

// SIGUSR1: what SLURM sends ahead of the time limit (--signal=USR1@120).
TEST(TrainRun, Sigusr1SavesAndExits138) {
  test::TempDir d;
  make_pairs(d);
  const int steps = 1000;
  auto t = run(rnn_cmd(d, steps, "part.h5") + " & pid=$!; while [ ! -e " + d.file("part.h5") +
               " ]; do sleep 0.05; done; kill -USR1 $pid; wait $pid; echo \"exit=$?\"");
  EXPECT_NE(t.out.find("exit=138"), std::string::npos) << t.out << t.err;
  EXPECT_NE(t.err.find("stopped by SIGUSR1"), std::string::npos) << t.err;
  int64_t stopped_at = checkpoint_step(d.file("part.h5"));
  EXPECT_GT(stopped_at, 0);
  EXPECT_LT(stopped_at, steps);
  EXPECT_TRUE(no_temporary_files(d));
}

TEST(TrainRun, ResumeAfterSigkillMatchesUninterrupted) {
  test::TempDir d;
  make_pairs(d);
  const int steps = 1500;
  auto full = run(rnn_cmd(d, steps, "full.h5") + " -q");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  // Kill -9 as soon as a checkpoint past step 25 exists.
  auto k = run(rnn_cmd(d, steps, "part.h5") + " -q & pid=$!; while [ ! -e " + d.file("part.h5") +
               " ]; do sleep 0.02; done; sleep 0.3; kill -KILL $pid; wait $pid; echo \"exit=$?\"");
  int64_t at = checkpoint_step(d.file("part.h5"));
  ASSERT_GT(at, 0);
  if (at == steps) GTEST_SKIP() << "the run finished before the kill (machine too fast for this test)";
  EXPECT_NE(k.out.find("exit=137"), std::string::npos) << k.out << k.err;
  test::write_file(d.file("copy.h5"), test::read_file(d.file("part.h5")));
  auto r = run(rnn_cmd(d, steps, "part.h5") + " --resume " + d.file("part.h5") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::read_file(d.file("full.h5")) == test::read_file(d.file("part.h5")));
  // Resuming with no settings at all takes them from the checkpoint: the same parameters.
  auto m = run("qkv-train --no-provenance --threads 1 rnn " + d.file("pairs.h5") + " --resume " + d.file("copy.h5") +
               " -q -o " + d.file("copy.h5"));
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_TRUE(all_params(d.file("copy.h5")) == all_params(d.file("full.h5")));
  EXPECT_EQ(checkpoint_step(d.file("copy.h5")), steps);
}

// vit with --augment and dropout: the augmented images of a resumed run are
// those of the uninterrupted one, and the setting comes back from the checkpoint.
TEST(TrainRun, VitAugmentResumeAfterSigkillMatchesUninterrupted) {
  test::TempDir d;
  test::write_patches(d.file("p.h5"), 400, 9, 16, 4, 1, /*with_geometry=*/true);
  test::write_patches(d.file("v.h5"), 40, 9, 16, 4, 2, true);
  auto cmd = [&](const std::string& out, int steps = 1500, const std::string& augment = "flip,shift=2,erase=0.5") {
    return "qkv-train --no-provenance --threads 1 vit " + d.file("p.h5") + " --val " + d.file("v.h5") +
           " --layers 1 --heads 2 --d-model 16 --d-ff 32 --dropout 0.1 -b 16 --steps " + std::to_string(steps) +
           " --save-every 20 --eval-every 500 --augment " + augment + " -q -o " + d.file(out);
  };
  auto full = run(cmd("full.h5"));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  io::H5In f(d.file("full.h5"));
  EXPECT_EQ(f.attr_string("/train_state", "augment"), "flip,shift=2,erase=0.5");
  auto k = run(cmd("part.h5") + " & pid=$!; while [ ! -e " + d.file("part.h5") +
               " ]; do sleep 0.01; done; kill -KILL $pid; wait $pid; echo \"exit=$?\"");  // at its first checkpoint
  int64_t at = checkpoint_step(d.file("part.h5"));
  ASSERT_GT(at, 0);
  if (at == 1500) GTEST_SKIP() << "the run finished before the kill (machine too fast for this test)";
  // Resumed with no --augment: the checkpoint's setting is used.
  auto r = run("qkv-train --no-provenance --threads 1 vit " + d.file("p.h5") + " --val " + d.file("v.h5") +
               " --resume " + d.file("part.h5") + " -q -o " + d.file("part.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(all_params(d.file("part.h5")) == all_params(d.file("full.h5")));
  // Without augmentation the same run ends elsewhere.
  auto n = run(cmd("none.h5", 40, "none"));
  auto a = run(cmd("aug.h5", 40));
  ASSERT_EQ(n.exit_code, 0) << n.err;
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_FALSE(all_params(d.file("none.h5")) == all_params(d.file("aug.h5")));
  // A file without image geometry cannot be augmented.
  test::write_patches(d.file("bare.h5"), 40, 9, 16, 4, 3);
  auto b = run("qkv-train vit " + d.file("bare.h5") + " --steps 2 --augment flip -o " + d.file("b.h5"));
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_NE(b.err.find("bare.h5: --augment needs the image geometry"), std::string::npos) << b.err;
  auto u = run("qkv-train vit " + d.file("p.h5") + " --steps 2 --augment flop -o " + d.file("b.h5"));
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_NE(u.err.find("--augment: 'flop': unknown item"), std::string::npos) << u.err;
}

TEST(TrainRun, MetricsPlotAndEvalOnly) {
  test::TempDir d;
  make_pairs(d);
  auto a = run(rnn_cmd(d, 200, "m.h5") + " --metrics " + d.file("m.jsonl") + " --plot " + d.file("loss.png") +
               " --log-every 50");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::string m = test::read_file(d.file("m.jsonl"));
  EXPECT_NE(m.find("{\"step\": 50, "), std::string::npos) << m;
  EXPECT_NE(m.find("\"split\": \"val\""), std::string::npos);
  EXPECT_NE(m.find("\"wer\": "), std::string::npos);
  EXPECT_NE(m.find("\"tokens_per_s\": "), std::string::npos);
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 4 + 2);  // 4 train records, 2 validations
  EXPECT_GT(test::read_file(d.file("loss.png")).size(), 1000u);
  EXPECT_TRUE(test::exists(d.file("m.best.h5")));
  EXPECT_NE(a.err.find("validation: loss"), std::string::npos) << a.err;
  // eval-only: one JSON line on stdout, nothing written.
  auto e = run("qkv-train rnn " + d.file("pairs.h5") + " --val " + d.file("val.h5") + " --init " + d.file("m.h5") +
               " --eval-only -o " + d.file("never.h5"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(e.out.rfind("{\"split\": \"val\", \"loss\": ", 0), 0u) << e.out;
  EXPECT_NE(e.out.find("\"wer\": "), std::string::npos);
  EXPECT_FALSE(test::exists(d.file("never.h5")));
}

TEST(TrainRun, BadInputIsRefusedAndLosesNothing) {
  test::TempDir d;
  make_pairs(d);
  auto a = run(rnn_cmd(d, 30, "m.h5") + " -q");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const std::string before = test::read_file(d.file("m.h5"));

  // A vocabulary larger than the model's.
  test::write_reversal_pairs(d.file("big.h5"), 50, 3, 40);
  auto v = run("qkv-train rnn " + d.file("big.h5") + " --init " + d.file("m.h5") + " --steps 5 -o " + d.file("v.h5"));
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("big.h5 (/src): vocabulary of 40 tokens exceeds the 12 of the model's (rnn)"),
            std::string::npos)
      << v.err;
  EXPECT_FALSE(test::exists(d.file("v.h5")));

  // A checkpoint of another architecture.
  test::write_tokens(d.file("tok.h5"), {{1, 5, 6, 7, 8, 9, 10, 2}}, 12);
  auto r = run("qkv-train lm " + d.file("tok.h5") + " --resume " + d.file("m.h5") + " -o " + d.file("m.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("m.h5: is a 'rnn' checkpoint; qkv-train lm trains 'gpt' models"), std::string::npos) << r.err;

  // A model flag that contradicts the checkpoint.
  auto f = run(rnn_cmd(d, 40, "m.h5") + " --resume " + d.file("m.h5") + " --cell lstm");
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_NE(f.err.find("cell = lstm differs from the checkpoint's gru"), std::string::npos) << f.err;

  // A run that diverges stops with a clear message and keeps its last good checkpoint.
  auto n = run("qkv-train --no-provenance rnn " + d.file("pairs.h5") + " --init " + d.file("m.h5") +
               " --optimizer sgd --lr 1e30 --momentum 0 --clip 0 --steps 50 --save-every 1 -o " + d.file("n.h5"));
  EXPECT_EQ(n.exit_code, 1);
  EXPECT_NE(n.err.find("training stopped."), std::string::npos) << n.err;
  EXPECT_TRUE(n.err.find("NaN") != std::string::npos || n.err.find("non-finite") != std::string::npos ||
              n.err.find("infinite") != std::string::npos)
      << n.err;
  if (test::exists(d.file("n.h5"))) {
    EXPECT_NE(n.err.find("The last good checkpoint, step "), std::string::npos) << n.err;
    auto e = run("qkv-train rnn " + d.file("pairs.h5") + " --init " + d.file("n.h5") + " --eval-only");
    EXPECT_EQ(e.exit_code, 0) << e.err;
    // A finite loss (its perplexity may still overflow to null after a step of lr 1e30).
    EXPECT_EQ(e.out.find("\"loss\": null"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find("\"loss\": "), std::string::npos) << e.out;
  }
  EXPECT_TRUE(test::read_file(d.file("m.h5")) == before);

  // Usage errors.
  EXPECT_EQ(run("qkv-train rnn " + d.file("pairs.h5") + " --val-fraction 1.5").exit_code, 2);
  EXPECT_EQ(run("qkv-train rnn " + d.file("pairs.h5") + " --eval-only").exit_code, 2);
  EXPECT_EQ(run("qkv-train rnn " + d.file("pairs.h5") + " --set nonsense_key=3 --steps 1 -o " + d.file("x.h5")).exit_code, 2);
  EXPECT_TRUE(no_temporary_files(d));
}

TEST(TrainRun, VitLearnsAndRefusesPatchesOfAnotherShape) {
  test::TempDir d;
  test::write_patches(d.file("p.h5"), 400, 4, 6, 4, 1);
  test::write_patches(d.file("v.h5"), 80, 4, 6, 4, 2);
  auto a = run("qkv-train --threads 1 vit " + d.file("p.h5") + " --val " + d.file("v.h5") +
               " --layers 1 --heads 2 --d-model 16 --d-ff 32 -b 32 --steps 150 --lr 3e-3 -o " + d.file("vit.h5") +
               " --metrics " + d.file("m.jsonl"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find("accuracy"), std::string::npos);
  std::string m = test::read_file(d.file("m.jsonl"));
  size_t p = m.rfind("\"accuracy\": ");
  ASSERT_NE(p, std::string::npos) << m;
  EXPECT_GT(std::stod(m.substr(p + 12)), 0.9) << m;  // the lit patch gives the class away
  test::write_patches(d.file("other.h5"), 40, 4, 9, 4, 3);
  auto b = run("qkv-train vit " + d.file("other.h5") + " --init " + d.file("vit.h5") + " --steps 2 -o " +
               d.file("x.h5"));
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_NE(b.err.find("other.h5: patches of shape [4, 9] (patches x values) differ from the model's (vit) [4, 6]"),
            std::string::npos)
      << b.err;
  EXPECT_FALSE(test::exists(d.file("x.h5")));
}

TEST(TrainRun, LanguageModelWithHeldOutTail) {
  test::TempDir d;
  std::vector<int32_t> text;
  for (int i = 0; i < 3000; ++i) text.push_back(4 + (i * 7 + i / 5) % 9);
  test::write_tokens(d.file("t.h5"), {text}, 13);
  auto a = run("qkv-train --threads 1 lm " + d.file("t.h5") +
               " --val-fraction 0.1 --layers 1 --heads 2 --d-model 16 --context 16 -b 8 --steps 120 --lr 5e-3"
               " --metrics " + d.file("m.jsonl") + " -o " + d.file("lm.h5"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::string m = test::read_file(d.file("m.jsonl"));
  size_t p = m.rfind("\"perplexity\": ");
  ASSERT_NE(p, std::string::npos) << m;
  EXPECT_LT(std::stod(m.substr(p + 14)), 3.0) << m;  // a periodic sequence: far below the 9 of guessing
  // A context longer than the model's is refused.
  auto b = run("qkv-train lm " + d.file("t.h5") + " --init " + d.file("lm.h5") + " --context 64 --steps 1 -o " +
               d.file("x.h5"));
  EXPECT_EQ(b.exit_code, 2) << b.err;
  EXPECT_NE(b.err.find("--context 64 exceeds the model's maximum of 16"), std::string::npos) << b.err;
}
