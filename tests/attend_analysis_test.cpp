// libcore/attend against tests/ref/attend.h5 (scripts/ref/make_attend_refs.py:
// numpy for rollout and head statistics, networkx for attention flow, PyTorch
// for sdpa and nn.MultiheadAttention), plus hand-checked cases.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "attend/flow.h"
#include "attend/head_stats.h"
#include "attend/rollout.h"
#include "attend/sdpa.h"
#include "core/error.h"
#include "io/h5.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using namespace qkv::attend;

namespace {

io::H5In& ref_file() {
  static io::H5In in(test::source_path("tests/ref/attend.h5"));
  return in;
}
Tensor ref(const std::string& group, const std::string& name, DType dt = DType::f32) {
  return ref_file().read(group + "/" + name, dt);
}

void expect_close(const float* ours, const Tensor& want, const std::string& what, double tol = 1e-5) {
  EXPECT_LE(ops::rel_error(ours, want.data<float>(), want.numel()), tol) << what;
}

}  // namespace

class AttendRollout : public ::testing::TestWithParam<const char*> {};
TEST_P(AttendRollout, MatchesNumpy) {
  const std::string g = GetParam();
  Tensor att = ref(g, "att"), want = ref(g, "rollout");  // (L, H, T, T), (T, T)
  RolloutOptions opt;
  opt.fusion = parse_fusion(ref_file().attr_string(g, "fusion"));
  opt.discard_ratio = static_cast<float>(ref_file().attr_double(g, "discard_ratio"));
  std::vector<float> out(want.numel());  // (T, T)
  rollout(out.data(), att.data<float>(), att.dim(0), att.dim(1), att.dim(2), opt);
  expect_close(out.data(), want, g);
}
INSTANTIATE_TEST_SUITE_P(Cases, AttendRollout,
                         ::testing::Values("rollout_mean", "rollout_causal_max", "rollout_min_discard",
                                           "rollout_mean_discard"));

TEST(AttendRollout, OneLayerOneHeadIsTheResidualAverage) {
  // att = [[1, 0], [0.5, 0.5]] -> rownorm(0.5 (A + I)) = [[1, 0], [0.25, 0.75]]
  const std::vector<float> att = {1, 0, 0.5f, 0.5f};
  std::vector<float> out(4);
  rollout(out.data(), att.data(), 1, 1, 2, {});
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  EXPECT_FLOAT_EQ(out[2], 0.25f);
  EXPECT_FLOAT_EQ(out[3], 0.75f);
}

TEST(AttendRollout, BadOptionsAreUsageErrors) {
  std::vector<float> att(4, 0.5f), out(4);
  RolloutOptions opt;
  opt.discard_ratio = 1.0f;
  EXPECT_THROW(rollout(out.data(), att.data(), 1, 1, 2, opt), UsageError);
  EXPECT_THROW(parse_fusion("median"), UsageError);
}

class AttendFlow : public ::testing::TestWithParam<const char*> {};
TEST_P(AttendFlow, MatchesNetworkx) {
  const std::string g = GetParam();
  Tensor att = ref(g, "att"), want = ref(g, "flow");
  std::vector<float> out(want.numel());
  flow(out.data(), att.data<float>(), att.dim(0), att.dim(1), att.dim(2), {});
  expect_close(out.data(), want, g);
}
INSTANTIATE_TEST_SUITE_P(Cases, AttendFlow, ::testing::Values("flow_small", "flow_causal"));

TEST(AttendFlow, OneLayerFlowIsTheResidualMatrix) {
  // One layer: the only path from i to j is the edge (i, j), so flow = Ahat.
  const std::vector<float> att = {0.2f, 0.8f, 0.6f, 0.4f};
  std::vector<float> out(4), ahat(4);
  flow(out.data(), att.data(), 1, 1, 2, {});
  residual_matrices(ahat.data(), att.data(), 1, 1, 2, {});
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], ahat[i], 1e-6) << i;
  EXPECT_NEAR(ahat[0], 0.6f, 1e-6);  // (0.2 + 1) / 2
}

TEST(AttendFlow, RefusesTooLargeWithTheSizes) {
  EXPECT_NO_THROW(check_flow_size(4, 64, "example 0"));
  try {
    check_flow_size(12, 512, "example 7");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("example 7 has 512 tokens over 12 layers"), std::string::npos) << m;
  }
}

class AttendHeadStats : public ::testing::TestWithParam<const char*> {};
TEST_P(AttendHeadStats, MatchesNumpy) {
  const std::string g = GetParam();
  Tensor att = ref(g, "att"), want = ref(g, "stats");  // (H, Tq, Tk), (H, kNumHeadStats)
  HeadStatsInput in;
  in.aligned = ref_file().attr_int(g, "aligned") != 0;
  Tensor special;
  if (ref_file().has(g + "/special")) {
    special = ref(g, "special", DType::u8);
    in.special = special.data<uint8_t>();
  }
  PatchGrid grid;
  if (ref_file().has_attr(g, "grid_rows")) {
    auto a = [&](const char* n) { return ref_file().attr_int(g, std::string("grid_") + n); };
    grid = {a("first_patch"), a("rows"), a("cols"), a("patch_h"), a("patch_w"), a("stride_h"), a("stride_w")};
    in.grid = &grid;
  }
  const int64_t H = att.dim(0);
  std::vector<float> out(H * kNumHeadStats);
  head_stats(out.data(), att.data<float>(), H, att.dim(1), att.dim(2), in);
  for (int64_t i = 0; i < H * kNumHeadStats; ++i) {
    const float w = want.data<float>()[i];
    const std::string what = g + " head " + std::to_string(i / kNumHeadStats) + " " + head_stat_name(i % kNumHeadStats);
    if (std::isnan(w))
      EXPECT_TRUE(std::isnan(out[i])) << what << ": " << out[i];
    else
      EXPECT_NEAR(out[i], w, 1e-5 * std::max(1.0f, std::fabs(w))) << what;
  }
}
INSTANTIATE_TEST_SUITE_P(Cases, AttendHeadStats, ::testing::Values("stats_self", "stats_cross", "stats_vit"));

TEST(AttendHeadStats, HandCheckedMonotoneCrossAttention) {
  // 4 outputs over 3 source tokens; head 0 moves left to right (0, 1, 1, 2),
  // head 1 goes back once (0, 2, 1, 2); a tie takes the first maximum.
  const int64_t Tq = 4, Tk = 3;
  std::vector<float> att(2 * Tq * Tk, 0.0f);
  const int64_t args[2][Tq] = {{0, 1, 1, 2}, {0, 2, 1, 2}};
  for (int h = 0; h < 2; ++h)
    for (int64_t i = 0; i < Tq; ++i) att[(h * Tq + i) * Tk + args[h][i]] = 1;
  att[(0 * Tq + 2) * Tk + 2] = 1;  // head 0 row 2: keys 1 and 2 tie, argmax 1
  std::vector<float> s(2 * kNumHeadStats);
  HeadStatsInput cross;
  cross.aligned = false;
  head_stats(s.data(), att.data(), 2, Tq, Tk, cross);
  EXPECT_NEAR(s[kMonotone], 1.0, 1e-7);
  EXPECT_NEAR(s[kNumHeadStats + kMonotone], 2.0 / 3.0, 1e-7);  // 0->2 yes, 2->1 no, 1->2 yes
  std::vector<float> self(kNumHeadStats);
  head_stats(self.data(), att.data(), 1, 3, 3, {});
  EXPECT_TRUE(std::isnan(self[kMonotone])) << "self-attention has no monotone statistic";
}

TEST(AttendHeadStats, HandCheckedPreviousTokenHead) {
  // Every query attends fully to the previous token (the first to itself).
  const int64_t T = 4;
  std::vector<float> att(T * T, 0.0f);
  att[0] = 1;
  for (int64_t i = 1; i < T; ++i) att[i * T + i - 1] = 1;
  std::vector<float> s(kNumHeadStats);
  head_stats(s.data(), att.data(), 1, T, T, {});
  EXPECT_NEAR(s[kEntropy], 0.0, 1e-7);
  EXPECT_NEAR(s[kConfidence], 1.0, 1e-7);
  EXPECT_NEAR(s[kDistance], 0.75, 1e-7);  // (0 + 1 + 1 + 1) / 4
  EXPECT_NEAR(s[kPrev], 1.0, 1e-7);       // rows 1..3
  EXPECT_NEAR(s[kNext], 0.0, 1e-7);
  EXPECT_NEAR(s[kFirst], 0.5, 1e-7);  // rows 0 and 1 put all on token 0
  EXPECT_TRUE(std::isnan(s[kSpecial]));
  EXPECT_TRUE(std::isnan(s[kDistancePx]));
}

class AttendSdpa : public ::testing::TestWithParam<const char*> {};
TEST_P(AttendSdpa, MatchesTorch) {
  const std::string g = GetParam();
  Tensor q = ref(g, "q"), k = ref(g, "k"), v = ref(g, "v"), mask;
  if (ref_file().has(g + "/key_padding_mask")) mask = ref(g, "key_padding_mask", DType::u8);
  SdpaWeights w;
  const bool proj = ref_file().has(g + "/param");
  if (proj) {
    w.in_proj_weight = ref(g, "param/in_proj_weight");
    w.in_proj_bias = ref(g, "param/in_proj_bias");
    w.out_proj_weight = ref(g, "param/out_proj.weight");
    w.out_proj_bias = ref(g, "param/out_proj.bias");
  }
  SdpaResult r = sdpa(q, k, v, mask.defined() ? &mask : nullptr, proj ? &w : nullptr,
                      ref_file().attr_int(g, "n_head"), ref_file().attr_int(g, "causal") != 0);
  Tensor want_w = ref(g, "weights"), want_out = ref(g, "out");
  ASSERT_EQ(r.weights.shape(), want_w.shape());
  ASSERT_EQ(r.out.shape(), want_out.shape());
  expect_close(r.weights.data<float>(), want_w, g + " weights");
  expect_close(r.out.data<float>(), want_out, g + " out");
  if (mask.defined()) {  // padded keys exactly 0
    const int64_t B = r.weights.dim(0), H = r.weights.dim(1), Tq = r.weights.dim(2), Tk = r.weights.dim(3);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < Tk; ++j)
        if (mask.data<uint8_t>()[b * Tk + j])
          for (int64_t e = 0; e < H * Tq; ++e) EXPECT_EQ(r.weights.data<float>()[(b * H * Tq + e) * Tk + j], 0.0f);
  }
}
INSTANTIATE_TEST_SUITE_P(Cases, AttendSdpa,
                         ::testing::Values("sdpa_self_causal_pad", "sdpa_cross", "sdpa_cross_causal",
                                           "sdpa_mha_cross_pad"));

TEST(AttendSdpa, HeadMajorInputEqualsSplitHeads) {
  const std::string g = "sdpa_cross";
  Tensor q = ref(g, "q"), k = ref(g, "k"), v = ref(g, "v");  // (B, T, E), 2 heads
  const int64_t H = 2;
  SdpaResult flat = sdpa(q, k, v, nullptr, nullptr, H, false);
  auto split = [&](const Tensor& x) {  // (B, T, E) -> (B, H, T, E / H)
    const int64_t B = x.dim(0), T = x.dim(1), hs = x.dim(2) / H;
    Tensor y({B, H, T, hs});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < hs; ++d)
            y.data<float>()[((b * H + h) * T + t) * hs + d] = x.data<float>()[(b * T + t) * H * hs + h * hs + d];
    return y;
  };
  SdpaResult hm = sdpa(split(q), split(k), split(v), nullptr, nullptr, 0, false);
  EXPECT_EQ(ops::rel_error(hm.weights.data<float>(), flat.weights.data<float>(), flat.weights.numel()), 0.0);
  Tensor want = split(flat.out);
  EXPECT_EQ(ops::rel_error(hm.out.data<float>(), want.data<float>(), want.numel()), 0.0);
}
