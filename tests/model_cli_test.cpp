// qkv-model as a user runs it: init, info, forward, archs, and its errors.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

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
  for (const char* a : {"gpt:", "transformer:", "vit:", "rnn:"}) EXPECT_NE(r.out.find(a), std::string::npos) << a;
}

namespace {
// The same parameters (bit for bit) and hyperparameters in two model checkpoints.
void expect_same_checkpoint(const std::string& want, const std::string& got) {
  qkv::io::H5In a(want), b(got);
  EXPECT_EQ(a.list("params"), b.list("params"));
  for (const auto& name : a.list("params")) {
    qkv::Tensor x = a.read("params/" + name, qkv::DType::f32), y = b.read("params/" + name, qkv::DType::f32);
    ASSERT_EQ(x.shape(), y.shape()) << name;
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << name;
  }
  EXPECT_EQ(a.attr_string("/", "arch"), b.attr_string("/", "arch"));
  // (got may list more: a key an older writer left out, at its default)
  for (const auto& k : a.attr_strings("/", "hyperparameters")) {
    ASSERT_TRUE(b.has_attr("/", k)) << got << ": " << k;
    EXPECT_TRUE(a.attr("/", k) == b.attr("/", k)) << got << ": " << k;
  }
}
}  // namespace

// scripts/torch/qkv_torch.py (needs PyTorch, so skipped without it): a qkv
// checkpoint loaded into its PyTorch twin gives qkv's logits, and a twin's
// state_dict converts back to the same checkpoint parameters.
TEST(ModelCli, PyTorchInteropScript) {
  if (run("/usr/bin/python3 -c 'import torch, h5py'").exit_code != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch and h5py is not available";
  qkv::test::TempDir tmp;
  std::string script = qkv::test::source_path("scripts/torch/qkv_torch.py");
  for (const char* name : {"gpt", "transformer_pre_shared", "vit"}) {
    std::string ref = qkv::test::source_path(std::string("tests/ref/model_") + name + ".h5");
    auto r = run("/usr/bin/python3 " + script + " check " + ref + " --qkv-model " + qkv::test::bin("qkv-model"));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("relative error"), std::string::npos) << r.out;
  }
  // Dropout > 0: the twin must run with every dropout off (PyTorch's attention
  // dropout included), as qkv-model forward does; it failed on these, with a
  // different answer each run, while the twin ran in train() mode.
  const std::vector<std::string> with_dropout = {
      "gpt --set n_layer=2 --set d_model=16 --set n_head=2 --set block_size=8 --set vocab_size=20",
      "transformer --set src_vocab_size=20 --set tgt_vocab_size=22 --set d_model=16 --set n_head=2"
      " --set n_encoder_layers=2 --set n_decoder_layers=2 --set d_ff=32 --set max_len=16",
      "vit --set n_layer=2 --set d_model=16 --set n_head=2 --set d_ff=32 --set n_patches=4 --set patch_dim=6"
      " --set n_classes=3"};
  for (const auto& init : with_dropout) {
    std::string ckpt = tmp.file("dropout.h5");
    auto r = run("qkv-model init " + init + " --set dropout=0.1 --seed 2 -o " + ckpt);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run("/usr/bin/python3 " + script + " check " + ckpt + " --qkv-model " + qkv::test::bin("qkv-model"));
    EXPECT_EQ(r.exit_code, 0) << init << "\n" << r.out << r.err;
  }
  // to-torch stores the architecture and hyperparameters with the state_dict:
  // from-torch needs no flags and gives back the same checkpoint.
  std::string ref = qkv::test::source_path("tests/ref/model_gpt_post.h5");
  auto r = run("/usr/bin/python3 " + script + " to-torch " + ref + " " + tmp.file("m.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("/usr/bin/python3 " + script + " from-torch " + tmp.file("m.pt") + " -o " + tmp.file("back.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_checkpoint(ref, tmp.file("back.h5"));
  // A bare state_dict (what to-torch wrote before) still converts, with the flags.
  r = run("/usr/bin/python3 -c 'import sys, torch; torch.save(torch.load(sys.argv[1])[\"model\"], sys.argv[2])' " +
          tmp.file("m.pt") + " " + tmp.file("bare.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("/usr/bin/python3 " + script + " from-torch " + tmp.file("bare.pt") + " -o " + tmp.file("x.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bare.pt: a bare state_dict (no architecture stored with it): pass --arch"), std::string::npos)
      << r.err;
  EXPECT_FALSE(qkv::test::exists(tmp.file("x.h5")));
  r = run("/usr/bin/python3 " + script + " from-torch " + tmp.file("bare.pt") +
          " --arch gpt --set vocab_size=19 --set block_size=10 --set n_layer=2 --set n_head=4 --set d_model=16"
          " --set d_ff=24 --set pos=sinusoidal --set tie_weights=0 --set norm=post --set activation=relu --set bias=0"
          " -o " + tmp.file("back2.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_checkpoint(ref, tmp.file("back2.h5"));
  // A stored architecture that contradicts --arch: one clear line.
  r = run("/usr/bin/python3 " + script + " from-torch " + tmp.file("m.pt") + " --arch vit -o " + tmp.file("x.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("m.pt: holds a gpt model, not --arch vit"), std::string::npos) << r.err;
}

// The .pt that to-torch writes carries the architecture and every
// hyperparameter as plain values, readable without PyTorch:
// scripts/torch/pt_info.py (standard library only) on a committed to-torch
// output (tests/ref/model_gpt_post.pt, made by
// `/usr/bin/python3 scripts/torch/qkv_torch.py to-torch tests/ref/model_gpt_post.h5 tests/ref/model_gpt_post.pt`).
TEST(ModelCli, TorchFileCarriesTheArchitectureReadableWithoutTorch) {
  if (run("python3 -c 'import zipfile, pickle, json'").exit_code != 0) GTEST_SKIP() << "python3 is not available";
  auto r = run("python3 " + qkv::test::source_path("scripts/torch/pt_info.py") + " " +
               qkv::test::source_path("tests/ref/model_gpt_post.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"\"format\": \"qkv_torch\"", "\"format_version\": 1", "\"arch\": \"gpt\"", "\"n_layer\": 2",
                           "\"d_model\": 16", "\"vocab_size\": 19", "\"norm\": \"post\"", "\"pos\": \"sinusoidal\"",
                           "\"tie_weights\": 0", "\"activation\": \"relu\""})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  qkv::io::H5In h5(qkv::test::source_path("tests/ref/model_gpt_post.h5"));
  for (const auto& name : h5.list("params")) EXPECT_NE(r.out.find("\"" + name + "\""), std::string::npos) << name;
}

// The same for rnn, both cells: qkv-model init makes the checkpoint, the script
// checks qkv's logits and loss (label smoothing included) against the twin, and
// to-torch / from-torch gives back the same parameters.
TEST(ModelCli, PyTorchInteropScriptRnn) {
  if (run("/usr/bin/python3 -c 'import torch, h5py'").exit_code != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch and h5py is not available";
  qkv::test::TempDir tmp;
  std::string script = qkv::test::source_path("scripts/torch/qkv_torch.py");
  const std::string common = " --set src_vocab_size=15 --set tgt_vocab_size=17 --set d_emb=8 --set d_hidden=12";
  const std::vector<std::string> cases = {
      "--set cell=gru --set n_layer=2 --set d_attn=10" + common,
      "--set cell=lstm --set n_layer=2 --set tie_weights=1 --set label_smoothing=0.1 --set pad_id=3" + common,
      "--set cell=lstm --set bidirectional=0" + common};
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string ckpt = tmp.file("r" + std::to_string(i) + ".h5"), pt = tmp.file("r.pt"), back = tmp.file("back.h5");
    auto r = run("qkv-model init rnn " + cases[i] + " --seed " + std::to_string(i + 1) + " -o " + ckpt);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run("/usr/bin/python3 " + script + " check " + ckpt + " --qkv-model " + qkv::test::bin("qkv-model"));
    EXPECT_EQ(r.exit_code, 0) << cases[i] << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find(": rnn: logits (3, 7, 17)"), std::string::npos) << r.out;
    r = run("/usr/bin/python3 " + script + " to-torch " + ckpt + " " + pt);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run("/usr/bin/python3 " + script + " from-torch " + pt + " -o " + back);  // the .pt carries the hyperparameters
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_same_checkpoint(ckpt, back);
    r = run("qkv-model info " + back);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("rnn (seq2seq)"), std::string::npos) << r.out;
  }
  // A state_dict that does not fit the hyperparameters: one clear line, no output.
  auto r = run("/usr/bin/python3 " + script + " from-torch " + tmp.file("r.pt") +
               " --arch rnn --set cell=gru -o " + tmp.file("bad.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("does not fit rnn"), std::string::npos) << r.err;
  EXPECT_FALSE(qkv::test::exists(tmp.file("bad.h5")));
}
