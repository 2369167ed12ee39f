// qkv-model as a user runs it: init, info, forward, archs, and its errors.
#include <gtest/gtest.h>

#include "io/h5.h"
#include "support/test_support.h"

using qkv::test::run;

TEST(ModelCli, InitInfoForward) {
  qkv::test::TempDir tmp;
  auto r = run("qkv-model init gpt --set n_layer=1 --set d_model=16 --set n_head=2 --set block_size=8 "
               "--set vocab_size=20 --seed 3 -o " + tmp.file("g.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("qkv-model info " + tmp.file("g.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gpt (language_model)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("transformer.h.0.attn.c_attn.weight [48, 16] decay"), std::string::npos) << r.out;
  {
    qkv::io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("inp", qkv::Tensor::from(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {2, 3}));
    b.write("tgt", qkv::Tensor::from(std::vector<int32_t>{2, 3, 4, 5, 6, -1}, {2, 3}));
    b.commit();
  }
  r = run("qkv-model forward " + tmp.file("g.h5") + " " + tmp.file("batch.h5") + " -o " + tmp.file("out.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In out(tmp.file("out.h5"));
  EXPECT_EQ(out.shape("logits"), (qkv::Shape{2, 3, 20}));
  EXPECT_EQ(out.attr_int("/", "count"), 5);
  double loss = out.attr_double("/", "loss");
  EXPECT_GT(loss, 2.0);  // ~ln 20 for a fresh model
  EXPECT_LT(loss, 4.0);
  // The same through pipes.
  r = run("qkv-model forward " + tmp.file("g.h5") + " - < " + tmp.file("batch.h5") + " | qkv-inspect - ");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("logits"), std::string::npos);
}

TEST(ModelCli, ForwardMatchesPyTorchReference) {
  qkv::test::TempDir tmp;
  std::string ref = qkv::test::source_path("tests/ref/model_vit.h5");
  qkv::io::H5In in(ref);
  {
    qkv::io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("patches", in.read("ref/batch/patches", qkv::DType::f32));
    b.write("labels", in.read("ref/batch/labels", qkv::DType::i32));
    b.commit();
  }
  auto r = run("qkv-model forward " + ref + " " + tmp.file("batch.h5") + " -o " + tmp.file("out.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In out(tmp.file("out.h5"));
  double want = in.read("ref/loss", qkv::DType::f32).data<float>()[0];
  EXPECT_NEAR(out.attr_double("/", "loss"), want, 1e-4 * want);
}

TEST(ModelCli, ClearErrors) {
  qkv::test::TempDir tmp;
  auto r = run("qkv-model init gtp -o " + tmp.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown model architecture 'gtp'"), std::string::npos) << r.err;
  r = run("qkv-model init gpt --set d_model=10 --set n_head=4 -o " + tmp.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("must be divisible by n_head"), std::string::npos) << r.err;
  EXPECT_FALSE(qkv::test::exists(tmp.file("x.h5")));
  r = run("qkv-model init vit -o " + tmp.file("v.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    qkv::io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("inp", qkv::Tensor::from(std::vector<int32_t>{1, 2}, {1, 2}));
    b.commit();
  }
  r = run("qkv-model forward " + tmp.file("v.h5") + " " + tmp.file("batch.h5") + " -o " + tmp.file("o.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(tmp.file("batch.h5") + ": no dataset /patches"), std::string::npos) << r.err;
  r = run("qkv-model info " + tmp.file("batch.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is a qkv 'batch' file, expected 'model'"), std::string::npos) << r.err;
  r = run("qkv-model archs");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* a : {"gpt:", "transformer:", "vit:"}) EXPECT_NE(r.out.find(a), std::string::npos) << a;
}
