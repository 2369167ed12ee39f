// qkv-attend -m MODEL INPUT as a user runs it: the exported weights are the
// model's own attention maps for each example run alone (padding in a batch
// changes nothing), rows sum to 1 with causal entries exactly 0, the stored
// analyses equal libcore/attend run on the stored weights, and bad input is
// one clear line, exit 1 or 2, no output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "attend/gradients.h"
#include "attend/head_stats.h"
#include "attend/rollout.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/head_mask.h"
#include "nn/model.h"
#include "support/bad_input.h"
#include "support/model_files.h"
#include "support/test_support.h"
#include "train_fixtures.h"
#include "tensor/ops.h"

using namespace qkv;
using qkv::test::run;
using qkv::test::write_model;

namespace {

void write_tokens(const std::string& path, const std::vector<int32_t>& ids, const std::vector<int64_t>& offsets,
                  int64_t vocab) {
  io::H5Out out(path, "tokens");
  out.write("ids", Tensor::from(ids, {static_cast<int64_t>(ids.size())}));
  out.write("offsets", Tensor::from(offsets, {static_cast<int64_t>(offsets.size())}));
  out.set_attr("/", "vocab_size", vocab);
  out.commit();
}

void write_patches(const std::string& path, int64_t N, int64_t P, int64_t D) {
  Rng rng(3);
  std::vector<float> x(N * P * D);
  for (auto& v : x) v = rng.normal();
  std::vector<int32_t> labels(N);
  for (int64_t i = 0; i < N; ++i) labels[i] = static_cast<int32_t>(i % 3);
  io::H5Out out(path, "patches");
  out.write("patches", Tensor::from(x, {N, P, D}));
  out.write("labels", Tensor::from(labels, {N}));
  out.commit();
}

std::vector<float> read_f(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::f32);
  return {t.data<float>(), t.data<float>() + t.numel()};
}
std::vector<int64_t> read_i(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::i64);
  return {t.data<int64_t>(), t.data<int64_t>() + t.numel()};
}

}  // namespace

TEST(AttendExport, GptWindowsEqualTheModelRunAlone) {
  test::TempDir tmp;
  const int64_t L = 2, H = 2, block = 8;
  auto m = write_model(tmp.file("lm.h5"), "gpt",
                       {"n_layer=2", "n_head=2", "d_model=16", "block_size=8", "vocab_size=20", "dropout=0"});
  // sequence 0: 11 tokens -> windows [0, 8), [8, 11); sequence 1: 5 tokens -> [0, 5)
  std::vector<int32_t> ids = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 1, 2, 14, 15, 16, 17};
  write_tokens(tmp.file("tok.h5"), ids, {0, 11, 16}, 20);
  auto r = run("qkv-attend -m " + tmp.file("lm.h5") + " " + tmp.file("tok.h5") + " -b 2 --stats --rollout -o " +
               tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In att(tmp.file("att.h5"));
  EXPECT_EQ(att.kind(), "attention");
  EXPECT_EQ(att.attr_int("/", "n_examples"), 3);
  const std::vector<int64_t> tq = read_i(att, "self/tq"), off = read_i(att, "self/offsets"),
                             tok_off = read_i(att, "tokens/offsets"), start = read_i(att, "examples/start"),
                             rollout_off = read_i(att, "self/rollout_offsets");
  EXPECT_EQ(tq, (std::vector<int64_t>{8, 3, 5}));
  EXPECT_EQ(start, (std::vector<int64_t>{0, 8, 0}));
  EXPECT_EQ(tok_off, (std::vector<int64_t>{0, 8, 11, 16}));
  const std::vector<float> w = read_f(att, "self/weights"), stats = read_f(att, "self/head_stats"),
                           roll = read_f(att, "self/rollout");
  const Tensor tok = att.read("tokens/ids", DType::i32);
  for (int64_t e = 0; e < 3; ++e) {
    const int64_t T = tq[e];
    std::vector<int32_t> inp(tok.data<int32_t>() + tok_off[e], tok.data<int32_t>() + tok_off[e + 1]);
    m->forward(nn::Batch::lm(1, T, inp, std::vector<int32_t>(T, nn::kIgnoreIndex)), false);
    const auto maps = m->attention_maps();  // L maps of (1, H, T, T)
    ASSERT_EQ(static_cast<int64_t>(maps.size()), L);
    ASSERT_EQ(off[e + 1] - off[e], L * H * T * T);
    const float* ours = w.data() + off[e];  // (L, H, T, T)
    for (int64_t l = 0; l < L; ++l)
      EXPECT_LE(ops::rel_error(ours + l * H * T * T, maps[l].weights, H * T * T), 1e-5) << "example " << e;
    for (int64_t row = 0; row < L * H * T; ++row) {
      double sum = 0;
      for (int64_t j = 0; j < T; ++j) {
        sum += ours[row * T + j];
        if (j > row % T) EXPECT_EQ(ours[row * T + j], 0.0f);  // causal: exactly 0
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
    // analyses of the stored weights, recomputed
    std::vector<float> want(H * attend::kNumHeadStats), ro(T * T);
    std::vector<uint8_t> special(T);
    for (int64_t t = 0; t < T; ++t) special[t] = inp[t] < 4;
    attend::HeadStatsInput hin;
    hin.special = special.data();
    for (int64_t l = 0; l < L; ++l) {
      attend::head_stats(want.data(), ours + l * H * T * T, H, T, T, hin);
      for (int64_t i = 0; i < H * attend::kNumHeadStats; ++i) {
        const float got = stats[(e * L + l) * H * attend::kNumHeadStats + i];
        if (std::isnan(want[i]))
          EXPECT_TRUE(std::isnan(got));
        else
          EXPECT_FLOAT_EQ(got, want[i]);
      }
    }
    attend::rollout(ro.data(), ours, L, H, T, {});
    ASSERT_EQ(rollout_off[e + 1] - rollout_off[e], T * T);
    EXPECT_LE(ops::rel_error(roll.data() + rollout_off[e], ro.data(), T * T), 1e-6);
  }
}

// --mask-heads, --importance and --grad-rollout over gpt windows in batches of 2 equal the library
// (attend/gradients.h) run on each window alone, its targets the next tokens of its sequence.
TEST(AttendExport, MaskHeadsImportanceAndGradRolloutEqualEachWindowAlone) {
  test::TempDir tmp;
  write_model(tmp.file("lm.h5"), "gpt", {"n_layer=2", "n_head=2", "d_model=16", "block_size=6", "vocab_size=20"});
  // sequence 0: 8 tokens -> windows [0, 6), [6, 8); sequence 1: 5 tokens -> [0, 5)
  const std::vector<int32_t> ids = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 1, 2, 14};
  write_tokens(tmp.file("tok.h5"), ids, {0, 8, 13}, 20);
  const std::string mask = "1.0";
  auto r = run("qkv-attend -m " + tmp.file("lm.h5") + " " + tmp.file("tok.h5") + " -b 2 --stats-only --mask-heads " +
               mask + " --importance --grad-rollout -o " + tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In att(tmp.file("att.h5")), ck(tmp.file("lm.h5"));
  auto m = attend::load_analysis_model(ck);
  struct Window {
    std::vector<int32_t> inp, tgt;
  };
  const std::vector<Window> windows = {{{4, 5, 6, 7, 8, 9}, {5, 6, 7, 8, 9, 10}},
                                       {{10, 11}, {11, nn::kIgnoreIndex}},
                                       {{12, 13, 1, 2, 14}, {13, 1, 2, 14, nn::kIgnoreIndex}}};
  nn::Stats plain, masked;
  std::vector<std::vector<double>> imp;
  const std::vector<float> roll = read_f(att, "self/grad_rollout");
  const std::vector<int64_t> roll_off = read_i(att, "self/grad_rollout_offsets"),
                             pos = read_i(att, "grad_target/position"), id = read_i(att, "grad_target/id");
  nn::mask_heads(*m, mask);
  for (size_t e = 0; e < windows.size(); ++e) {
    const int64_t T = static_cast<int64_t>(windows[e].inp.size());
    const nn::Batch b = nn::Batch::lm(1, T, windows[e].inp, windows[e].tgt);
    masked += m->forward(b, false);
    attend::add_head_importance(*m, b, imp);
    const auto t = attend::target_backward(*m, b, {T}, -1);
    EXPECT_EQ(pos[e], T - 1);
    EXPECT_EQ(id[e], t[0].id);
    if (windows[e].tgt[T - 1] >= 0) EXPECT_EQ(t[0].id, windows[e].tgt[T - 1]);  // teacher-forced when known
    const std::vector<float> want = attend::grad_rollouts(*m, 0, T, 0).at("self");
    ASSERT_EQ(roll_off[e + 1] - roll_off[e], T * T);
    EXPECT_LE(ops::rel_error(roll.data() + roll_off[e], want.data(), T * T), 1e-5) << "example " << e;
  }
  nn::mask_heads(*m, "");
  for (const Window& w : windows)
    plain += m->forward(nn::Batch::lm(1, static_cast<int64_t>(w.inp.size()), w.inp, w.tgt), false);
  EXPECT_EQ(att.attr_string("/", "mask_heads"), mask);
  EXPECT_EQ(att.attr_int("/", "loss_targets"), 6 + 1 + 4);
  EXPECT_NEAR(att.attr_double("/", "loss"), plain.mean_loss(), 1e-5);
  EXPECT_NEAR(att.attr_double("/", "loss_masked"), masked.mean_loss(), 1e-5);
  EXPECT_GT(std::fabs(plain.mean_loss() - masked.mean_loss()), 1e-6);
  std::vector<float> raw;  // (2, 2)
  for (const auto& layer : imp)
    for (double v : layer) raw.push_back(static_cast<float>(v));
  ASSERT_EQ(att.shape("self/importance_raw"), (Shape{2, 2}));
  EXPECT_LE(ops::rel_error(read_f(att, "self/importance_raw").data(), raw.data(), 4), 1e-5);
  attend::normalize_per_layer(raw.data(), 2, 2);
  EXPECT_LE(ops::rel_error(read_f(att, "self/importance").data(), raw.data(), 4), 1e-5);
}

TEST(AttendExport, SelectsLayersHeadsExamplesAndStatsOnly) {
  test::TempDir tmp;
  write_model(tmp.file("lm.h5"), "gpt", {"n_layer=3", "n_head=2", "d_model=8", "block_size=4", "vocab_size=10"});
  write_tokens(tmp.file("tok.h5"), {4, 5, 6, 7, 8, 9, 4, 5, 6}, {0, 9}, 10);  // windows of 4, 4, 1
  const std::string base = "qkv-attend -m " + tmp.file("lm.h5") + " " + tmp.file("tok.h5");
  auto r = run(base + " --layers 2 --layers 0 --heads 1 --examples 1-2 -o " + tmp.file("all.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run(base + " --layers 0 --layers 2 --heads 1 --examples 1,2 --stats-only -o " + tmp.file("stats.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In all(tmp.file("all.h5")), st(tmp.file("stats.h5"));
  EXPECT_EQ(read_i(all, "examples/index"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(all.attr_ints("self", "layers"), (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(read_i(all, "self/offsets"), (std::vector<int64_t>{0, 2 * 16, 2 * 16 + 2 * 1}));
  EXPECT_FALSE(st.has("self/weights"));
  EXPECT_EQ(st.shape("self/head_stats"), (Shape{2, 2, 1, attend::kNumHeadStats}));
}

TEST(AttendExport, VitImagesWithClsToken) {
  test::TempDir tmp;
  const int64_t P = 6, D = 5, N = 5, L = 2, H = 3;
  write_model(tmp.file("vit.h5"), "vit",
              {"n_layer=2", "n_head=3", "d_model=12", "n_patches=6", "patch_dim=5", "n_classes=3"});
  write_patches(tmp.file("p.h5"), N, P, D);
  auto r = run("qkv-attend -m " + tmp.file("vit.h5") + " " + tmp.file("p.h5") + " -b 2 --stats --flow -o " +
               tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In att(tmp.file("att.h5"));
  EXPECT_EQ(att.attr_strings("/", "kinds"), (std::vector<std::string>{"self"}));
  EXPECT_EQ(att.attr_int("/", "first_patch"), 1);
  EXPECT_EQ(read_i(att, "self/tq"), std::vector<int64_t>(N, P + 1));
  EXPECT_EQ(read_i(att, "self/offsets").back(), N * L * H * (P + 1) * (P + 1));
  EXPECT_EQ(att.shape("self/flow"), (Shape{N * (P + 1) * (P + 1)}));
  Tensor labels = att.read("labels", DType::i32);
  EXPECT_EQ(labels.data<int32_t>()[4], 1);
  const std::vector<float> stats = read_f(att, "self/head_stats");  // (N, L, H, 8)
  EXPECT_GT(stats[attend::kSpecial], 0.0f);  // [CLS] is the special token
}


// seq2seq (transformer and rnn): each pair teacher-forced as qkv-train does (the stored target's bos/eos
// stripped, the decoder reads [bos] y): every kind's weights equal the model's maps for the pair run alone,
// shapes (S,S) encoder_self, (T,T) decoder_self (causal: exactly 0 above the diagonal), (T,S) cross/additive.
TEST(AttendExport, Seq2seqPairsEveryKindEqualsThePairRunAlone) {
  test::TempDir tmp;
  // pair 0: 3 source tokens, target stored with bos+eos (y = 7 8); pair 1: 5 source tokens, bare target
  // (y = 9 10 11 5); pair 2: 1 source token, target only eos (y empty, T = 1).
  const std::vector<std::vector<int32_t>> srcs = {{4, 5, 6}, {7, 8, 9, 10, 4}, {11}};
  const std::vector<std::vector<int32_t>> tgts = {{1, 7, 8, 2}, {9, 10, 11, 5}, {2}};
  const std::vector<std::vector<int32_t>> ys = {{7, 8}, {9, 10, 11, 5}, {}};
  {
    io::H5Out out(tmp.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", srcs, 12);
    test::write_sequences(out, "tgt", tgts, 12);
    out.commit();
  }
  struct Arch {
    const char* name;
    std::vector<std::string> sets;
    std::vector<std::string> kinds;
  };
  const std::vector<Arch> archs = {
      {"transformer",
       {"n_encoder_layers=2", "n_decoder_layers=1", "n_head=2", "d_model=8", "d_ff=12", "src_vocab_size=12",
        "tgt_vocab_size=12", "dropout=0"},
       {"encoder_self", "decoder_self", "cross"}},
      {"rnn",
       {"src_vocab_size=12", "tgt_vocab_size=12", "d_emb=5", "d_hidden=6", "d_attn=3", "cell=gru", "dropout=0"},
       {"additive"}},
  };
  for (const Arch& a : archs) {
    SCOPED_TRACE(a.name);
    const std::string mp = tmp.file(std::string(a.name) + ".h5"), op = tmp.file(std::string(a.name) + "-att.h5");
    auto m = write_model(mp, a.name, a.sets);
    auto r = run("qkv-attend -m " + mp + " " + tmp.file("pairs.h5") + " -b 2 --stats --rollout -o " + op);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    io::H5In att(op);
    EXPECT_EQ(att.attr_strings("/", "kinds"), a.kinds);
    EXPECT_EQ(att.attr_int("/", "truncated_examples"), 0);
    EXPECT_EQ(read_i(att, "source_tokens/offsets"), (std::vector<int64_t>{0, 3, 8, 9}));
    EXPECT_EQ(read_i(att, "tokens/offsets"), (std::vector<int64_t>{0, 4, 10, 12}));  // [bos] y [eos]
    const Tensor tgt_ids = att.read("tokens/ids", DType::i32);
    EXPECT_EQ(std::vector<int32_t>(tgt_ids.data<int32_t>(), tgt_ids.data<int32_t>() + 4), (std::vector<int32_t>{1, 7, 8, 2}));
    for (size_t e = 0; e < srcs.size(); ++e) {
      const int64_t S = static_cast<int64_t>(srcs[e].size()), T = static_cast<int64_t>(ys[e].size()) + 1;
      std::vector<int32_t> tin = {1}, tout = ys[e];
      tin.insert(tin.end(), ys[e].begin(), ys[e].end());
      tout.push_back(2);
      m->forward(nn::Batch::seq2seq(1, S, T, srcs[e], tin, tout), false);
      const auto maps = m->attention_maps();
      for (const std::string& kind : a.kinds) {
        SCOPED_TRACE(kind + " example " + std::to_string(e));
        const int64_t tq = kind == "encoder_self" ? S : T, tk = kind == "decoder_self" ? T : S;
        EXPECT_EQ(read_i(att, kind + "/tq")[e], tq);
        EXPECT_EQ(read_i(att, kind + "/tk")[e], tk);
        std::vector<const nn::AttentionMap*> mine;
        for (const auto& mp2 : maps)
          if (mp2.kind == kind) mine.push_back(&mp2);
        const int64_t L = static_cast<int64_t>(mine.size()), H = mine[0]->shape[1];
        const std::vector<int64_t> off = read_i(att, kind + "/offsets");
        ASSERT_EQ(off[e + 1] - off[e], L * H * tq * tk);
        const std::vector<float> w = read_f(att, kind + "/weights");
        for (int64_t l = 0; l < L; ++l) {
          const float* ours = w.data() + off[e] + l * H * tq * tk;  // (H, tq, tk)
          EXPECT_LE(ops::rel_error(ours, mine[l]->weights, H * tq * tk), 1e-5);
          for (int64_t row = 0; row < H * tq; ++row) {
            double sum = 0;
            for (int64_t j = 0; j < tk; ++j) {
              sum += ours[row * tk + j];
              if (kind == "decoder_self" && j > row % tq) EXPECT_EQ(ours[row * tk + j], 0.0f);
            }
            EXPECT_NEAR(sum, 1.0, 1e-5);
          }
        }
      }
    }
    // rollout for the self-attention stacks only
    EXPECT_EQ(att.has("cross/rollout"), false);
    EXPECT_EQ(att.has("additive/rollout"), false);
    if (std::string(a.name) == "transformer") {
      EXPECT_EQ(read_i(att, "encoder_self/rollout_offsets").back(), 9 + 25 + 1);
      EXPECT_EQ(read_i(att, "decoder_self/rollout_offsets").back(), 9 + 25 + 1);
    }
  }
  // --layers 1 exists in the encoder only: the decoder (1 layer) exports none of its own.
  auto r = run("qkv-attend -m " + tmp.file("transformer.h5") + " " + tmp.file("pairs.h5") + " --layers 1 -o " +
               tmp.file("l1.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In l1(tmp.file("l1.h5"));
  EXPECT_EQ(l1.attr_ints("encoder_self", "layers"), (std::vector<int64_t>{1}));
  EXPECT_TRUE(l1.attr_ints("cross", "layers").empty());
}

TEST(AttendExport, BadInputOneLineNoOutput) {
  test::TempDir tmp;
  write_model(tmp.file("lm.h5"), "gpt", {"n_layer=1", "n_head=2", "d_model=8", "block_size=200", "vocab_size=10"});
  write_model(tmp.file("vit.h5"), "vit", {"n_layer=1", "n_head=1", "d_model=4", "n_patches=6", "patch_dim=5"});
  write_tokens(tmp.file("tok.h5"), std::vector<int32_t>(200, 5), {0, 200}, 10);
  write_tokens(tmp.file("big.h5"), {4, 12}, {0, 2}, 13);
  write_patches(tmp.file("p.h5"), 2, 6, 5);
  write_patches(tmp.file("p4.h5"), 2, 4, 5);
  write_model(tmp.file("s2s.h5"), "transformer",
              {"n_encoder_layers=1", "n_decoder_layers=1", "n_head=1", "d_model=4", "d_ff=4", "src_vocab_size=12",
               "tgt_vocab_size=12"});
  {
    io::H5Out out(tmp.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", {{4}}, 12);
    test::write_sequences(out, "tgt", {{5}}, 30);
    out.commit();
  }
  {
    io::H5Out out(tmp.file("pairs_ok.h5"), "token_pairs");
    test::write_sequences(out, "src", {{4}}, 12);
    test::write_sequences(out, "tgt", {{5}}, 12);
    out.commit();
  }
  write_model(tmp.file("rnn.h5"), "rnn", {"src_vocab_size=12", "tgt_vocab_size=12", "d_emb=3", "d_hidden=4"});
  {
    io::H5Out out(tmp.file("unlabelled.h5"), "patches");
    out.write("patches", Tensor::from(std::vector<float>(2 * 6 * 5, 0.5f), {2, 6, 5}));
    out.commit();
  }
  const std::string lm = "-m " + tmp.file("lm.h5") + " ", vit = "-m " + tmp.file("vit.h5") + " ";
  const std::vector<test::BadCase> cases = {
      {lm + tmp.file("p.h5"), 1, "reads 'tokens' files"},
      {vit + tmp.file("tok.h5"), 1, "reads 'patches' files"},
      {lm + tmp.file("big.h5"), 1, "vocabulary of 13 ids"},
      {vit + tmp.file("p4.h5"), 1, "takes 6 of 5"},
      {lm + tmp.file("tok.h5") + " --layers 1", 2, "--layers 1: the model has 1 layers"},
      {lm + tmp.file("tok.h5") + " --heads 2", 2, "--heads 2: the model has 2 heads"},
      {lm + tmp.file("tok.h5") + " --examples 0-3", 2, "3 is out of range"},
      {lm + tmp.file("tok.h5") + " --examples x", 2, "is not an index"},
      {lm + tmp.file("tok.h5") + " --flow", 2, "example 0 has 200 tokens over 1 layers"},
      {lm + tmp.file("tok.h5") + " --rollout --head-fusion median", 2, "expected mean, min or max"},
      {lm + tmp.file("missing.h5"), 1, "missing.h5"},
      {"-m " + tmp.file("s2s.h5") + " " + tmp.file("tok.h5"), 1, "reads 'token_pairs' files"},
      {"-m " + tmp.file("s2s.h5") + " " + tmp.file("pairs.h5"), 1, "target vocabulary of 30 ids"},
      {"-m " + tmp.file("s2s.h5") + " " + tmp.file("pairs_ok.h5") + " --layers 2", 2, "--layers 2: the model has 1 layers"},
      {lm + tmp.file("tok.h5") + " --mask-heads 1.0", 2, "--mask-heads 1.0: '1.0': layer 1 out of range"},
      {lm + tmp.file("tok.h5") + " --mask-heads 0.0,0.5", 2, "'0.5': head 5 out of range (2 heads, 0-1)"},
      {lm + tmp.file("tok.h5") + " --mask-heads 0,0", 2, "'0' is not LAYER.HEAD"},
      {lm + tmp.file("tok.h5") + " --mask-heads 0.x", 2, "layer and head are numbers counted from 0"},
      {"-m " + tmp.file("s2s.h5") + " " + tmp.file("pairs_ok.h5") + " --mask-heads 0.0", 2,
       "is not enc.LAYER.HEAD, dec.LAYER.HEAD or cross.LAYER.HEAD"},
      {"-m " + tmp.file("s2s.h5") + " " + tmp.file("pairs_ok.h5") + " --mask-heads cross.1.0", 2,
       "the model has 1 cross layers"},
      {"-m " + tmp.file("rnn.h5") + " " + tmp.file("pairs_ok.h5") + " --mask-heads 0.0", 2,
       "'rnn' has no multi-head attention"},
      {"-m " + tmp.file("rnn.h5") + " " + tmp.file("pairs_ok.h5") + " --importance", 2,
       "'rnn' has no multi-head attention"},
      {vit + tmp.file("unlabelled.h5") + " --importance", 1, "unlabelled.h5: has no labels"},
      {vit + tmp.file("p.h5") + " --grad-rollout --target-token 1", 2, "--target-token is for lm and seq2seq"},
      {lm + tmp.file("tok.h5") + " --grad-rollout --target-class 1", 2, "--target-class is for a vit"},
      {lm + tmp.file("tok.h5") + " --target-token 1", 2, "give --grad-rollout"},
      {lm + tmp.file("tok.h5") + " --grad-rollout --target-token 10", 2, "--target-token 10 is out of range"},
  };
  test::expect_refused("qkv-attend", cases, tmp);
}
