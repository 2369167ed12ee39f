// qkv-train under mpirun: N processes are one data-parallel run (runs one MPI
// job at a time: RESOURCE_LOCK mpi). Every rank's parameters are compared at
// every checkpoint by the trainer itself (a difference fails the run).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "support/test_support.h"
#include "train/metrics.h"
#include "train_fixtures.h"

namespace qkv {
namespace {

int lines(const std::string& path) {
  std::string s = test::read_file(path);
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// 41 training examples in batches of 5: each epoch ends with a batch of one,
// of which a second rank computes nothing (it stands in with row 0).
struct Task {
  std::string name, data;
};

std::vector<Task> tasks(const test::TempDir& d) {
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 42; ++i) seqs.push_back({4 + i % 7, 5 + i % 5, 6 + i % 3, 7, 8 + i % 4, 9, 10, 11 - i % 6, 4});
  test::write_tokens(d.file("tok.h5"), seqs, 12);
  test::write_reversal_pairs(d.file("pairs.h5"), 41, 1);
  test::write_reversal_pairs(d.file("val.h5"), 9, 2);
  test::write_patches(d.file("img.h5"), 41, 4, 4, 3, 5, true);
  const std::string small = " --layers 1 --heads 2 --d-model 8 --d-ff 16 --dropout 0.1 --label-smoothing 0.1";
  return {{"lm", d.file("tok.h5") + " --val-fraction 0.1 --context 8" + small},
          {"seq2seq", d.file("pairs.h5") + " --val " + d.file("val.h5") + small},
          {"rnn", d.file("pairs.h5") + " --val " + d.file("val.h5") + " --d-emb 8 --hidden 8 --dropout 0.1"},
          {"vit", d.file("img.h5") + " --val-fraction 0.2 --augment flip,erase=0.5" + small}};
}

// SGD: the sums over ranks differ from one process's in the order of float
// additions (~1e-7); AdamW divides by sqrt(v) + 1e-8 and so turns that noise
// in near-zero gradients into whole steps of size lr (measured: 1e-3 after 20
// steps of a vit with default --eps, 1e-7 with --eps 1e-3).
std::string train(const Task& t, int n, const std::string& more) {
  return "timeout 300 " + (n > 1 ? test::mpirun(n) : std::string()) + test::bin("qkv-train") +
         " --no-provenance --threads 1 -q " + t.name + " " + t.data +
         " -b 5 --seed 3 --eval-every 25 --optimizer sgd --lr 0.05 " + more;
}

TEST(DistTrain, EveryTaskOnTwoAndThreeRanksMatchesOneProcess) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  for (const Task& t : tasks(d)) {
    const std::string one = d.file(t.name + "-1.h5");
    auto r = test::run(train(t, 1, "--steps 50 --save-every 10 -o " + one + " --metrics " + d.file(t.name + "-1.jsonl")));
    ASSERT_EQ(r.exit_code, 0) << t.name << r.err;
    for (int n : {2, 3}) {
      const std::string out = d.file(t.name + "-" + std::to_string(n) + ".h5");
      const std::string metrics = d.file(t.name + "-" + std::to_string(n) + ".jsonl");
      auto p = test::run(train(t, n, "--steps 50 --save-every 10 -o " + out + " --metrics " + metrics));
      ASSERT_EQ(p.exit_code, 0) << t.name << " on " << n << " ranks: " << p.err;
      EXPECT_LE(test::max_difference(one, out), 1e-5) << t.name << " on " << n << " ranks";
      EXPECT_EQ(lines(metrics), lines(d.file(t.name + "-1.jsonl"))) << "rank 0 alone writes the metrics";
      EXPECT_EQ(p.out, "");
    }
  }
}

TEST(DistTrain, ResumedOnAnotherNumberOfRanks) {
  if (test::mpirun(3).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  const Task t = tasks(d)[0];  // lm with dropout; constant learning rate: 25 + 25 steps = 50 steps
  ASSERT_EQ(test::run(train(t, 1, "--steps 50 -o " + d.file("one.h5"))).exit_code, 0);
  auto a = test::run(train(t, 2, "--steps 25 -o " + d.file("half.h5")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = test::run(train(t, 3, "--steps 50 --resume " + d.file("half.h5") + " -o " + d.file("two.h5")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_LE(test::max_difference(d.file("one.h5"), d.file("two.h5")), 1e-5);
  // Evaluation is shared by the ranks too; rank 0 prints the one line.
  auto e = test::run(train(t, 2, "--init " + d.file("two.h5") + " --eval-only"));
  auto e1 = test::run(train(t, 1, "--init " + d.file("two.h5") + " --eval-only"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(std::count(e.out.begin(), e.out.end(), '\n'), 1) << e.out;
  train::MetricsLog::Record shared, alone;
  ASSERT_TRUE(train::MetricsLog::parse(e.out, shared)) << e.out;
  ASSERT_TRUE(train::MetricsLog::parse(e1.out, alone)) << e1.out;
  EXPECT_NEAR(train::MetricsLog::find(shared, "loss")->num, train::MetricsLog::find(alone, "loss")->num, 1e-5);
  EXPECT_EQ(train::MetricsLog::find(shared, "token_accuracy")->num, train::MetricsLog::find(alone, "token_accuracy")->num);
}

// --accum 2: each rank accumulates its share of both batches; the sums over ranks happen once per step. The
// epoch's last batch of one leaves the second rank a stand-in in one of its two micro-batches.
TEST(DistTrain, AccumulationOnTwoRanksMatchesOneProcess) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  const Task t = tasks(d)[1];  // seq2seq, dropout on
  auto a = test::run(train(t, 1, "--accum 2 --steps 20 -o " + d.file("one.h5")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = test::run(train(t, 2, "--accum 2 --steps 20 -o " + d.file("two.h5")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_LE(test::max_difference(d.file("one.h5"), d.file("two.h5")), 1e-5);
  auto c = test::run(train(t, 1, "--steps 20 -o " + d.file("plain.h5")));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_GT(test::max_difference(d.file("one.h5"), d.file("plain.h5")), 1e-4) << "the comparison could not fail";
}

// The validation lines of a metrics file: each line's `key` (-1 where absent).
std::vector<double> val_series(const std::string& path, const std::string& key) {
  std::vector<double> out;
  for (const auto& r : train::MetricsLog::read(path)) {
    const auto* split = train::MetricsLog::find(r, "split");
    if (!split || split->str != "val") continue;
    const auto* f = train::MetricsLog::find(r, key);
    out.push_back(f ? f->num : -1);
  }
  return out;
}

// --batch-tokens (batches of varying size, split across ranks as any batch) and a decoding validation metric
// (each rank decodes its share of the sources; BLEU's n-gram counts and chrF's totals are summed) on 2 ranks
// give one process's parameters and validation figures.
TEST(DistTrain, BatchTokensAndValidBleuOnTwoRanksMatchOneProcess) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  const Task t = tasks(d)[1];  // seq2seq, 9 validation pairs
  const std::string flags = "--batch-tokens 24 --steps 50 --valid-metric bleu --valid-beam 2 ";  // validations at 25, 50
  auto a = test::run(train(t, 1, flags + "-o " + d.file("one.h5") + " --metrics " + d.file("one.jsonl")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = test::run(train(t, 2, flags + "-o " + d.file("two.h5") + " --metrics " + d.file("two.jsonl")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_LE(test::max_difference(d.file("one.h5"), d.file("two.h5")), 1e-5);
  for (const char* key : {"bleu", "chrf", "wer", "loss"}) {
    const std::vector<double> one = val_series(d.file("one.jsonl"), key), two = val_series(d.file("two.jsonl"), key);
    ASSERT_EQ(one.size(), 2u) << key;
    ASSERT_EQ(two.size(), one.size()) << key;
    for (size_t i = 0; i < one.size(); ++i) {
      EXPECT_GT(one[i], 0) << key << " measured (nonzero, so the comparison means something)";
      EXPECT_NEAR(one[i], two[i], 1e-5) << key << " at validation " << i;
    }
  }
  // without the sums, rank 0's BLEU would be over its own half of the sources: check that it would differ
  auto half = test::run(train(t, 1, "--init " + d.file("one.h5") + " --eval-only --valid-metric bleu --valid-beam 2 --decode-limit 4"));
  ASSERT_EQ(half.exit_code, 0) << half.err;
  train::MetricsLog::Record h;
  ASSERT_TRUE(train::MetricsLog::parse(half.out, h)) << half.out;
  EXPECT_NE(train::MetricsLog::find(h, "bleu")->num, val_series(d.file("one.jsonl"), "bleu").back())
      << "the comparison could not fail";
}

// The gradients' sum overlapped with the backward (--grad-bucket 1: a bucket
// per layer, started as the backward finishes it) against one sum after the
// backward (--grad-bucket 0): the same bits, with shared and tied embeddings
// (their gradients are written last), with --accum 2 (only the last
// micro-batch's backward overlaps; the epoch's batch of one makes rank 1 a
// stand-in), and for gpt, vit and rnn.
TEST(DistTrain, OverlappedGradientSumGivesTheSameBitsAsOneSumAfterBackward) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  std::vector<Task> all = tasks(d);
  {  // one vocabulary for both sides: --share-embeddings
    std::vector<std::vector<int32_t>> src, tgt;
    for (int i = 0; i < 41; ++i) {
      src.push_back({4 + i % 7, 5 + i % 5, 6 + i % 3, 4 + i % 8});
      tgt.emplace_back(src.back().rbegin(), src.back().rend());
    }
    io::H5Out out(d.file("joint.h5"), "token_pairs");
    test::write_sequences(out, "src", src, 12, "joint");
    test::write_sequences(out, "tgt", tgt, 12, "joint");
    out.commit();
  }
  const std::string deep = " --layers 2 --heads 2 --d-model 8 --d-ff 16 --dropout 0.1";
  const std::vector<std::pair<Task, std::string>> runs = {
      {{"seq2seq", d.file("joint.h5") + deep + " --share-embeddings 1 --tie-embeddings 1"}, ""},
      {{"seq2seq", d.file("joint.h5") + deep + " --share-embeddings 1 --tie-embeddings 1"}, " --accum 2"},
      {{"lm", d.file("tok.h5") + " --val-fraction 0.1 --context 8" + deep}, ""},
      {all[2], " --layers 2 --tie-embeddings 1"},  // rnn
      {all[3], ""},                                // vit
  };
  for (const auto& [t, more] : runs) {
    SCOPED_TRACE(t.name + more);
    std::string out[2];
    for (int bucket : {0, 1}) {
      out[bucket] = d.file(t.name + "-bucket" + std::to_string(bucket) + ".h5");
      auto r = test::run(train(t, 2, "--steps 20" + more + " --grad-bucket " + std::to_string(bucket) + " -o " +
                                         out[bucket]));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EXPECT_EQ(test::params_of(out[0]), test::params_of(out[1]));
  }
}

// A run whose rank `victim` is SIGKILLed once its first checkpoint is out.
// Returns the script's stdout: "rc SECONDS" (mpirun's exit code, seconds from
// the kill to the end of every rank); mpirun's stderr goes to DIR/err.
std::string kill_rank_mid_run(const test::TempDir& d, const Task& t, int victim) {
  std::string run = train(t, 2, "--steps 1000000 --save-every 5 -o m.h5");
  run.replace(run.find(" -q -np "), 8, " -np ");  // keep OpenMPI's notice: it names the rank that died
  test::write_file(d.file("kill.sh"), "(" + run + " >out 2>err; echo $? >rc) &\n" + R"(
for i in $(seq 1200); do [ -s m.h5 ] && break; sleep 0.1; done
sleep 1
for p in $(pgrep -f "qkv-train.* -o m.h5"); do
  grep -qz "^OMPI_COMM_WORLD_RANK=$1\$" /proc/$p/environ 2>/dev/null && victim=$p
done
[ -n "$victim" ] || { echo no-rank; exit 1; }
start=$(date +%s%N); kill -9 $victim
for i in $(seq 1200); do [ -s rc ] && break; sleep 0.1; done
end=$(date +%s%N)
echo $(cat rc) $(( (end - start) / 1000000 ))
)");
  return test::run("cd " + d.path() + " && timeout 300 sh kill.sh " + std::to_string(victim)).out;
}

// A rank that dies ends the run: the other rank does not hang in its
// allreduce (mpirun ends it and names the rank that died), mpirun exits
// non-zero, the last checkpoint is intact and --resume continues from it.
TEST(DistTrain, KilledRankEndsEveryRankAndKeepsTheCheckpoint) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  for (int victim : {1, 0}) {
    test::TempDir d;
    const Task t = tasks(d)[1];  // seq2seq
    const std::string res = kill_rank_mid_run(d, t, victim);
    int rc = -1;
    long ms = -1;
    ASSERT_EQ(std::sscanf(res.c_str(), "%d %ld", &rc, &ms), 2) << "rank " << victim << ": " << res;
    EXPECT_NE(rc, 0) << "rank " << victim;
    // Within seconds (measured ~2 s; generous for a loaded machine).
    EXPECT_LT(ms, 60000) << "rank " << victim;
    std::printf("killed rank %d: every rank ended %ld ms later, mpirun exit %d\n", victim, ms, rc);
    const std::string err = test::read_file(d.file("err"));
    EXPECT_NE(err.find("rank " + std::to_string(victim)), std::string::npos) << err;
    EXPECT_NE(err.find("signal 9"), std::string::npos) << err;
    auto info = test::run(test::bin("qkv-model") + " info " + d.file("m.h5"));
    EXPECT_EQ(info.exit_code, 0) << "checkpoint after killing rank " << victim << ": " << info.err;
    const int64_t step = io::H5In(d.file("m.h5")).attr_int("/train_state", "step");
    EXPECT_GE(step, 5);
    auto more = test::run(train(t, 2, "--steps " + std::to_string(step + 3) + " --resume " + d.file("m.h5") + " -o " +
                                          d.file("m.h5")));
    EXPECT_EQ(more.exit_code, 0) << more.err;
    // A SIGKILLed rank 0 may leave its checkpoint's temporary; the next run removes it.
    EXPECT_EQ(test::run("ls " + d.path() + " | grep -c tmp").out, "0\n") << test::run("ls " + d.path()).out;
  }
}

TEST(DistTrain, BadInputEndsEveryRankWithOneLine) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  test::write_file(d.file("bad.h5"), "not hdf5");
  test::RunResult r = test::run("timeout 300 " + test::mpirun(2) + test::bin("qkv-train") + " lm " + d.file("bad.h5") +
                                " --steps 2 -b 2 --layers 1 --d-model 8 --heads 2 -o " + d.file("m.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("qkv-train: error: " + d.file("bad.h5")), std::string::npos) << r.err;
  EXPECT_FALSE(test::exists(d.file("m.h5")));
}

}  // namespace
}  // namespace qkv
