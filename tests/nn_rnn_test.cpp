// GRU / LSTM layers and additive attention against PyTorch (tests/ref/rnn.h5, made by
// scripts/ref/make_rnn_refs.py) and against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/h5.h"
#include "nn/additive_attention.h"
#include "nn/rnn.h"
#include "support/finite_diff.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

constexpr double kTol = 1e-5;

std::vector<float> read_vec(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::f32);
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

std::vector<uint8_t> mask_from_lengths(const io::H5In& in, const std::string& name, int64_t T) {
  Tensor len = in.read(name, DType::i32, 1);
  std::vector<uint8_t> m(len.numel() * T, 0);
  for (int64_t b = 0; b < len.numel(); ++b)
    for (int64_t t = 0; t < T && t < len.data<int32_t>()[b]; ++t) m[b * T + t] = 1;
  return m;
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return ops::rel_error(a.data(), b.data(), static_cast<int64_t>(b.size()));
}

io::H5In& refs() {
  static io::H5In in(test::source_path("tests/ref/rnn.h5"));
  return in;
}

// Parameters of a stacked RNN read from a reference group, in PyTorch names.
struct StackParams {
  RnnStackShape shape;
  std::vector<std::vector<float>> w_ih, w_hh, b_ih, b_hh;  // per layer*dir
  std::vector<std::vector<float>> g_ih, g_hh, gb_ih, gb_hh;
  std::vector<RnnWeights> weights;
  std::vector<RnnGrads> grads;

  static std::string suffix(int64_t l, int64_t d) { return "_l" + std::to_string(l) + (d ? "_reverse" : ""); }

  void load(const io::H5In& in, const std::string& grp) {
    const int64_t L = shape.layers, D = shape.dirs(), G = rnn_gates(shape.cell), H = shape.hidden;
    for (int64_t l = 0; l < L; ++l)
      for (int64_t d = 0; d < D; ++d) {
        std::string s = suffix(l, d);
        w_ih.push_back(read_vec(in, grp + "/params/weight_ih" + s));
        w_hh.push_back(read_vec(in, grp + "/params/weight_hh" + s));
        b_ih.push_back(read_vec(in, grp + "/params/bias_ih" + s));
        b_hh.push_back(read_vec(in, grp + "/params/bias_hh" + s));
        const int64_t in_dim = l == 0 ? shape.input : shape.out_dim();
        EXPECT_EQ(static_cast<int64_t>(w_ih.back().size()), G * H * in_dim);
      }
    finish();
  }

  void random(std::mt19937& rng, float scale) {
    const int64_t L = shape.layers, D = shape.dirs(), G = rnn_gates(shape.cell), H = shape.hidden;
    std::normal_distribution<float> nd(0.0f, scale);
    auto gen = [&](int64_t n) {
      std::vector<float> v(n);
      for (auto& x : v) x = nd(rng);
      return v;
    };
    for (int64_t l = 0; l < L; ++l)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t in_dim = l == 0 ? shape.input : shape.out_dim();
        w_ih.push_back(gen(G * H * in_dim));
        w_hh.push_back(gen(G * H * H));
        b_ih.push_back(gen(G * H));
        b_hh.push_back(gen(G * H));
      }
    finish();
  }

  void finish() {
    for (size_t k = 0; k < w_ih.size(); ++k) {
      g_ih.emplace_back(w_ih[k].size(), 0.0f);
      g_hh.emplace_back(w_hh[k].size(), 0.0f);
      gb_ih.emplace_back(b_ih[k].size(), 0.0f);
      gb_hh.emplace_back(b_hh[k].size(), 0.0f);
    }
    for (size_t k = 0; k < w_ih.size(); ++k) {
      weights.push_back({w_ih[k].data(), w_hh[k].data(), b_ih[k].data(), b_hh[k].data()});
      grads.push_back({g_ih[k].data(), g_hh[k].data(), gb_ih[k].data(), gb_hh[k].data()});
    }
  }
};

void check_rnn_case(const std::string& grp) {
  const io::H5In& in = refs();
  StackParams p;
  p.shape.cell = parse_rnn_cell(in.attr_string(grp, "cell"));
  const int64_t B = in.attr_int(grp, "batch"), T = in.attr_int(grp, "steps");
  p.shape.input = in.attr_int(grp, "input");
  p.shape.hidden = in.attr_int(grp, "hidden");
  p.shape.layers = in.attr_int(grp, "layers");
  p.shape.bidirectional = in.attr_int(grp, "bidirectional") != 0;
  p.load(in, grp);
  const bool lstm = p.shape.cell == RnnCell::lstm;
  const bool has_h0 = in.has(grp + "/h0");
  const int64_t I = p.shape.input, OD = p.shape.out_dim(), LD = p.shape.layers * p.shape.dirs(), H = p.shape.hidden;

  std::vector<uint8_t> mask = mask_from_lengths(in, grp + "/lengths", T);
  std::vector<float> x = read_vec(in, grp + "/x");
  std::vector<float> h0 = has_h0 ? read_vec(in, grp + "/h0") : std::vector<float>();
  std::vector<float> c0 = (has_h0 && lstm) ? read_vec(in, grp + "/c0") : std::vector<float>();
  std::vector<float> y(B * T * OD), h_n(LD * B * H), c_n(lstm ? LD * B * H : 0);
  RnnStackCache cache;
  rnn_stack_forward(p.shape, B, T, x.data(), has_h0 ? h0.data() : nullptr, lstm && has_h0 ? c0.data() : nullptr,
                    p.weights, mask.data(), y.data(), h_n.data(), lstm ? c_n.data() : nullptr, cache);
  EXPECT_LE(rel(y, read_vec(in, grp + "/y")), kTol) << grp << " y";
  EXPECT_LE(rel(h_n, read_vec(in, grp + "/h_n")), kTol) << grp << " h_n";
  if (lstm) EXPECT_LE(rel(c_n, read_vec(in, grp + "/c_n")), kTol) << grp << " c_n";

  std::vector<float> dy = read_vec(in, grp + "/dy"), dh_n = read_vec(in, grp + "/dh_n");
  std::vector<float> dc_n = lstm ? read_vec(in, grp + "/dc_n") : std::vector<float>();
  std::vector<float> dx(B * T * I, 0.0f), dh0(LD * B * H, 0.0f), dc0(LD * B * H, 0.0f);
  rnn_stack_backward(p.shape, p.weights, dy.data(), dh_n.data(), lstm ? dc_n.data() : nullptr, p.grads, dx.data(),
                     dh0.data(), lstm ? dc0.data() : nullptr, cache);
  EXPECT_LE(rel(dx, read_vec(in, grp + "/dx")), kTol) << grp << " dx";
  if (has_h0) {
    EXPECT_LE(rel(dh0, read_vec(in, grp + "/dh0")), kTol) << grp << " dh0";
    if (lstm) EXPECT_LE(rel(dc0, read_vec(in, grp + "/dc0")), kTol) << grp << " dc0";
  }
  for (int64_t l = 0; l < p.shape.layers; ++l)
    for (int64_t d = 0; d < p.shape.dirs(); ++d) {
      const int64_t k = l * p.shape.dirs() + d;
      const std::string s = StackParams::suffix(l, d);
      EXPECT_LE(rel(p.g_ih[k], read_vec(in, grp + "/grads/weight_ih" + s)), kTol) << grp << s;
      EXPECT_LE(rel(p.g_hh[k], read_vec(in, grp + "/grads/weight_hh" + s)), kTol) << grp << s;
      EXPECT_LE(rel(p.gb_ih[k], read_vec(in, grp + "/grads/bias_ih" + s)), kTol) << grp << s;
      EXPECT_LE(rel(p.gb_hh[k], read_vec(in, grp + "/grads/bias_hh" + s)), kTol) << grp << s;
    }
}

}  // namespace

TEST(NnRnnTorch, GruOneDirection) { check_rnn_case("gru_uni"); }
TEST(NnRnnTorch, GruBidirectionalTwoLayers) { check_rnn_case("gru_bi2"); }
TEST(NnRnnTorch, GruZeroInitialState) { check_rnn_case("gru_nostate"); }
TEST(NnRnnTorch, LstmOneDirection) { check_rnn_case("lstm_uni"); }
TEST(NnRnnTorch, LstmBidirectionalTwoLayers) { check_rnn_case("lstm_bi2"); }

namespace {

struct AttnParams {
  AdditiveAttentionDims d;
  std::vector<float> w_q, w_k, b_k, v, g_wq, g_wk, g_bk, g_v;
  void zero_grads() {
    g_wq.assign(w_q.size(), 0.0f);
    g_wk.assign(w_k.size(), 0.0f);
    g_bk.assign(b_k.size(), 0.0f);
    g_v.assign(v.size(), 0.0f);
  }
};

// Full module: keys projection, attention, backward of both.
void attention_run(AttnParams& p, const std::vector<float>& q, const std::vector<float>& k, const uint8_t* mask,
                   std::vector<float>& ctx, std::vector<float>& w, const std::vector<float>* dctx,
                   std::vector<float>* dq, std::vector<float>* dk) {
  const auto& d = p.d;
  std::vector<float> kp(d.B * d.S * d.A), scratch;
  ctx.assign(d.B * d.Tq * d.Dk, 0.0f);
  w.assign(d.B * d.Tq * d.S, 0.0f);
  additive_attention_keys_forward(d, k.data(), p.w_k.data(), p.b_k.data(), kp.data());
  additive_attention_forward(d, q.data(), k.data(), kp.data(), mask, p.w_q.data(), p.v.data(), ctx.data(), w.data(),
                             d.S, scratch);
  if (!dctx) return;
  std::vector<float> dkp(kp.size(), 0.0f);
  additive_attention_backward(d, dctx->data(), q.data(), k.data(), kp.data(), mask, w.data(), d.S, p.w_q.data(),
                              p.v.data(), dq->data(), dk->data(), dkp.data(), p.g_wq.data(), p.g_v.data(), scratch);
  additive_attention_keys_backward(d, dkp.data(), k.data(), p.w_k.data(), dk->data(), p.g_wk.data(), p.g_bk.data());
}

void check_attention_case(const std::string& grp) {
  const io::H5In& in = refs();
  AttnParams p;
  p.d.B = in.attr_int(grp, "batch");
  p.d.Tq = in.attr_int(grp, "queries");
  p.d.S = in.attr_int(grp, "keys");
  p.d.Dq = in.attr_int(grp, "query_dim");
  p.d.Dk = in.attr_int(grp, "key_dim");
  p.d.A = in.attr_int(grp, "attn_dim");
  p.w_q = read_vec(in, grp + "/params/w_q.weight");
  p.w_k = read_vec(in, grp + "/params/w_k.weight");
  p.b_k = read_vec(in, grp + "/params/w_k.bias");
  p.v = read_vec(in, grp + "/params/v");
  p.zero_grads();
  std::vector<uint8_t> mask = mask_from_lengths(in, grp + "/key_lengths", p.d.S);
  std::vector<float> q = read_vec(in, grp + "/query"), k = read_vec(in, grp + "/keys_in");
  std::vector<float> dctx = read_vec(in, grp + "/dctx");
  std::vector<float> ctx, w, dq(q.size(), 0.0f), dk(k.size(), 0.0f);
  attention_run(p, q, k, mask.data(), ctx, w, &dctx, &dq, &dk);
  EXPECT_LE(rel(ctx, read_vec(in, grp + "/ctx")), kTol) << grp;
  EXPECT_LE(rel(w, read_vec(in, grp + "/weights")), kTol) << grp;
  EXPECT_LE(rel(dq, read_vec(in, grp + "/dquery")), kTol) << grp;
  EXPECT_LE(rel(dk, read_vec(in, grp + "/dkeys")), kTol) << grp;
  EXPECT_LE(rel(p.g_wq, read_vec(in, grp + "/grads/w_q.weight")), kTol) << grp;
  EXPECT_LE(rel(p.g_wk, read_vec(in, grp + "/grads/w_k.weight")), kTol) << grp;
  EXPECT_LE(rel(p.g_bk, read_vec(in, grp + "/grads/w_k.bias")), kTol) << grp;
  EXPECT_LE(rel(p.g_v, read_vec(in, grp + "/grads/v")), kTol) << grp;
}

}  // namespace

TEST(NnAdditiveAttentionTorch, PaddedKeys) { check_attention_case("attention"); }
TEST(NnAdditiveAttentionTorch, NoPadding) { check_attention_case("attention_full"); }

TEST(NnAdditiveAttention, AllPaddedRowGivesZeroWeightsAndContext) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  AttnParams p;
  p.d = {2, 2, 3, 4, 5, 6};
  auto gen = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  p.w_q = gen(6 * 4), p.w_k = gen(6 * 5), p.b_k = gen(6), p.v = gen(6);
  p.zero_grads();
  std::vector<uint8_t> mask = {1, 0, 1, 0, 0, 0};  // batch row 1 has no real key
  std::vector<float> q = gen(2 * 2 * 4), k = gen(2 * 3 * 5), ctx, w, dctx = gen(2 * 2 * 5);
  std::vector<float> dq(q.size(), 0.0f), dk(k.size(), 0.0f);
  attention_run(p, q, k, mask.data(), ctx, w, &dctx, &dq, &dk);
  for (int i = 6; i < 12; ++i) EXPECT_EQ(w[i], 0.0f);
  for (int i = 10; i < 20; ++i) EXPECT_EQ(ctx[i], 0.0f);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(dq[i], 0.0f);   // no gradient reaches its queries
  for (int i = 15; i < 30; ++i) EXPECT_EQ(dk[i], 0.0f);  // nor its keys
  EXPECT_NEAR(w[0] + w[2], 1.0f, 1e-6);
  EXPECT_EQ(w[1], 0.0f);
}

// ---- finite differences (float32, central, step 1e-2) ----
namespace {

// Compares analytic gradient g of f w.r.t. the values in x against central differences.
double fd_rel_error(std::vector<float>& x, const std::vector<float>& g, const std::function<double()>& f) {
  std::vector<float> num = test::central_differences(x.data(), static_cast<int64_t>(x.size()), f);
  return ops::rel_error(g.data(), num.data(), static_cast<int64_t>(num.size()));
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

void fd_check_rnn(RnnCell cell, bool bidirectional, int64_t layers) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  StackParams p;
  p.shape = {cell, 3, 4, layers, bidirectional};
  p.random(rng, 0.5f);
  const int64_t B = 3, T = 5, I = 3, H = 4, OD = p.shape.out_dim(), LD = layers * p.shape.dirs();
  const bool lstm = cell == RnnCell::lstm;
  auto gen = [&](int64_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  // A mask with a hole in the middle and a leading pad: more than right padding.
  std::vector<uint8_t> mask = {1, 1, 1, 1, 1, /**/ 1, 0, 1, 1, 0, /**/ 0, 1, 1, 0, 0};
  std::vector<float> x = gen(B * T * I), h0 = gen(LD * B * H), c0 = gen(LD * B * H);
  std::vector<float> ry = gen(B * T * OD), rh = gen(LD * B * H), rc = gen(LD * B * H);
  RnnStackCache cache;
  std::vector<float> y(B * T * OD), h_n(LD * B * H), c_n(LD * B * H);
  auto loss = [&]() {
    rnn_stack_forward(p.shape, B, T, x.data(), h0.data(), lstm ? c0.data() : nullptr, p.weights, mask.data(),
                      y.data(), h_n.data(), lstm ? c_n.data() : nullptr, cache);
    return dot(y, ry) + dot(h_n, rh) + (lstm ? dot(c_n, rc) : 0.0);
  };
  loss();
  std::vector<float> dx(x.size(), 0.0f), dh0(h0.size(), 0.0f), dc0(c0.size(), 0.0f);
  rnn_stack_backward(p.shape, p.weights, ry.data(), rh.data(), lstm ? rc.data() : nullptr, p.grads, dx.data(),
                     dh0.data(), lstm ? dc0.data() : nullptr, cache);
  const double tol = 2e-3;
  EXPECT_LE(fd_rel_error(x, dx, loss), tol) << "dx";
  EXPECT_LE(fd_rel_error(h0, dh0, loss), tol) << "dh0";
  if (lstm) EXPECT_LE(fd_rel_error(c0, dc0, loss), tol) << "dc0";
  for (size_t k = 0; k < p.w_ih.size(); ++k) {
    EXPECT_LE(fd_rel_error(p.w_ih[k], p.g_ih[k], loss), tol) << "w_ih " << k;
    EXPECT_LE(fd_rel_error(p.w_hh[k], p.g_hh[k], loss), tol) << "w_hh " << k;
    EXPECT_LE(fd_rel_error(p.b_ih[k], p.gb_ih[k], loss), tol) << "b_ih " << k;
    EXPECT_LE(fd_rel_error(p.b_hh[k], p.gb_hh[k], loss), tol) << "b_hh " << k;
  }
}

}  // namespace

TEST(NnRnnFiniteDifference, Gru) { fd_check_rnn(RnnCell::gru, false, 1); }
TEST(NnRnnFiniteDifference, GruBidirectionalTwoLayers) { fd_check_rnn(RnnCell::gru, true, 2); }
TEST(NnRnnFiniteDifference, Lstm) { fd_check_rnn(RnnCell::lstm, false, 1); }
TEST(NnRnnFiniteDifference, LstmBidirectionalTwoLayers) { fd_check_rnn(RnnCell::lstm, true, 2); }

TEST(NnAdditiveAttentionFiniteDifference, AllInputsAndParameters) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  auto gen = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  AttnParams p;
  p.d = {2, 3, 4, 3, 5, 6};
  p.w_q = gen(6 * 3), p.w_k = gen(6 * 5), p.b_k = gen(6), p.v = gen(6);
  p.zero_grads();
  std::vector<uint8_t> mask = {1, 0, 1, 1, 1, 1, 1, 0};
  std::vector<float> q = gen(2 * 3 * 3), k = gen(2 * 4 * 5), rc = gen(2 * 3 * 5), ctx, w;
  auto loss = [&]() {
    attention_run(p, q, k, mask.data(), ctx, w, nullptr, nullptr, nullptr);
    return dot(ctx, rc);
  };
  std::vector<float> dq(q.size(), 0.0f), dk(k.size(), 0.0f);
  attention_run(p, q, k, mask.data(), ctx, w, &rc, &dq, &dk);
  const double tol = 2e-3;
  EXPECT_LE(fd_rel_error(q, dq, loss), tol);
  EXPECT_LE(fd_rel_error(k, dk, loss), tol);
  EXPECT_LE(fd_rel_error(p.w_q, p.g_wq, loss), tol);
  EXPECT_LE(fd_rel_error(p.w_k, p.g_wk, loss), tol);
  EXPECT_LE(fd_rel_error(p.b_k, p.g_bk, loss), tol);
  EXPECT_LE(fd_rel_error(p.v, p.g_v, loss), tol);
}

TEST(NnRnn, ParseCellNames) {
  EXPECT_EQ(parse_rnn_cell("gru"), RnnCell::gru);
  EXPECT_EQ(parse_rnn_cell("lstm"), RnnCell::lstm);
  EXPECT_THROW(parse_rnn_cell("rnn_tanh"), DataError);
}
