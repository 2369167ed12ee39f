// Head gates, head importance and gradient-weighted rollout (attend/gradients.h,
// nn/head_mask.h) against PyTorch on the reference checkpoints and batches of
// tests/ref/model_*.h5 (references: scripts/ref/make_head_analysis_refs.py ->
// tests/ref/head_analysis.h5, computed in float64). A value matches when
// |qkv - ref| <= 1e-6 (absolute) or <= 1e-5 |ref| (relative).
// Also: --mask-heads parsing, and decoding with masked heads equals the
// masked full forward.
#include <gtest/gtest.h>

#include <cmath>

#include "attend/gradients.h"
#include "core/error.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoder.h"
#include "nn/head_mask.h"
#include "nn/model.h"
#include "support/model_files.h"
#include "support/test_support.h"

using namespace qkv;

namespace {

std::vector<int32_t> ints(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::i32);
  return {t.data<int32_t>(), t.data<int32_t>() + t.numel()};
}

// The reference batch of a model_<case>.h5, with its targets.
nn::Batch ref_batch(const io::H5In& ck, const nn::Model& m) {
  if (m.arch() == "gpt") {
    const Shape s = ck.shape("ref/batch/inp");  // (B, T)
    return nn::Batch::lm(s[0], s[1], ints(ck, "ref/batch/inp"), ints(ck, "ref/batch/tgt"));
  }
  if (m.arch() == "transformer") {
    const Shape s = ck.shape("ref/batch/src"), t = ck.shape("ref/batch/tgt_in");  // (B, S), (B, T)
    return nn::Batch::seq2seq(s[0], s[1], t[1], ints(ck, "ref/batch/src"), ints(ck, "ref/batch/tgt_in"),
                              ints(ck, "ref/batch/tgt_out"));
  }
  const Shape s = ck.shape("ref/batch/patches");  // (B, P, D)
  Tensor x = ck.read("ref/batch/patches", DType::f32);
  return nn::Batch::images(s[0], s[1], s[2], std::vector<float>(x.data<float>(), x.data<float>() + x.numel()),
                           ints(ck, "ref/batch/labels"));
}

void expect_close(const float* got, const Tensor& want, const std::string& what) {
  const float* w = want.data<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - w[i]);
    if (!(d <= 1e-6 || d <= 1e-5 * std::fabs(w[i]))) {
      if (bad++ < 3) ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " vs " << w[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

io::H5In& refs() {
  static io::H5In r(test::source_path("tests/ref/head_analysis.h5"));
  return r;
}

}  // namespace

class HeadAnalysisRefs : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ck_ = std::make_unique<io::H5In>(test::source_path(std::string("tests/ref/model_") + GetParam() + ".h5"));
    m_ = attend::load_analysis_model(*ck_);
    b_ = ref_batch(*ck_, *m_);
  }
  std::string name() const { return GetParam(); }
  std::unique_ptr<io::H5In> ck_;
  std::unique_ptr<nn::Model> m_;
  nn::Batch b_;
};

TEST_P(HeadAnalysisRefs, LossWithAndWithoutMaskedHeads) {
  const double loss = m_->forward(b_, false).mean_loss();
  nn::mask_heads(*m_, refs().attr_string(name(), "mask_heads"));
  const double masked = m_->forward(b_, false).mean_loss();
  const double want = refs().attr_double(name(), "loss"), want_masked = refs().attr_double(name(), "loss_masked");
  EXPECT_NEAR(loss, want, 1e-5 * want);
  EXPECT_NEAR(masked, want_masked, 1e-5 * want_masked);
  EXPECT_GT(std::fabs(want - want_masked), 1e-4);  // the mask matters at this tolerance
  nn::mask_heads(*m_, "");
  EXPECT_EQ(m_->forward(b_, false).mean_loss(), loss);  // cleared: all gates 1 again, bit for bit
}

TEST_P(HeadAnalysisRefs, ImportanceEqualsPyTorch) {
  std::vector<std::vector<double>> acc;
  attend::add_head_importance(*m_, b_, acc);
  const auto& probes = m_->head_probes();
  ASSERT_EQ(acc.size(), probes.size());
  for (const std::string& kind : refs().list(name() + "/importance")) {
    SCOPED_TRACE(kind);
    std::vector<float> raw;  // (L, H)
    int64_t L = 0, H = 0;
    for (size_t p = 0; p < probes.size(); ++p)
      if (probes[p].kind == kind) {
        ++L, H = probes[p].H;
        for (double v : acc[p]) raw.push_back(static_cast<float>(v));
      }
    ASSERT_EQ(refs().shape(name() + "/importance_raw/" + kind), (Shape{L, H}));
    expect_close(raw.data(), refs().read(name() + "/importance_raw/" + kind, DType::f32), "raw");
    attend::normalize_per_layer(raw.data(), L, H);
    expect_close(raw.data(), refs().read(name() + "/importance/" + kind, DType::f32), "normalised");
  }
}

TEST_P(HeadAnalysisRefs, GradientRolloutEqualsPyTorch) {
  Tensor len = refs().read(name() + "/lengths", DType::i64);  // (B, 2): S, T
  std::vector<int64_t> lengths;
  const bool s2s = m_->task() == nn::Task::seq2seq;
  for (int64_t r = 0; r < b_.B; ++r) lengths.push_back(len.data<int64_t>()[r * 2 + (s2s ? 1 : 0)]);
  const std::vector<attend::GradTarget> t = attend::target_backward(*m_, b_, lengths, -1);
  Tensor want_t = refs().read(name() + "/grad_target", DType::i64);  // (B, 2)
  for (int64_t r = 0; r < b_.B; ++r) {
    EXPECT_EQ(t[r].position, want_t.data<int64_t>()[2 * r]) << r;
    EXPECT_EQ(t[r].id, want_t.data<int64_t>()[2 * r + 1]) << r;
  }
  for (int64_t r = 0; r < b_.B; ++r) {
    const int64_t S = len.data<int64_t>()[2 * r], T = len.data<int64_t>()[2 * r + 1];
    const auto got = attend::grad_rollouts(*m_, r, S, T);
    const std::vector<std::string> kinds = refs().list(name() + "/grad_rollout");
    ASSERT_EQ(got.size(), kinds.size());
    for (const std::string& kind : kinds) {
      const std::string path = name() + "/grad_rollout/" + kind + "/" + std::to_string(r);
      const Tensor want = refs().read(path, DType::f32);
      ASSERT_EQ(static_cast<int64_t>(got.at(kind).size()), want.numel()) << path;
      expect_close(got.at(kind).data(), want, path);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, HeadAnalysisRefs,
                         ::testing::Values("gpt", "gpt_post", "transformer", "transformer_pre_shared", "vit",
                                           "vit_mean"));

TEST(HeadMask, RefusesBadListsNamingTheItem) {
  io::H5In gpt(test::source_path("tests/ref/model_gpt.h5")), s2s(test::source_path("tests/ref/model_transformer.h5"));
  auto g = nn::load_model(gpt), t = nn::load_model(s2s);  // gpt: 2 layers x 2 heads; transformer 2 + 2 layers, 2 heads
  auto refused = [](nn::Model& m, const std::string& list, const std::string& part) {
    try {
      nn::mask_heads(m, list);
      ADD_FAILURE() << list << " accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  refused(*g, "2.0", "layer 2 out of range (the model has 2 layers, 0-1)");
  refused(*g, "1.2", "head 2 out of range (2 heads, 0-1)");
  refused(*g, "1.0,", "'' is not LAYER.HEAD");
  refused(*g, "1", "'1' is not LAYER.HEAD");
  refused(*g, "a.b", "layer and head are numbers");
  refused(*g, "-1.0", "layer and head are numbers");
  refused(*g, "enc.0.0", "is not LAYER.HEAD");
  refused(*t, "0.0", "is not enc.LAYER.HEAD, dec.LAYER.HEAD or cross.LAYER.HEAD");
  refused(*t, "cross.2.0", "cross layers, 0-1");
  refused(*t, "dec.0.5", "head 5 out of range");
  nn::mask_heads(*t, "enc.1.1,cross.0.0");
  for (const nn::HeadProbe& p : t->head_probes()) {
    const bool named = (p.kind == "encoder_self" && p.layer == 1) || (p.kind == "cross" && p.layer == 0);
    EXPECT_EQ(p.gate.empty(), !named) << p.kind << p.layer;
  }
  auto rnn = nn::make_model("rnn", nn::Config(), 1);
  refused(*rnn, "0.0", "'rnn' has no multi-head attention");
}

// Incremental decoding with masked heads gives the logits of the masked full forward at each position.
TEST(HeadMask, DecodingEqualsTheMaskedForward) {
  for (const char* c : {"gpt", "transformer"}) {
    SCOPED_TRACE(c);
    io::H5In ck(test::source_path(std::string("tests/ref/model_") + c + ".h5"));
    auto m = nn::load_model(ck);
    const bool lm = m->arch() == "gpt";
    nn::mask_heads(*m, lm ? "0.1,1.0" : "enc.0.1,dec.1.0,cross.0.1");
    const std::vector<int32_t> src = {5, 6, 7, 8}, ids = {3, 9, 4, 11, 6};
    const int64_t T = static_cast<int64_t>(ids.size()), V = nn::dims(*m).n_out;
    m->forward(lm ? nn::Batch::lm(1, T, ids, {}) : nn::Batch::seq2seq(1, 4, T, src, ids, {}), false);
    const std::vector<float> full(m->logits(), m->logits() + T * V);  // (T, V)
    auto dec = m->decoder();
    auto st = dec->start({lm ? std::vector<int32_t>{} : src}, T);
    std::vector<float> step(V);
    for (int64_t t = 0; t < T; ++t) {
      dec->step(*st, &ids[t], step.data(), nullptr);
      double worst = 0;
      for (int64_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(double(step[v]) - full[t * V + v]));
      EXPECT_LE(worst, 1e-4) << "position " << t;
    }
    // and the mask changes them
    nn::mask_heads(*m, "");
    m->forward(lm ? nn::Batch::lm(1, T, ids, {}) : nn::Batch::seq2seq(1, 4, T, src, ids, {}), false);
    double diff = 0;
    for (int64_t i = 0; i < T * V; ++i) diff = std::max(diff, std::fabs(double(m->logits()[i]) - full[i]));
    EXPECT_GT(diff, 1e-3);
  }
}
