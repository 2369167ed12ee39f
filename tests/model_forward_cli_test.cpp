// qkv-model forward over the files the other tools write (tokens, token_pairs,
// patches) and over batch files, streamed -b examples at a time: each input
// kind, a batch size smaller than and not dividing the number of examples,
// the same output as one batch holding everything, and the batches qkv-train
// makes (its --eval-only loss, or a batch file built by the rule by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/rng.h"
#include "formats/tokens.h"
#include "io/h5.h"
#include "support/test_support.h"

using qkv::DType;
using qkv::Shape;
using qkv::Tensor;
using qkv::test::run;
namespace io = qkv::io;
namespace formats = qkv::formats;

namespace {

// A tokens file (root "/") or one group of a token_pairs file.
void write_group(io::H5Out& out, const std::string& prefix, const std::vector<std::vector<int32_t>>& seqs,
                 int64_t vocab) {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets{0};
  for (const auto& s : seqs) {
    ids.insert(ids.end(), s.begin(), s.end());
    offsets.push_back(static_cast<int64_t>(ids.size()));
  }
  out.write(prefix + "ids", Tensor::from(ids, {static_cast<int64_t>(ids.size())}));
  out.write(prefix + "offsets", Tensor::from(offsets, {static_cast<int64_t>(offsets.size())}));
  out.set_attr(prefix.empty() ? "/" : "/" + prefix.substr(0, prefix.size() - 1), "vocab_size", vocab);
}

std::string write_tokens(const std::string& path, const std::vector<std::vector<int32_t>>& seqs, int64_t vocab) {
  io::H5Out out(path, formats::kTokensKind);
  write_group(out, "", seqs, vocab);
  out.commit();
  return path;
}

// The forward's output file, checked to exist.
struct Output {
  std::vector<float> logits;
  Shape shape;
  double loss = 0;
  int64_t count = 0, correct = 0;
};

Output forward(const std::string& ckpt, const std::string& input, const std::string& flags, const std::string& out) {
  auto r = run("qkv-model forward " + ckpt + " " + input + " " + flags + " -o " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  io::H5In f(out);
  Output o;
  Tensor t = f.read("logits", DType::f32);
  o.shape = t.shape();
  o.logits.assign(t.data<float>(), t.data<float>() + t.numel());
  if (f.has_attr("/", "loss")) {
    o.loss = f.attr_double("/", "loss");
    o.count = f.attr_int("/", "count");
    o.correct = f.attr_int("/", "correct");
  }
  return o;
}

// Streamed in small batches == one batch: same shape and counts, logits and
// loss equal up to float summation order (a GEMM over fewer rows may round
// differently in the last bit).
void expect_same(const Output& a, const Output& b) {
  ASSERT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::max(1.0, std::fabs(a.loss)));
  for (size_t i = 0; i < a.logits.size(); ++i) ASSERT_NEAR(a.logits[i], b.logits[i], 1e-5) << i;
}

// qkv-train --eval-only's loss on the same file and checkpoint (its JSON line).
double train_eval_loss(const std::string& cmd, const std::string& ckpt, const std::string& input,
                       const std::string& flags = "") {
  auto r = run("qkv-train " + cmd + " " + input + " --init " + ckpt + " --eval-only -q " + flags);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t p = r.out.find("\"loss\": ");
  EXPECT_NE(p, std::string::npos) << r.out;
  return p == std::string::npos ? -1 : std::stod(r.out.substr(p + 8));
}

// qkv-model init ARGS -o TMP/NAME; the checkpoint's path, or "" (and a failed test) when init fails.
std::string init_model(const qkv::test::TempDir& tmp, const std::string& name, const std::string& args) {
  const std::string path = tmp.file(name);
  auto r = run("qkv-model init " + args + " -o " + path);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? path : "";
}

}  // namespace

TEST(ModelForwardCli, TokensAsLmWindowsStreamed) {
  qkv::test::TempDir tmp;
  std::string g = init_model(tmp, "g.h5", "gpt --set n_layer=2 --set d_model=16 --set n_head=2 --set block_size=8 "
               "--set vocab_size=20 --seed 3");
  if (g.empty()) return;
  // 61 tokens in 5 sequences: one stream, 7 windows of 8 (+1) every 8 tokens
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int32_t> stream;
  qkv::Rng rng(4);
  for (int len : {13, 20, 1, 17, 10}) {
    seqs.emplace_back();
    for (int i = 0; i < len; ++i) seqs.back().push_back(static_cast<int32_t>(4 + rng.below(16)));
    stream.insert(stream.end(), seqs.back().begin(), seqs.back().end());
  }
  std::string tokens = write_tokens(tmp.file("t.h5"), seqs, 20);
  Output one = forward(g, tokens, "-b 100", tmp.file("one.h5"));
  Output small = forward(g, tokens, "-b 3", tmp.file("small.h5"));
  EXPECT_EQ(one.shape, (Shape{7, 8, 20}));
  EXPECT_EQ(one.count, 7 * 8);
  expect_same(one, small);
  // The windows by hand (inp = s[8w, 8w+8), tgt = s[8w+1, 8w+9)) in a batch file.
  {
    std::vector<int32_t> inp, tgt;
    for (int w = 0; w < 7; ++w)
      for (int t = 0; t < 8; ++t) {
        inp.push_back(stream[8 * w + t]);
        tgt.push_back(stream[8 * w + t + 1]);
      }
    io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("inp", Tensor::from(inp, {7, 8}));
    b.write("tgt", Tensor::from(tgt, {7, 8}));
    b.commit();
  }
  expect_same(one, forward(g, tmp.file("batch.h5"), "-b 7", tmp.file("byhand.h5")));
  // Overlapping windows and a shorter context.
  Output strided = forward(g, tokens, "--window-stride 3 -b 4", tmp.file("strided.h5"));
  EXPECT_EQ(strided.shape, (Shape{18, 8, 20}));  // (61 - 1 - 8) / 3 + 1
  Output ctx = forward(g, tokens, "--context 5 -b 5", tmp.file("ctx.h5"));
  EXPECT_EQ(ctx.shape, (Shape{12, 5, 20}));  // (61 - 1 - 5) / 5 + 1
  auto r = run("qkv-model forward " + g + " " + tokens + " --context 9 -o " + tmp.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--context 9 exceeds the model's maximum of 8"), std::string::npos) << r.err;
  EXPECT_FALSE(qkv::test::exists(tmp.file("x.h5")));
}

TEST(ModelForwardCli, TokensAsLmSequencesStreamed) {
  qkv::test::TempDir tmp;
  std::string g = init_model(tmp, "g.h5", "gpt --set n_layer=1 --set d_model=8 --set n_head=2 --set block_size=8 "
               "--set vocab_size=12 --seed 5");
  if (g.empty()) return;
  std::string tokens =
      write_tokens(tmp.file("t.h5"), {{1, 5, 6, 7, 2}, {1, 8, 2}, {1, 4, 5, 6, 7, 8, 9, 10, 11, 2}, {4, 5}}, 12);
  Output one = forward(g, tokens, "--lm-mode sequence -b 4", tmp.file("one.h5"));
  EXPECT_EQ(one.shape, (Shape{4, 8, 12}));  // the longest example: min(10 - 1, 8)
  EXPECT_EQ(one.count, 4 + 2 + 8 + 1);
  expect_same(one, forward(g, tokens, "--lm-mode sequence -b 3", tmp.file("small.h5")));
  auto r = run("qkv-model forward " + g + " " + write_tokens(tmp.file("short.h5"), {{1, 2}, {5}}, 12) +
          " --lm-mode sequence -o " + tmp.file("x.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(tmp.file("short.h5") + ": sequence 1 has 1 token(s)"), std::string::npos) << r.err;
}

TEST(ModelForwardCli, TokenPairsStreamedAsQkvTrainFormsThem) {
  qkv::test::TempDir tmp;
  std::string m = init_model(tmp, "s2s.h5", "transformer --set src_vocab_size=14 --set tgt_vocab_size=15 --set d_model=16 "
               "--set n_head=2 --set n_encoder_layers=1 --set n_decoder_layers=2 --set d_ff=24 --set max_len=16 "
               "--set dropout=0.1 --seed 2");
  if (m.empty()) return;
  // targets with and without bos / eos: tgt_in = bos y, tgt_out = y eos either way
  const std::vector<std::vector<int32_t>> src = {{5, 6, 7}, {8}, {9, 10, 11, 12, 13}, {4, 4}, {7, 6, 5, 4}};
  const std::vector<std::vector<int32_t>> tgt = {{1, 5, 6, 2}, {7, 8, 9}, {1, 10, 2}, {11, 12, 13, 14, 5}, {6, 2}};
  {
    io::H5Out out(tmp.file("pairs.h5"), formats::kTokenPairsKind);
    write_group(out, "src/", src, 14);
    write_group(out, "tgt/", tgt, 15);
    out.commit();
  }
  std::string pairs = tmp.file("pairs.h5");
  Output one = forward(m, pairs, "-b 5", tmp.file("one.h5"));
  Output small = forward(m, pairs, "-b 2", tmp.file("small.h5"));
  EXPECT_EQ(one.shape, (Shape{5, 6, 15}));  // the longest stored target + 1
  EXPECT_EQ(one.count, 3 + 4 + 2 + 6 + 2);  // y + eos per pair
  expect_same(one, small);
  EXPECT_NEAR(one.loss, train_eval_loss("seq2seq", m, pairs), 2e-6);
  // By hand: pair 3 (no bos / eos stored) as tgt_in = bos y, tgt_out = y eos.
  {
    io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("src", Tensor::from(std::vector<int32_t>{4, 4}, {1, 2}));
    b.write("tgt_in", Tensor::from(std::vector<int32_t>{1, 11, 12, 13, 14, 5}, {1, 6}));
    b.write("tgt_out", Tensor::from(std::vector<int32_t>{11, 12, 13, 14, 5, 2}, {1, 6}));
    b.commit();
  }
  Output p3 = forward(m, tmp.file("batch.h5"), "", tmp.file("p3.h5"));
  for (size_t i = 0; i < p3.logits.size(); ++i) ASSERT_NEAR(p3.logits[i], one.logits[3 * 6 * 15 + i], 1e-5) << i;
  // Truncation as qkv-train's --max-src-len / --max-tgt-len.
  Output cut = forward(m, pairs, "--max-src-len 2 --max-tgt-len 3 -b 2", tmp.file("cut.h5"));
  EXPECT_EQ(cut.shape, (Shape{5, 3, 15}));
  EXPECT_NEAR(cut.loss, train_eval_loss("seq2seq", m, pairs, "--max-src-len 2 --max-tgt-len 3"), 2e-6);
}

TEST(ModelForwardCli, PatchesStreamedAsEvalOnly) {
  qkv::test::TempDir tmp;
  std::string v = init_model(tmp, "vit.h5", "vit --set n_layer=2 --set d_model=16 --set n_head=2 --set d_ff=24 --set n_patches=4 "
               "--set patch_dim=3 --set n_classes=3 --seed 6");
  if (v.empty()) return;
  const int64_t N = 7;
  Tensor px({N, 4, 3}, DType::u8);  // uint8 pixels: the model sees pixel / 255
  qkv::Rng rng(8);
  for (int64_t i = 0; i < px.numel(); ++i) px.data<uint8_t>()[i] = static_cast<uint8_t>(rng.below(256));
  std::vector<int32_t> labels = {0, 2, 1, 1, 0, 2, 2};
  {
    io::H5Out out(tmp.file("p.h5"), "patches");
    out.write("patches", px);
    out.write("labels", Tensor::from(labels, {N}));
    out.set_attr("/", "num_classes", int64_t{3});
    out.commit();
  }
  std::string patches = tmp.file("p.h5");
  Output one = forward(v, patches, "-b 7", tmp.file("one.h5"));
  Output small = forward(v, patches, "-b 3", tmp.file("small.h5"));
  EXPECT_EQ(one.shape, (Shape{N, 3}));
  EXPECT_EQ(one.count, N);
  expect_same(one, small);
  EXPECT_NEAR(one.loss, train_eval_loss("vit", v, patches, "-b 2"), 2e-6);
  // The same images in a batch file (its rows streamed too).
  {
    io::H5Out b(tmp.file("batch.h5"), "batch");
    b.write("patches", px);
    b.write("labels", Tensor::from(labels, {N}));
    b.commit();
  }
  expect_same(one, forward(v, tmp.file("batch.h5"), "-b 2", tmp.file("rows.h5")));
  // A file for another kind of model: one line, no output.
  auto r = run("qkv-model forward " + v + " " + write_tokens(tmp.file("t.h5"), {{4, 5, 6}}, 9) + " -o " + tmp.file("x.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(tmp.file("t.h5") + ": a 'tokens' file feeds a language_model model; the checkpoint is a "
                       "classify model (vit)"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(qkv::test::exists(tmp.file("x.h5")));
}
