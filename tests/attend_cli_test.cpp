// qkv-attend as a user runs it: sdpa on files against PyTorch's answers, and
// bad input (one clear line, exit 1 or 2, no output file).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/h5.h"
#include "support/bad_input.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using qkv::test::run;

namespace {
const std::string kRef = test::source_path("tests/ref/attend.h5");
std::string in_ref(const std::string& name) { return kRef + ":" + name; }
}  // namespace

TEST(AttendCli, SdpaMultiheadMatchesTorch) {
  test::TempDir tmp;
  const std::string g = "sdpa_mha_cross_pad";
  auto r = run("qkv-attend sdpa --q " + in_ref(g + "/q") + " --k " + in_ref(g + "/k") + " --v " + in_ref(g + "/v") +
               " --key-padding-mask " + in_ref(g + "/key_padding_mask") + " --heads 4 --proj " + in_ref(g + "/param") +
               " -o " + tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In out(tmp.file("att.h5")), want(kRef);
  EXPECT_EQ(out.kind(), "attention_sdpa");
  for (const char* n : {"out", "weights"}) {
    Tensor a = out.read(n, DType::f32), b = want.read(g + "/" + n, DType::f32);
    ASSERT_EQ(a.shape(), b.shape()) << n;
    EXPECT_LE(ops::rel_error(a, b), 1e-5) << n;
  }
}

TEST(AttendCli, SdpaSelfAttentionFromOneFile) {
  test::TempDir tmp;
  const std::string g = "sdpa_self_causal_pad";
  {  // q = k = v: one file holding one dataset
    io::H5Out x(tmp.file("x.h5"), "tensor");
    x.write("x", io::H5In(kRef).read(g + "/q", DType::f32));
    x.commit();
  }
  const std::string x = tmp.file("x.h5");
  auto r = run("qkv-attend sdpa --q " + x + " --k " + x + " --v " + x + " --causal --heads 3 --key-padding-mask " +
               in_ref(g + "/key_padding_mask") + " -o " + tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In out(tmp.file("att.h5")), want(kRef);
  EXPECT_LE(ops::rel_error(out.read("weights", DType::f32), want.read(g + "/weights", DType::f32)), 1e-5);
  EXPECT_LE(ops::rel_error(out.read("out", DType::f32), want.read(g + "/out", DType::f32)), 1e-5);
}


TEST(AttendCli, BadInputOneLineNoOutput) {
  test::TempDir tmp;
  // q (2, 3, 10), k and v (2, 7, 10)
  const std::string x = in_ref("sdpa_cross/q"), k = in_ref("sdpa_cross/k"), v = in_ref("sdpa_cross/v");
  const std::vector<test::BadCase> cases = {
      {"sdpa --q " + x + " --k " + x + " --v " + k, 1, "length differs"},
      {"sdpa --q " + x + " --k " + in_ref("sdpa_self_causal_pad/k") + " --v " + v, 1, "key size differs"},
      {"sdpa --q " + x + " --k " + k + " --v " + v + " --heads 3", 2, "--heads 3 does not divide the size 10"},
      {"sdpa --q " + kRef + " --k " + k + " --v " + v, 1, "name one as"},
      {"sdpa --q " + in_ref("sdpa_cross/nothing") + " --k " + k + " --v " + v, 1, "no dataset sdpa_cross/nothing"},
      {"sdpa --q " + x + " --k " + k + " --v " + v + " --key-padding-mask " +
           in_ref("sdpa_self_causal_pad/key_padding_mask"),
       1, "expected [2, 7]"},
      {"sdpa --q " + x + " --k " + k + " --v " + v + " --heads 2 --proj " + in_ref("sdpa_mha_cross_pad/param"), 1,
       "for embedding size 10"},
      {"sdpa --q " + tmp.file("missing.h5") + " --k " + k + " --v " + v, 1, "missing.h5"},
  };
  test::expect_refused("qkv-attend", cases, tmp);
}
