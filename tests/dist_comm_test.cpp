// libcore/dist: the launcher's environment, the fixed-order sum over ranks,
// the settings check and a failing rank. Suites named *Ranks run inside
// `mpirun -np N` (started by the DistComm tests below, which check that every
// rank passed); ctest does not run them directly (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cli/tool.h"
#include "core/error.h"
#include "dist/allreduce.h"
#include "dist/comm.h"
#include "dist/launch.h"
#include "support/test_support.h"

namespace qkv {
namespace {

dist::Launch launch_of(const std::map<std::string, std::string>& env) {
  return dist::launch_from_env([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistLaunch, ReadsOpenMpiPmiAndPmixVariables) {
  dist::Launch alone = launch_of({});
  EXPECT_EQ(alone.size, 1);
  EXPECT_EQ(alone.rank, 0);
  dist::Launch ompi = launch_of({{"OMPI_COMM_WORLD_SIZE", "3"}, {"OMPI_COMM_WORLD_RANK", "2"}});
  EXPECT_EQ(ompi.size, 3);
  EXPECT_EQ(ompi.rank, 2);
  EXPECT_EQ(ompi.source, "OMPI_COMM_WORLD_SIZE=3");
  dist::Launch pmi = launch_of({{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}});
  EXPECT_EQ(pmi.size, 2);
  EXPECT_EQ(pmi.rank, 1);
  // PMIx alone says only the rank; srun adds the step's task count.
  EXPECT_EQ(launch_of({{"PMIX_RANK", "0"}}).size, 1);
  EXPECT_EQ(launch_of({{"PMIX_RANK", "1"}}).size, 2);
  EXPECT_EQ(launch_of({{"PMIX_RANK", "0"}, {"SLURM_STEP_NUM_TASKS", "4"}}).size, 4);
  EXPECT_EQ(launch_of({{"OMPI_COMM_WORLD_SIZE", "x2"}}).size, 1);  // not a number: ignored
}

TEST(DistLaunch, BuildWithoutMpiRefusesSeveralProcesses) {
  dist::Launch two = launch_of({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "0"}});
  try {
    dist::check_launch(two, /*have_mpi=*/false);
    FAIL() << "a build without MPI accepted 2 processes";
  } catch (const UsageError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("one of 2 processes (OMPI_COMM_WORLD_SIZE=2)"), std::string::npos) << m;
    EXPECT_NE(m.find("built without MPI"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(dist::check_launch(two, true));
  EXPECT_NO_THROW(dist::check_launch(launch_of({}), false));
}

TEST(DistComm, AloneIsOneRankAndSumsAreIdentity) {
  if (dist::launch_from_env().size > 1) GTEST_SKIP() << "started under an MPI launcher";
  dist::Comm& c = dist::Comm::world();
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.rank(), 0);
  std::vector<float> x = {1.5f, -2.0f, 3.25f};  // (3)
  dist::SumAllreduce<float> r(c, x.data(), 3, {1, 3});
  r.start(1);
  r.progress();
  r.wait();
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(c.max(7), 7);
  EXPECT_NO_THROW(c.check_same("run settings", "anything"));
}

// Runs the *Ranks suites named by `filter` in n ranks; returns mpirun's result.
test::RunResult run_ranks(int n, const std::string& filter, const std::string& env = "") {
  // timeout: a rank stuck in a collective must fail the test, not hang ctest.
  return test::run(env + "timeout 300 " + test::mpirun(n) + "/proc/" + std::to_string(getpid()) + "/exe" +
                   " --gtest_color=no --gtest_filter='" + filter + "'");
}

int count(const std::string& s, const std::string& what) {
  int k = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++k;
  return k;
}

TEST(DistComm, RanksSuitesPassOn2And3Ranks) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  for (int n : {2, 3}) {
    test::RunResult r = run_ranks(n, "SumRanks.*:CheckRanks.*");
    EXPECT_EQ(r.exit_code, 0) << "np " << n << "\n" << r.out << r.err;
    // Every rank ran every test, none skipped (a rank alone would skip).
    EXPECT_EQ(count(r.out, "[  PASSED  ] 4 tests."), n) << "np " << n << "\n" << r.out << r.err;
    EXPECT_EQ(count(r.out, "SKIPPED"), 0) << r.out;
  }
}

TEST(DistComm, FailingRankEndsEveryRankWithOneLine) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  double t0 = static_cast<double>(std::time(nullptr));
  test::RunResult r = run_ranks(2, "FailRanks.*", "QKV_TEST_FAIL_RANK=1 ");
  double took = static_cast<double>(std::time(nullptr)) - t0;
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // rank 1's DataError; rank 0 was waiting in a barrier
  EXPECT_EQ(r.err, "qkv-fail: error: rank 1 could not read its data (rank 1 of 2)\n");
  EXPECT_LT(took, 60) << "the job should end within seconds";
  // The same failure on every rank: printed once, by rank 0.
  r = run_ranks(2, "FailRanks.*", "QKV_TEST_FAIL_RANK=all ");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err, "qkv-fail: error: rank 0 could not read its data\n");
}

// ---- Inside mpirun.

#define QKV_RANKS_OR_SKIP(c)          \
  dist::Comm& c = dist::Comm::world(); \
  if (c.size() == 1) GTEST_SKIP() << "runs inside mpirun, started by DistComm tests"

// Rank r's value at i: magnitudes spread over 2^-20..2^20 so that the order of
// the sum changes its bits.
template <typename T>
T value(int r, int64_t i) {
  uint64_t h = (static_cast<uint64_t>(r) * 0x9e3779b97f4a7c15ULL) ^ (static_cast<uint64_t>(i) * 0xbf58476d1ce4e5b9ULL);
  h ^= h >> 31;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 29;
  double mant = static_cast<double>(h % 1000003) / 1000003.0 - 0.5;
  int exp = static_cast<int>((h >> 20) % 41) - 20;
  return static_cast<T>(std::ldexp(mant, exp));
}

template <typename T>
void check_rank_order_sum() {
  dist::Comm& c = dist::Comm::world();
  const int N = c.size();
  // Buckets of very different sizes, one smaller than the rank count.
  const std::vector<int64_t> ends = {1, 1000, 1002, 70001};
  const int64_t n = ends.back();
  std::vector<T> x(n);  // (n)
  dist::SumAllreduce<T> r(c, x.data(), n, ends);
  for (int round = 0; round < 3; ++round) {  // the persistent buffer serves every round
    for (int64_t i = 0; i < n; ++i) x[i] = value<T>(c.rank(), i + round);
    // Started last bucket first, as backward produces gradients.
    for (int b = r.buckets() - 1; b >= 1; --b) {
      r.start(b);
      r.progress();
    }
    r.wait();  // starts bucket 0
    int64_t wrong = 0, order_matters = 0;
    for (int64_t i = 0; i < n; ++i) {
      T fold = value<T>(0, i + round), reverse = value<T>(N - 1, i + round);
      for (int k = 1; k < N; ++k) fold += value<T>(k, i + round);
      for (int k = N - 2; k >= 0; --k) reverse += value<T>(k, i + round);
      if (std::memcmp(&x[i], &fold, sizeof(T)) != 0) ++wrong;
      if (fold != reverse) ++order_matters;
    }
    EXPECT_EQ(wrong, 0) << "rank " << c.rank() << " round " << round;
    // With 3 ranks the values are such that another order gives other bits
    // (with 2, a + b == b + a): the test tells the orders apart.
    if (N >= 3) EXPECT_GT(order_matters, 100);
  }
}

TEST(SumRanks, FloatIsTheRankOrderFoldBitwiseOnEveryRank) {
  QKV_RANKS_OR_SKIP(c);
  check_rank_order_sum<float>();
}

TEST(SumRanks, DoubleIsTheRankOrderFoldBitwiseOnEveryRank) {
  QKV_RANKS_OR_SKIP(c);
  check_rank_order_sum<double>();
  double stats[3] = {1.0 * c.rank(), 2.0, 0.5};  // (3)
  dist::sum_over_ranks(c, stats, 3);
  EXPECT_EQ(stats[0], c.size() * (c.size() - 1) / 2.0);
  EXPECT_EQ(stats[1], 2.0 * c.size());
}

TEST(CheckRanks, SameSettingsPassDifferentOnesNameTheFirstRank) {
  QKV_RANKS_OR_SKIP(c);
  EXPECT_NO_THROW(c.check_same("run settings", "lr=0.001 batch=32"));
  std::string mine = c.rank() == c.size() - 1 ? "lr=0.002 batch=32" : "lr=0.001 batch=32";
  try {
    c.check_same("run settings", mine);
    ADD_FAILURE() << "rank " << c.rank() << " accepted different settings";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "run settings differ between ranks: rank " + std::to_string(c.size() - 1) +
                  " was started with other settings than rank 0 (start every rank with the same command line)");
  }
}

TEST(CheckRanks, MaxIsTheLargestOfEveryRank) {
  QKV_RANKS_OR_SKIP(c);
  EXPECT_EQ(c.max(c.rank() * 10), (c.size() - 1) * 10);
}

// A tool whose body fails on one rank (QKV_TEST_FAIL_RANK=1) or on all (=all)
// while the others wait in a collective.
TEST(FailRanks, ToolFailsOnOneRank) {
  QKV_RANKS_OR_SKIP(c);
  const char* which = std::getenv("QKV_TEST_FAIL_RANK");
  ASSERT_NE(which, nullptr);
  bool fails = std::string(which) == "all" || std::to_string(c.rank()) == which;
  cli::Tool tool("qkv-fail", "fails on a rank");
  char name[] = "qkv-fail";
  char* argv[] = {name, nullptr};
  tool.run(1, argv, [&] {
    if (fails) throw DataError("rank " + std::to_string(c.rank()) + " could not read its data");
    c.barrier();  // never returns: the failing rank ends the job
  });
  ADD_FAILURE() << "rank " << c.rank() << " went on after a rank failed";
}

}  // namespace
}  // namespace qkv
