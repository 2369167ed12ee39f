// qkv-model average: the element-wise mean of checkpoints of one model
// (every parameter, tied ones once), written as a loadable checkpoint; mixed
// architectures or shapes are one clear line, exit 1, no output.
#include <gtest/gtest.h>

#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "support/bad_input.h"
#include "support/test_support.h"

using namespace qkv;
using qkv::test::run;

TEST(ModelAverage, MeanOfEveryParameter) {
  test::TempDir tmp;
  const std::string sets = " --set n_encoder_layers=1 --set n_decoder_layers=2 --set d_model=6 --set n_head=2 "
                           "--set d_ff=10 --set src_vocab_size=11 --set tgt_vocab_size=9 ";
  std::string files;
  for (int seed : {1, 2, 3}) {
    const std::string f = tmp.file("m" + std::to_string(seed) + ".h5");
    ASSERT_EQ(run("qkv-model init transformer" + sets + "--seed " + std::to_string(seed) + " -o " + f).exit_code, 0);
    files += " " + f;
  }
  auto r = run("qkv-model average" + files + " -o " + tmp.file("avg.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::unique_ptr<nn::Model>> ms;
  for (int seed : {1, 2, 3}) ms.push_back(nn::load_model(io::H5In(tmp.file("m" + std::to_string(seed) + ".h5"))));
  auto avg = nn::load_model(io::H5In(tmp.file("avg.h5")));
  EXPECT_EQ(avg->arch(), "transformer");
  const nn::ParamStore& ps = avg->params();
  ASSERT_GT(ps.count(), 10);
  for (const nn::ParamInfo& pi : ps.infos()) {
    const float* got = ps.param(ps.find(pi.name));
    for (int64_t i = 0; i < pi.numel; ++i) {
      double want = 0;
      for (const auto& m : ms) want += m->params().param(m->params().find(pi.name))[i];
      ASSERT_FLOAT_EQ(got[i], static_cast<float>(want / 3)) << pi.name << "[" << i << "]";
    }
  }
  // the seeds differ, so the mean is none of them
  EXPECT_NE(ps.params()[0], ms[0]->params().params()[0]);
}

TEST(ModelAverage, MixedModelsRefused) {
  test::TempDir tmp;
  const std::string t = " --set n_encoder_layers=1 --set n_decoder_layers=1 --set n_head=2 --set d_ff=8 "
                        "--set src_vocab_size=7 --set tgt_vocab_size=7";
  ASSERT_EQ(run("qkv-model init transformer --set d_model=6" + t + " -o " + tmp.file("a.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-model init transformer --set d_model=8" + t + " -o " + tmp.file("b.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-model init transformer --set d_model=6 --set n_decoder_layers=2 --set n_encoder_layers=1 "
                "--set n_head=2 --set d_ff=8 --set src_vocab_size=7 --set tgt_vocab_size=7 -o " + tmp.file("c.h5"))
                .exit_code,
            0);
  ASSERT_EQ(run("qkv-model init gpt --set n_layer=1 --set d_model=6 --set n_head=2 --set block_size=4 "
                "--set vocab_size=7 -o " + tmp.file("g.h5"))
                .exit_code,
            0);
  const std::string a = tmp.file("a.h5") + " ";
  const std::vector<test::BadCase> cases = {
      {"average " + a + tmp.file("b.h5"), 1, "b.h5: parameter"},
      {"average " + a + tmp.file("g.h5"), 1, "g.h5: a gpt checkpoint, but " + tmp.file("a.h5") + " is a transformer"},
      {"average " + a + tmp.file("c.h5"), 1, "parameters, but"},
      {"average " + a + tmp.file("missing.h5"), 1, "missing.h5"},
  };
  test::expect_refused("qkv-model", cases, tmp);
}
