// qkv-inspect run as a user would: files and pipes, text and JSON, h5py files,
// and the shared CLI conventions (exit codes, one-line errors, --help, --version).
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"

using qkv::test::run;

namespace {
const std::string kSample = qkv::test::source_path("tests/data/h5py_sample.h5");

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST(InspectCli, TreeWithShapesDtypesStatsAndAttributes) {
  auto r = run("qkv-inspect " + kSample);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("float64_matrix  float64 [3, 4]  min 0 max 1.375 mean 0.6875"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("int16_vector  int16 [3]  min -300 max 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with_nan  float32 [4]  min -2 max 1 mean -0.5 std 1.5  nan 1 inf 1"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("@title = \"made by h5py\""), std::string::npos);
  EXPECT_NE(r.out.find("@answer = 42"), std::string::npos);
  EXPECT_NE(r.out.find("compressed  float32 [1000]"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(InspectCli, HeadAndStdinPipe) {
  auto r = run("cat " + kSample + " | qkv-inspect --head 3 -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stdin: 12448 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("head: 0 0.125 0.25"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("head: \"alpha\" \"βeta\" \"\""), std::string::npos) << r.out;
}

TEST(InspectCli, JsonIsValidAndTyped) {
  qkv::test::TempDir d;
  auto r = run("qkv-inspect --json --head 2 " + kSample + " > " + d.file("o.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Validate with Python's json module (part of any python3).
  auto v = run("python3 -c \"import json,sys; d=json.load(open('" + d.file("o.json") +
               "')); o={x['path']:x for x in d['objects']}; "
               "assert o['/group']['attrs']['answer']==42; assert o['/']['attrs']['title']=='made by h5py'; "
               "assert o['/float64_matrix']['shape']==[3,4]; assert o['/with_nan']['stats']['nan']==1; "
               "assert o['/float64_matrix']['head']==[0,0.125]; print('ok')\"");
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_EQ(v.out, "ok\n");
}

TEST(InspectCli, BadInputIsOneLineAndExitOne) {
  qkv::test::TempDir d;
  qkv::test::write_file(d.file("text.h5"), "hello\n");
  std::string full = qkv::test::read_file(kSample);
  qkv::test::write_file(d.file("trunc.h5"), full.substr(0, full.size() / 3));
  qkv::test::write_file(d.file("empty.h5"), "");
  struct Case { std::string file, expect; } cases[] = {
      {d.file("text.h5"), "text.h5: not an HDF5 file"},
      {d.file("trunc.h5"), "trunc.h5: corrupt or truncated HDF5 file"},
      {d.file("empty.h5"), "empty.h5: empty file, expected HDF5"},
      {d.file("missing.h5"), "missing.h5: cannot open: No such file or directory"},
      {d.path(), ": is a directory"},
  };
  for (auto& c : cases) {
    auto r = run("qkv-inspect " + c.file);
    EXPECT_EQ(r.exit_code, 1) << c.file;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("qkv-inspect: error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("HDF5-DIAG"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

TEST(InspectCli, UsageErrorsExitTwo) {
  auto r = run("qkv-inspect");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("file is required"), std::string::npos) << r.err;
  r = run("qkv-inspect --no-such-flag " + kSample);
  EXPECT_EQ(r.exit_code, 2);
  r = run("qkv-inspect --threads -3 " + kSample);
  EXPECT_EQ(r.exit_code, 2);
}

TEST(InspectCli, HelpShowsExamplesAndVersionWorks) {
  auto r = run("qkv-inspect --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--threads"), std::string::npos);
  EXPECT_NE(r.out.find("--no-provenance"), std::string::npos);
  r = run("qkv-inspect --version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("qkv-inspect (qkv) "), std::string::npos) << r.out;
}

TEST(InspectCli, VerboseLogsGoToStderrOnly) {
  auto r = run("qkv-inspect -v " + kSample);
  ASSERT_EQ(r.exit_code, 0);
  // qkv-inspect loads no BLAS (libqkvbase only): -v logs the thread count.
  EXPECT_NE(r.err.find("threads (no BLAS loaded)"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("no BLAS loaded"), std::string::npos);
  auto q = run("qkv-inspect -q -v " + kSample);
  EXPECT_EQ(q.err.find("no BLAS loaded"), std::string::npos);
}

TEST(InspectCli, CorruptHeaderCannotMakeItAllocate) {
  qkv::test::TempDir d;
  // Build a file claiming a 4 TiB dataset with python's h5py (a user-made file).
  auto mk = run("/usr/bin/python3 -c \"import h5py; f=h5py.File('" + d.file("big.h5") +
                "','w'); f.create_dataset('huge', shape=(1<<20,1<<20), dtype='f4')\"");
  if (mk.exit_code != 0) GTEST_SKIP() << "Debian python3-h5py not available: " << mk.err;
  // At most 4 GB: an address-space limit, or under AddressSanitizer (which
  // reserves terabytes of address space for its shadow memory, so a ulimit -v
  // stops it from starting) its own cap on any one allocation.
#if defined(__SANITIZE_ADDRESS__)
  const std::string cap = "ASAN_OPTIONS=\"$ASAN_OPTIONS:max_allocation_size_mb=4000:allocator_may_return_null=0\" ";
#else
  const std::string cap = "ulimit -v 4000000; ";
#endif
  auto r = run(cap + "qkv-inspect " + d.file("big.h5"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("big.h5: dataset /huge: shape [1048576, 1048576] is larger than the file can hold"),
            std::string::npos)
      << r.err;
}
