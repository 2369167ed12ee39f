// qkv-train under mpirun (runs one MPI job at a time: RESOURCE_LOCK mpi).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"
#include "train_fixtures.h"

namespace qkv {
namespace {

TEST(DistTrain, SeveralProcessesAreRefusedWithOneLine) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  test::TempDir d;
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 8; ++i) seqs.push_back({4, 5, 6, 7, 8, 9, 10, 11});
  test::write_tokens(d.file("tok.h5"), seqs, 12);
  test::RunResult r = test::run("timeout 300 " + test::mpirun(2) + test::bin("qkv-train") + " lm " + d.file("tok.h5") +
                                " --steps 2 -b 2 --layers 1 --d-model 8 --heads 2 -o " + d.file("m.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "qkv-train: error: started as one of 2 processes, but qkv-train does not split a run across "
                   "processes yet; run one process\n");
  EXPECT_FALSE(test::exists(d.file("m.h5")));
}

}  // namespace
}  // namespace qkv
