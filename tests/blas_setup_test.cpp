// The automatic choice of OpenBLAS kernels (blas/blas_setup.h), end to end:
// a tool run with OPENBLAS_CORETYPE unset ends up on a core at least as
// capable as cpuid allows; a user's OPENBLAS_CORETYPE always wins.
#include <gtest/gtest.h>

#include "blas/blas_setup.h"
#include "support/test_support.h"

using namespace qkv;

namespace {

std::string core_in_log(const std::string& err) {
  auto p = err.find("OpenBLAS core ");
  if (p == std::string::npos) return "";
  p += 14;
  auto e = err.find_first_of(" ,", p);
  return err.substr(p, e - p);
}
}  // namespace

TEST(BlasSetup, CoreRanks) {
  EXPECT_EQ(blas::core_rank("Prescott"), 1);
  EXPECT_EQ(blas::core_rank("SANDYBRIDGE"), 2);
  EXPECT_EQ(blas::core_rank("Haswell"), 3);
  EXPECT_EQ(blas::core_rank("Zen"), 3);
  EXPECT_EQ(blas::core_rank("SkylakeX"), 4);
  EXPECT_EQ(blas::core_rank("Cooperlake"), 4);
  EXPECT_EQ(blas::core_rank("Unknown"), 0);
  EXPECT_FALSE(blas::loaded_core().empty());
}

TEST(BlasSetup, ToolsGetTheBestKernelsWithNoUserAction) {
  std::string best = blas::best_core_for_cpu();
  if (best.empty()) GTEST_SKIP() << "CPU without AVX: OpenBLAS's own choice is already the best";
  auto r = test::run("env -u OPENBLAS_CORETYPE -u QKV_BLAS_REEXEC qkv-model -v archs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string core = core_in_log(r.err);
  EXPECT_GE(blas::core_rank(core), blas::core_rank(best)) << r.err;
}

TEST(BlasSetup, UsersCoreTypeWins) {
  auto r = test::run("OPENBLAS_CORETYPE=Prescott qkv-model -v archs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(core_in_log(r.err), "Prescott") << r.err;
  EXPECT_NE(r.err.find("set by the user"), std::string::npos) << r.err;
}

TEST(BlasSetup, WeakDetectedCoreIsUpgraded) {
  // The misdetection seen on these machines: AVX-512 CPU, OpenBLAS loads Prescott.
  EXPECT_EQ(blas::upgrade_for("Prescott", "SkylakeX"), "SkylakeX");
  EXPECT_EQ(blas::upgrade_for("Sandybridge", "Haswell"), "Haswell");
  EXPECT_EQ(blas::upgrade_for("Cooperlake", "SkylakeX"), "");  // already as good
  EXPECT_EQ(blas::upgrade_for("Haswell", "Haswell"), "");
  EXPECT_EQ(blas::upgrade_for("SomethingNew", "SkylakeX"), "");  // unknown: trust OpenBLAS
  EXPECT_EQ(blas::upgrade_for("Prescott", ""), "");              // no AVX on the CPU
}

TEST(BlasSetup, ThreadFlagReachesOpenBlas) {
  auto one = test::run("qkv-model -v --threads 1 archs");
  EXPECT_NE(one.err.find(", 1 threads"), std::string::npos) << one.err;
  auto two = test::run("qkv-model -v --threads 2 archs");
  EXPECT_NE(two.err.find(", 2 threads"), std::string::npos) << two.err;
}
