// The architecture registry (nn/arch.h): each architecture's facts are
// declared once and every query reads them. A test-only architecture
// registered here, in the test binary alone, appears in every query with its
// flags and defaults: adding an architecture needs no edit elsewhere.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "nn/arch.h"
#include "nn/model.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

// A bag-of-tokens language model: logits (B, T, V) = bias (V), the same at every position.
class ToyLm : public Model {
 public:
  ToyLm(const Config& c, uint64_t seed, Build build = Build::full) : Model("toy_lm", seed) {
    ConfigReader r(c, arch_);
    V_ = r.get_int("n_vocab", 7, 1);
    ctx_ = r.get_int("ctx", 5, 1);
    r.get_int("width", 3, 1);
    r.finish();
    config_ = r.resolved();
    if (build == Build::config_only) return;
    bias_ = ps_.add("bias", {V_});
    ps_.finalize();
  }
  void check_batch(const Batch&) const override {}
  Stats forward(const Batch& b, bool) override {
    logits_.assign(static_cast<size_t>(b.B * b.T * V_), 0.0f);  // (B, T, V)
    return Stats();
  }
  void backward(float) override {}
  const float* logits() const override { return logits_.data(); }

 private:
  int64_t V_ = 0, ctx_ = 0;
  ParamId bias_ = -1;
  std::vector<float> logits_;
};

ArchSpec toy_lm_spec() {
  ArchSpec s;
  s.name = "toy_lm";
  s.summary = "test-only constant language model";
  s.task = Task::language_model;
  s.data.vocab = "n_vocab";
  s.data.max_len = "ctx";
  s.output = Output::per_position;
  s.output_size = "n_vocab";
  s.command = "toy";
  s.command_help = "test-only language model";
  s.flags = {{"--width", "width", "toy width", ""}, {"--both", "n_vocab,ctx", "vocabulary and context", ""}};
  return s;
}

}  // namespace

QKV_REGISTER_ARCH(toy_lm_spec(), ToyLm);

TEST(Arch, TestOnlyArchitectureAppearsInEveryQuery) {
  auto names = arch_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "toy_lm"), names.end());
  auto cmds = train_commands();
  EXPECT_NE(std::find(cmds.begin(), cmds.end(), "toy"), cmds.end());
  EXPECT_EQ(command_arch("toy").name, "toy_lm");
  EXPECT_EQ(arch_spec("toy_lm").task, Task::language_model);

  const ArchSpec& s = arch_spec("toy_lm");
  ASSERT_EQ(s.flags.size(), 2u);
  EXPECT_EQ(flag_help(s, s.flags[0]), "toy width (default 3)");  // from the model's resolved default
  Config c;
  set_flag(c, s.flags[1], "11");  // one flag, two keys
  EXPECT_EQ(c.to_string(), "n_vocab=11 ctx=11");

  auto m = make_model("toy_lm", c, 1);
  EXPECT_EQ(m->task(), Task::language_model);
  ModelDims d = dims(*m);
  EXPECT_EQ(d.vocab, 11);
  EXPECT_EQ(d.max_len, 11);
  EXPECT_EQ(d.pad_id, -1);  // no such key
  EXPECT_EQ(d.output_shape(2, 4), (Shape{2, 4, 11}));
  EXPECT_EQ(default_config("toy_lm").to_string(), "n_vocab=7 ctx=5 width=3");
}

TEST(Arch, BuiltInArchitecturesDeclareTheirData) {
  EXPECT_EQ(command_arch("lm").name, "gpt");
  EXPECT_EQ(command_arch("seq2seq").name, "transformer");
  EXPECT_EQ(command_arch("vit").name, "vit");
  EXPECT_EQ(command_arch("rnn").name, "rnn");
  EXPECT_THROW(command_arch("nope"), UsageError);
  EXPECT_THROW(arch_spec("nope"), UsageError);

  ModelDims g = dims(arch_spec("gpt"), default_config("gpt"));
  EXPECT_EQ(g.vocab, 65);
  EXPECT_EQ(g.max_len, 64);
  EXPECT_EQ(g.output_shape(2, 3), (Shape{2, 3, 65}));

  Config tc;
  tc.parse_assignment("tgt_vocab_size=40");
  tc.parse_assignment("pad_id=2");
  ModelDims t = dims(arch_spec("transformer"), resolved_config("transformer", tc));
  EXPECT_EQ(t.src_vocab, 1000);
  EXPECT_EQ(t.tgt_vocab, 40);
  EXPECT_EQ(t.pad_id, 2);
  EXPECT_EQ(t.max_len, 512);
  EXPECT_EQ(t.output_shape(2, 3), (Shape{2, 3, 40}));

  ModelDims r = dims(arch_spec("rnn"), default_config("rnn"));
  EXPECT_EQ(r.max_len, 0);  // any length

  ModelDims v = dims(arch_spec("vit"), default_config("vit"));
  EXPECT_EQ(v.n_patches, 64);
  EXPECT_EQ(v.patch_dim, 48);
  EXPECT_EQ(v.n_classes, 10);
  EXPECT_EQ(v.output_shape(5, 0), (Shape{5, 10}));

  // resolved_config checks as make_model does, without building parameters.
  Config bad;
  bad.parse_assignment("d_model=30");
  bad.parse_assignment("n_head=4");
  EXPECT_THROW(resolved_config("gpt", bad), UsageError);
}

TEST(Arch, FlagHelpShowsResolvedDefaults) {
  const ArchSpec& s = arch_spec("rnn");
  auto attn = std::find_if(s.flags.begin(), s.flags.end(), [](const ArchFlag& f) { return f.flag == "--d-attn"; });
  ASSERT_NE(attn, s.flags.end());
  EXPECT_EQ(flag_help(s, *attn), "additive attention width (default: --hidden, else 256)");
  for (const auto& cmd : train_commands()) {
    const ArchSpec& a = command_arch(cmd);
    for (const auto& f : a.flags) EXPECT_NO_THROW(flag_help(a, f)) << a.name << " " << f.flag;
  }
}
