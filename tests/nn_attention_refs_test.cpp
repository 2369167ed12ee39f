// Issue 15 item 1: the attention weights qkv gives (Model::attention_maps(),
// what qkv-attend exports: tests/attend_export_test.cpp checks the export
// equals them) against PyTorch's softmax weights, every layer and head, on
// the reference checkpoints and batches of tests/ref/model_*.h5 (padded
// sources, causal masks, pre/post norm, shared embeddings, [CLS] and mean
// pooling). References: scripts/ref/make_attention_map_refs.py ->
// tests/ref/attention_maps.h5. The rnn's additive attention is checked
// against PyTorch in tests/nn_rnn_seq2seq_test.cpp (tests/ref/rnn.h5).
#include <gtest/gtest.h>

#include <cmath>

#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "support/test_support.h"

using namespace qkv;

namespace {

std::vector<int32_t> ints(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::i32);
  return {t.data<int32_t>(), t.data<int32_t>() + t.numel()};
}

}  // namespace

class AttentionRefs : public ::testing::TestWithParam<const char*> {};

TEST_P(AttentionRefs, EveryLayerAndHeadEqualsPyTorch) {
  const std::string name = GetParam();
  io::H5In ck(test::source_path("tests/ref/model_" + name + ".h5"));
  static io::H5In ref(test::source_path("tests/ref/attention_maps.h5"));
  auto m = nn::load_model(ck);
  nn::Batch b;
  if (m->arch() == "gpt") {
    const Shape s = ck.shape("ref/batch/inp");  // (B, T)
    b = nn::Batch::lm(s[0], s[1], ints(ck, "ref/batch/inp"), {});
  } else if (m->arch() == "transformer") {
    const Shape s = ck.shape("ref/batch/src"), t = ck.shape("ref/batch/tgt_in");  // (B, S), (B, T)
    b = nn::Batch::seq2seq(s[0], s[1], t[1], ints(ck, "ref/batch/src"), ints(ck, "ref/batch/tgt_in"), {});
  } else {
    const Shape s = ck.shape("ref/batch/patches");  // (B, P, D)
    Tensor x = ck.read("ref/batch/patches", DType::f32);
    b = nn::Batch::images(s[0], s[1], s[2], std::vector<float>(x.data<float>(), x.data<float>() + x.numel()), {});
  }
  m->forward(b, false);
  const std::vector<nn::AttentionMap> maps = m->attention_maps();
  ASSERT_EQ(maps.size(), ref.list(name).size());
  for (const nn::AttentionMap& a : maps) {
    SCOPED_TRACE(a.name);
    const std::string path = name + "/" + a.name;
    ASSERT_TRUE(ref.has(path));
    ASSERT_EQ(ref.shape(path), a.shape);
    Tensor want = ref.read(path, DType::f32);
    const float* w = want.data<float>();
    int64_t zeros = 0;
    double worst = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(a.weights[i] - w[i])));
      if (w[i] == 0.0f) {
        EXPECT_EQ(a.weights[i], 0.0f) << "masked entry " << i;
        ++zeros;
      }
    }
    EXPECT_LE(worst, 1e-5);
    if (a.kind == "decoder_self" || (a.kind == "self" && m->arch() == "gpt")) EXPECT_GT(zeros, 0);  // causal
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionRefs,
                         ::testing::Values("gpt", "gpt_post", "transformer", "transformer_pre_shared", "vit",
                                           "vit_mean"));
