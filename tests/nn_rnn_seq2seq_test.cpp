// The "rnn" architecture (RNN encoder-decoder with additive attention): loss, every gradient and
// 10 AdamW steps against the PyTorch twin (scripts/torch/rnn_seq2seq.py, refs in tests/ref/rnn.h5
// made by scripts/ref/make_rnn_refs.py), checkpoint round trip, bad input, and learning to
// reverse sequences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoding.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/rnn_seq2seq.h"
#include "support/finite_diff.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

io::H5In& refs() {
  static io::H5In in(test::source_path("tests/ref/rnn.h5"));
  return in;
}

std::vector<int32_t> read_ids(const io::H5In& in, const std::string& name, int64_t* rows, int64_t* cols) {
  Tensor t = in.read(name, DType::i32, 2);
  *rows = t.dim(0), *cols = t.dim(1);
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

Config ref_config(const io::H5In& in, const std::string& grp) {
  Config c;
  for (const char* k : {"src_vocab_size", "tgt_vocab_size", "pad_id", "d_emb", "d_hidden", "n_layer", "bidirectional",
                        "d_attn", "tie_weights"})
    if (in.has_attr(grp, std::string("config_") + k)) c.set(k, in.attr_int(grp, std::string("config_") + k));
  c.set("cell", in.attr_string(grp, "config_cell"));
  for (const char* k : {"dropout", "label_smoothing"})
    if (in.has_attr(grp, std::string("config_") + k)) c.set(k, in.attr_double(grp, std::string("config_") + k));
  return c;
}

Batch ref_batch(const io::H5In& in, const std::string& grp) {
  int64_t B, S, B2, T;
  std::vector<int32_t> src = read_ids(in, grp + "/src", &B, &S);
  std::vector<int32_t> tgt_in = read_ids(in, grp + "/tgt_in", &B2, &T);
  std::vector<int32_t> tgt_out = read_ids(in, grp + "/tgt_out", &B2, &T);
  return Batch::seq2seq(B, S, T, src, tgt_in, tgt_out);
}

void load_ref_params(const io::H5In& in, const std::string& grp, ParamStore& ps) {
  EXPECT_EQ(static_cast<int64_t>(in.list(grp + "/params").size()), ps.count());
  for (const ParamInfo& p : ps.infos()) {
    Tensor t = in.read(grp + "/params/" + p.name, DType::f32);
    ASSERT_EQ(t.shape(), p.shape) << p.name;
    std::copy(t.data<float>(), t.data<float>() + t.numel(), ps.params() + p.offset);
  }
}

void check_against_torch(const std::string& grp) {
  const io::H5In& in = refs();
  auto m = make_model("rnn", ref_config(in, grp), 1);
  load_ref_params(in, grp, m->params());
  Batch b = ref_batch(in, grp);
  // loss and every gradient of one batch
  m->params().zero_grad();
  Stats s = m->forward(b, true);
  const double want = in.read(grp + "/loss", DType::f32).data<float>()[0];
  EXPECT_LE(std::abs(s.mean_loss() - want) / want, 1e-5) << grp << " loss " << s.mean_loss() << " vs " << want;
  m->backward();
  for (const ParamInfo& p : m->params().infos()) {
    Tensor g = in.read(grp + "/grads/" + p.name, DType::f32);
    EXPECT_LE(ops::rel_error(m->params().grads() + p.offset, g.data<float>(), p.numel), 1e-4) << grp << " " << p.name;
  }
  // attention weights kept for visualisation: one additive map (B, 1, T, S)
  Tensor w = in.read(grp + "/attention", DType::f32, 3);
  const std::vector<AttentionMap> maps = m->attention_maps();
  ASSERT_EQ(maps.size(), 1u);
  ASSERT_EQ(maps[0].shape, (Shape{b.B, 1, b.T, b.S}));
  EXPECT_LE(ops::rel_error(maps[0].weights, w.data<float>(), w.numel()), 1e-5);
  // 10 AdamW steps
  load_ref_params(in, grp, m->params());
  OptimConfig oc;
  oc.kind = "adamw";
  oc.weight_decay = in.attr_double(grp, "weight_decay");
  Optimizer opt(oc, m->params());
  const double lr = in.attr_double(grp, "lr");
  Tensor losses = in.read(grp + "/adamw_losses", DType::f32, 1);
  for (int64_t i = 0; i < losses.numel(); ++i) {
    m->params().zero_grad();
    const double l = m->forward(b, true).mean_loss();
    const double ref = losses.data<float>()[i];
    EXPECT_LE(std::abs(l - ref) / ref, 1e-4) << grp << " AdamW step " << i << ": " << l << " vs " << ref;
    m->backward();
    opt.step(lr);
  }
}

}  // namespace

TEST(NnRnnSeq2SeqTorch, BidirectionalTwoLayerGru) { check_against_torch("model_gru"); }
TEST(NnRnnSeq2SeqTorch, LstmWithLabelSmoothing) { check_against_torch("model_lstm"); }
TEST(NnRnnSeq2SeqTorch, ThreeLayersTiedOutput) { check_against_torch("model_tied"); }

TEST(NnRnnSeq2Seq, ParameterTableFollowsPyTorchNames) {
  Config c;
  c.set("src_vocab_size", 20), c.set("tgt_vocab_size", 30), c.set("d_emb", 8), c.set("d_hidden", 12);
  c.set("n_layer", 2), c.set("cell", "lstm");
  auto m = make_model("rnn", c, 1);
  const ParamStore& ps = m->params();
  EXPECT_EQ(ps.info(ps.find("encoder.weight_ih_l0_reverse")).shape, (Shape{24, 8}));  // 4 gates x 12/2
  EXPECT_EQ(ps.info(ps.find("encoder.weight_ih_l1")).shape, (Shape{24, 12}));
  EXPECT_EQ(ps.info(ps.find("decoder.layers.0.weight_ih")).shape, (Shape{48, 8 + 12}));
  EXPECT_EQ(ps.info(ps.find("decoder.layers.1.weight_ih")).shape, (Shape{48, 12}));
  EXPECT_EQ(ps.info(ps.find("attn.w_q.weight")).shape, (Shape{12, 12}));  // d_attn defaults to d_hidden
  EXPECT_EQ(ps.info(ps.find("out.weight")).shape, (Shape{30, 24}));
  EXPECT_EQ(ps.find("out_proj.weight"), -1);
  EXPECT_FALSE(ps.info(ps.find("attn.v")).decay);
  EXPECT_TRUE(ps.info(ps.find("decoder.layers.1.weight_hh")).decay);
  // every hyperparameter resolved, defaults included
  EXPECT_TRUE(m->config().has("bidirectional"));
  EXPECT_TRUE(m->config().has("dropout"));
  EXPECT_EQ(m->task(), Task::seq2seq);
}

TEST(NnRnnSeq2Seq, BadConfigAndBatchAreClearErrors) {
  Config c;
  c.set("src_vocab_size", 10), c.set("tgt_vocab_size", 10), c.set("d_hidden", 7);
  EXPECT_THROW(make_model("rnn", c, 1), UsageError);  // odd width for two directions
  c.set("d_hidden", 8);
  c.set("pad_id", 10);
  EXPECT_THROW(make_model("rnn", c, 1), UsageError);  // pad outside the vocabularies
  c.set("pad_id", 0);
  c.set("cell", "rnn_tanh");
  EXPECT_THROW(make_model("rnn", c, 1), UsageError);
  c.set("cell", "gru");
  c.set("hiden", 5);  // typo
  EXPECT_THROW(make_model("rnn", c, 1), UsageError);
  Config ok;
  ok.set("src_vocab_size", 10), ok.set("tgt_vocab_size", 10), ok.set("d_emb", 4), ok.set("d_hidden", 4);
  auto m = make_model("rnn", ok, 1);
  Batch bad = Batch::seq2seq(1, 2, 2, {3, 10}, {1, 3}, {3, 2});  // src id 10 >= src_vocab
  try {
    m->forward(bad, false);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("src id 10"), std::string::npos) << e.what();
  }
  Batch short_batch = Batch::seq2seq(2, 2, 2, {3, 4, 5}, {1, 3, 1, 3}, {3, 2, 3, 2});
  EXPECT_THROW(m->forward(short_batch, false), DataError);
}

namespace {

// Sequence reversal: src = tokens, target = reversed tokens + eos. pad 0, bos 1, eos 2.
constexpr int32_t kPad = 0, kBos = 1, kEos = 2, kSymbols = 10;

struct Pairs {
  std::vector<std::vector<int32_t>> src, tgt;
};

Pairs reversal_pairs(Rng& rng, int n) {
  Pairs p;
  for (int i = 0; i < n; ++i) {
    const int len = 3 + static_cast<int>(rng.below(5));  // 3..7
    std::vector<int32_t> s(len);
    for (auto& x : s) x = 3 + static_cast<int32_t>(rng.below(kSymbols));
    p.src.push_back(s);
    std::reverse(s.begin(), s.end());
    p.tgt.push_back(s);
  }
  return p;
}

Batch to_batch(const Pairs& p) {
  const int64_t B = static_cast<int64_t>(p.src.size());
  int64_t S = 0, T = 0;
  for (int64_t i = 0; i < B; ++i) {
    S = std::max<int64_t>(S, p.src[i].size());
    T = std::max<int64_t>(T, p.tgt[i].size() + 1);
  }
  std::vector<int32_t> src(B * S, kPad), tin(B * T, kPad), tout(B * T, kPad);
  for (int64_t i = 0; i < B; ++i) {
    std::copy(p.src[i].begin(), p.src[i].end(), src.begin() + i * S);
    tin[i * T] = kBos;
    std::copy(p.tgt[i].begin(), p.tgt[i].end(), tin.begin() + i * T + 1);
    std::copy(p.tgt[i].begin(), p.tgt[i].end(), tout.begin() + i * T);
    tout[i * T + p.tgt[i].size()] = kEos;
  }
  return Batch::seq2seq(B, S, T, src, tin, tout);
}

// Greedy decoding of p's sources (nn/decoding.h); with attention, the hypotheses carry it.
std::vector<Hypothesis> greedy(Model& m, const Pairs& p, int64_t max_len, bool attention = false) {
  std::vector<Request> reqs;
  for (const auto& s : p.src) reqs.push_back({s, {kBos}, {}});
  SearchOptions o;
  o.eos = kEos;
  o.max_len = max_len;
  o.attention = attention;
  auto dec = m.decoder();
  std::vector<Hypothesis> out;
  for (auto& n : decode(*dec, reqs, o)) out.push_back(n[0]);
  return out;
}

double exact_match(Model& m, const Pairs& p, int64_t max_len) {
  auto out = greedy(m, p, max_len);
  int right = 0;
  for (size_t i = 0; i < out.size(); ++i) right += out[i].ids == p.tgt[i];
  return static_cast<double>(right) / static_cast<double>(out.size());
}

void learns_reversal(const std::string& cell, bool bidirectional) {
  Config c;
  c.set("src_vocab_size", 3 + kSymbols), c.set("tgt_vocab_size", 3 + kSymbols), c.set("pad_id", 0);
  c.set("cell", cell), c.set("bidirectional", bidirectional);
  c.set("d_emb", 32), c.set("d_hidden", 64), c.set("d_attn", 32);
  c.set("dropout", 0.0);
  auto m = make_model("rnn", c, 7);
  OptimConfig oc;
  Optimizer opt(oc, m->params());
  Rng rng(123);
  Pairs test_set = reversal_pairs(rng, 100);
  const double before = exact_match(*m, test_set, 10);
  double first = 0, last = 0;
  const int steps = 250;
  for (int step = 0; step < steps; ++step) {
    Batch b = to_batch(reversal_pairs(rng, 32));
    m->params().zero_grad();
    const double l = m->forward(b, true).mean_loss();
    if (step == 0) first = l;
    if (step >= steps - 20) last += l / 20;
    m->backward();
    clip_grad_norm(m->params(), 1.0);
    opt.step(3e-3);
  }
  const double acc = exact_match(*m, test_set, 10);
  EXPECT_LT(last, 0.1 * first) << "loss " << first << " -> " << last;
  EXPECT_GE(acc, 0.8) << "exact-match accuracy " << before << " -> " << acc;
  // attention of a decode: (L, 1, S), rows summing to 1 over the real source tokens
  const auto h = greedy(*m, test_set, 10, true)[0];
  ASSERT_EQ(h.attention.size(), 1u);
  const AttentionTrace& a = h.attention[0];
  ASSERT_EQ(static_cast<int64_t>(a.weights.size()), static_cast<int64_t>(h.ids.size() + 1) * a.keys);
  double sum = 0;
  for (int64_t s = 0; s < a.keys; ++s) sum += a.weights[s];
  EXPECT_NEAR(sum, 1.0, 1e-5);
  for (int64_t s = static_cast<int64_t>(test_set.src[0].size()); s < a.keys; ++s) EXPECT_EQ(a.weights[s], 0.0f);
}

}  // namespace

TEST(NnRnnSeq2SeqTrain, GruLearnsToReverseSequences) { learns_reversal("gru", true); }
TEST(NnRnnSeq2SeqTrain, LstmLearnsToReverseSequences) { learns_reversal("lstm", false); }

TEST(NnRnnSeq2Seq, CheckpointRoundTripGivesSameLogitsAndDecodes) {
  Config c;
  c.set("src_vocab_size", 13), c.set("tgt_vocab_size", 13), c.set("d_emb", 8), c.set("d_hidden", 10);
  c.set("n_layer", 2), c.set("cell", "lstm"), c.set("tie_weights", true);
  auto a = make_model("rnn", c, 5);
  Rng rng(9);
  Pairs p = reversal_pairs(rng, 4);
  Batch b = to_batch(p);
  a->forward(b, false);
  const int64_t n = b.B * b.T * 13;
  std::vector<float> la(a->logits(), a->logits() + n);
  test::TempDir tmp;
  save_checkpoint(tmp.file("rnn.h5"), *a, nullptr, nullptr);
  io::H5In in(tmp.file("rnn.h5"));
  EXPECT_EQ(read_arch(in), "rnn");
  auto m2 = load_model(in);
  m2->forward(b, false);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(m2->logits()[i], la[i]) << i;
  auto da = greedy(*a, p, 6), d2 = greedy(*m2, p, 6);
  for (size_t i = 0; i < da.size(); ++i) EXPECT_EQ(da[i].ids, d2[i].ids);
}

TEST(NnRnnSeq2Seq, GreedyDecodeStopsAtMaxLen) {
  Config c;
  c.set("src_vocab_size", 13), c.set("tgt_vocab_size", 13), c.set("d_emb", 4), c.set("d_hidden", 4);
  auto m = make_model("rnn", c, 3);
  Rng rng(1);
  auto out = greedy(*m, reversal_pairs(rng, 3), 4);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& o : out) {
    EXPECT_LE(o.ids.size(), 4u);
    for (int32_t id : o.ids) EXPECT_NE(id, kEos);
  }
}

// Dropout (embeddings, between encoder layers, between decoder layers, output features): with
// the dropout generator rewound before every forward the masks repeat, so the analytic
// gradient must match central differences of the same (training-mode) loss.
TEST(NnRnnSeq2Seq, GradientWithDropoutMatchesFiniteDifferences) {
  for (const char* cell : {"gru", "lstm"}) {
    Config c;
    c.set("src_vocab_size", 13), c.set("tgt_vocab_size", 13), c.set("d_emb", 5), c.set("d_hidden", 6);
    c.set("d_attn", 4), c.set("n_layer", 2), c.set("cell", cell), c.set("dropout", 0.3);
    c.set("tie_weights", true);
    auto m = make_model("rnn", c, 11);
    Rng data(4);
    Batch b = to_batch(reversal_pairs(data, 3));
    const Rng::State start = m->rng().state();
    auto loss = [&]() {
      m->rng().set_state(start);
      return m->forward(b, true).mean_loss();
    };
    ParamStore& ps = m->params();
    ps.zero_grad();
    loss();
    m->backward();
    for (const char* name : {"src_emb.weight", "encoder.weight_hh_l1_reverse", "bridge.bias", "attn.v",
                             "attn.w_k.bias", "decoder.layers.0.bias_ih", "decoder.layers.1.weight_ih",
                             "out_proj.weight", "out.bias"}) {
      const ParamId id = ps.find(name);
      ASSERT_GE(id, 0) << name;
      const int64_t n = ps.info(id).numel;
      std::vector<float> num = test::central_differences(ps.param(id), n, loss);
      // float32 differences of a loss near 2.5 carry ~1e-5 of noise per entry, so the bound is
      // relative plus a small absolute part (small gradients, like attn.w_k.bias, sit near it);
      // a wrong gradient is off by O(1).
      double err = 0, ref = 0;
      for (int64_t i = 0; i < n; ++i) {
        err += (ps.grad(id)[i] - num[i]) * (ps.grad(id)[i] - num[i]);
        ref += num[i] * num[i];
      }
      EXPECT_LE(std::sqrt(err), 1e-2 * std::sqrt(ref) + 1e-4 * std::sqrt(static_cast<double>(n)))
          << cell << " " << name << ": |g - fd| " << std::sqrt(err) << ", |fd| " << std::sqrt(ref);
    }
  }
}
