// Encoder and decoder layers (pre- and post-norm) and the feed-forward block
// against PyTorch's nn.TransformerEncoderLayer / nn.TransformerDecoderLayer,
// plus finite-difference gradient checks (with dropout active, mask fixed by seed).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "nn/feed_forward.h"
#include "nn/transformer_layer.h"
#include "support/nn_check.h"

using namespace qkv;
using namespace qkv::nn;
using qkv::test::expect_close;
using qkv::test::ModuleParams;
using qkv::test::RefCase;

namespace {

MhaWeights mha_w(ModuleParams& p, const std::string& pre) {
  return {p.p(pre + ".in_proj_weight"), p.p(pre + ".in_proj_bias"), p.p(pre + ".out_proj.weight"),
          p.p(pre + ".out_proj.bias")};
}
MhaGrads mha_g(ModuleParams& p, const std::string& pre) {
  return {p.g(pre + ".in_proj_weight"), p.g(pre + ".in_proj_bias"), p.g(pre + ".out_proj.weight"),
          p.g(pre + ".out_proj.bias")};
}
LayerNormWeights ln_w(ModuleParams& p, const std::string& n) { return {p.p(n + ".weight"), p.p(n + ".bias")}; }
LayerNormGrads ln_g(ModuleParams& p, const std::string& n) { return {p.g(n + ".weight"), p.g(n + ".bias")}; }
FfnWeights ff_w(ModuleParams& p) {
  return {p.p("linear1.weight"), p.p("linear1.bias"), p.p("linear2.weight"), p.p("linear2.bias")};
}
FfnGrads ff_g(ModuleParams& p) {
  return {p.g("linear1.weight"), p.g("linear1.bias"), p.g("linear2.weight"), p.g("linear2.bias")};
}

TransformerLayerConfig config_of(const RefCase& r, int64_t C) {
  TransformerLayerConfig cfg;
  cfg.d_model = C;
  cfg.n_head = static_cast<int64_t>(r.attr("n_head"));
  cfg.d_ff = static_cast<int64_t>(r.attr("d_ff"));
  cfg.norm_first = r.attr("norm_first") != 0;
  cfg.causal = r.attr("causal") != 0;
  cfg.activation = activation_from_name(RefCase::file().attr_string(r.group(), "activation"));
  return cfg;
}

}  // namespace

TEST(NnFeedForward, MatchesTorch) {
  RefCase r("ffn_gelu");
  ModuleParams p(r);
  Tensor x = r.f("inp"), dout = r.f("dout");
  const int64_t C = x.dim(-1), N = x.numel() / C, F = 20;
  FfnCache cache;
  std::vector<float> out(N * C), dx(N * C, 0.f);
  ffn_forward(out.data(), x.data<float>(), ff_w(p), N, C, F, Activation::gelu_erf, 0.0f, nullptr, cache);
  expect_close(out, r.f("out"), "out");
  ffn_backward(dx.data(), ff_g(p), dout.data<float>(), x.data<float>(), ff_w(p), cache);
  expect_close(dx, r.f("dinp"), "dinp");
  p.expect_grads();
}

class NnEncoderLayer : public ::testing::TestWithParam<const char*> {};

TEST_P(NnEncoderLayer, MatchesTorch) {
  RefCase r(GetParam());
  ModuleParams p(r);
  Tensor x = r.f("inp"), dout = r.f("dout");
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  auto cfg = config_of(r, C);
  auto kpm = test::bytes(r.i("key_padding_mask"));
  EncoderLayerWeights w{mha_w(p, "self_attn"), ln_w(p, "norm1"), ln_w(p, "norm2"), ff_w(p)};
  EncoderLayerGrads g{mha_g(p, "self_attn"), ln_g(p, "norm1"), ln_g(p, "norm2"), ff_g(p)};
  EncoderLayerCache cache;
  std::vector<float> out(B * T * C), dx(B * T * C, 0.f);
  encoder_layer_forward(out.data(), x.data<float>(), kpm.data(), w, cfg, B, T, /*training=*/true, nullptr, cache);
  expect_close(out, r.f("out"), "out");
  encoder_layer_backward(dx.data(), g, dout.data<float>(), x.data<float>(), w, cache);
  expect_close(dx, r.f("dinp"), "dinp");
  p.expect_grads();
  // a second step through the same cache gives the same answer (the cache is reusable)
  p.zero_grads();
  std::vector<float> dx2(B * T * C, 0.f);
  encoder_layer_forward(out.data(), x.data<float>(), kpm.data(), w, cfg, B, T, true, nullptr, cache);
  encoder_layer_backward(dx2.data(), g, dout.data<float>(), x.data<float>(), w, cache);
  EXPECT_EQ(dx, dx2);
  p.expect_grads();
}
INSTANTIATE_TEST_SUITE_P(Cases, NnEncoderLayer, ::testing::Values("enc_post_relu_pad", "enc_pre_gelu_causal_pad"));

class NnDecoderLayer : public ::testing::TestWithParam<const char*> {};

TEST_P(NnDecoderLayer, MatchesTorch) {
  RefCase r(GetParam());
  ModuleParams p(r);
  Tensor x = r.f("inp"), mem = r.f("memory"), dout = r.f("dout");
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2), S = mem.dim(1);
  auto cfg = config_of(r, C);
  auto tpm = test::bytes(r.i("tgt_key_padding_mask")), mpm = test::bytes(r.i("memory_key_padding_mask"));
  DecoderLayerWeights w{mha_w(p, "self_attn"), mha_w(p, "multihead_attn"), ln_w(p, "norm1"), ln_w(p, "norm2"),
                        ln_w(p, "norm3"), ff_w(p)};
  DecoderLayerGrads g{mha_g(p, "self_attn"), mha_g(p, "multihead_attn"), ln_g(p, "norm1"), ln_g(p, "norm2"),
                      ln_g(p, "norm3"), ff_g(p)};
  DecoderLayerCache cache;
  std::vector<float> out(B * T * C), dx(B * T * C, 0.f), dmem(B * S * C, 0.f);
  decoder_layer_forward(out.data(), x.data<float>(), mem.data<float>(), tpm.data(), mpm.data(), w, cfg, B, T, S, true,
                        nullptr, cache);
  expect_close(out, r.f("out"), "out");
  decoder_layer_backward(dx.data(), dmem.data(), g, dout.data<float>(), x.data<float>(), mem.data<float>(), w, cache);
  expect_close(dx, r.f("dinp"), "dinp");
  expect_close(dmem, r.f("dmemory"), "dmemory");
  p.expect_grads();
}
INSTANTIATE_TEST_SUITE_P(Cases, NnDecoderLayer, ::testing::Values("dec_post_relu_pad", "dec_pre_gelu_pad"));

// Random parameters for a gradient check (LayerNorm weights near 1).
struct RandomLayer {
  std::map<std::string, std::vector<float>> p, g;
  float* P(const std::string& n) { return p.at(n).data(); }
  float* G(const std::string& n) { return g.at(n).data(); }
  void add(const std::string& n, int64_t size, Rng& rng, float scale, float offset = 0.f) {
    p[n] = test::randn(size, rng, scale);
    for (auto& v : p[n]) v += offset;
    g[n] = std::vector<float>(size, 0.f);
  }
  void add_mha(const std::string& pre, int64_t C, Rng& rng) {
    add(pre + ".in_proj_weight", 3 * C * C, rng, 0.3f);
    add(pre + ".in_proj_bias", 3 * C, rng, 0.1f);
    add(pre + ".out_proj.weight", C * C, rng, 0.3f);
    add(pre + ".out_proj.bias", C, rng, 0.1f);
  }
  MhaWeights mw(const std::string& pre) {
    return {P(pre + ".in_proj_weight"), P(pre + ".in_proj_bias"), P(pre + ".out_proj.weight"),
            P(pre + ".out_proj.bias")};
  }
  MhaGrads mg(const std::string& pre) {
    return {G(pre + ".in_proj_weight"), G(pre + ".in_proj_bias"), G(pre + ".out_proj.weight"),
            G(pre + ".out_proj.bias")};
  }
  std::vector<test::GradParam> params() {
    std::vector<test::GradParam> v;
    for (auto& [n, x] : p) v.push_back({n, x.data(), g[n].data(), static_cast<int64_t>(x.size())});
    return v;
  }
};

class NnLayerGradcheck : public ::testing::TestWithParam<bool> {};

TEST_P(NnLayerGradcheck, DecoderWithDropoutAndMasks) {
  const bool norm_first = GetParam();
  Rng rng(77);
  const int64_t B = 2, T = 4, S = 5, C = 8, F = 12;
  RandomLayer L;
  L.add_mha("self_attn", C, rng);
  L.add_mha("multihead_attn", C, rng);
  for (const char* n : {"norm1", "norm2", "norm3"}) {
    L.add(std::string(n) + ".weight", C, rng, 0.2f, 1.0f);
    L.add(std::string(n) + ".bias", C, rng, 0.1f);
  }
  L.add("linear1.weight", F * C, rng, 0.3f);
  L.add("linear1.bias", F, rng, 0.1f);
  L.add("linear2.weight", C * F, rng, 0.3f);
  L.add("linear2.bias", C, rng, 0.1f);
  auto x = test::randn(B * T * C, rng), mem = test::randn(B * S * C, rng), dout = test::randn(B * T * C, rng);
  std::vector<uint8_t> tpm = {0, 0, 0, 0, 0, 0, 0, 1}, mpm = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
  TransformerLayerConfig cfg;
  cfg.d_model = C, cfg.n_head = 2, cfg.d_ff = F, cfg.norm_first = norm_first, cfg.causal = true;
  cfg.activation = Activation::gelu_tanh;
  cfg.dropout(0.2f);
  auto W = [&] {
    return DecoderLayerWeights{L.mw("self_attn"), L.mw("multihead_attn"), {L.P("norm1.weight"), L.P("norm1.bias")},
                               {L.P("norm2.weight"), L.P("norm2.bias")}, {L.P("norm3.weight"), L.P("norm3.bias")},
                               {L.P("linear1.weight"), L.P("linear1.bias"), L.P("linear2.weight"), L.P("linear2.bias")}};
  };
  DecoderLayerGrads G{L.mg("self_attn"), L.mg("multihead_attn"), {L.G("norm1.weight"), L.G("norm1.bias")},
                      {L.G("norm2.weight"), L.G("norm2.bias")}, {L.G("norm3.weight"), L.G("norm3.bias")},
                      {L.G("linear1.weight"), L.G("linear1.bias"), L.G("linear2.weight"), L.G("linear2.bias")}};
  std::vector<float> out(B * T * C), dx(B * T * C, 0.f), dmem(B * S * C, 0.f);
  DecoderLayerCache cache;
  Rng drop(3);
  decoder_layer_forward(out.data(), x.data(), mem.data(), tpm.data(), mpm.data(), W(), cfg, B, T, S, true, &drop, cache);
  decoder_layer_backward(dx.data(), dmem.data(), G, dout.data(), x.data(), mem.data(), W(), cache);
  auto loss = [&] {
    DecoderLayerCache c;
    Rng d(3);  // same masks as the analytic pass
    std::vector<float> o(B * T * C);
    decoder_layer_forward(o.data(), x.data(), mem.data(), tpm.data(), mpm.data(), W(), cfg, B, T, S, true, &d, c);
    return test::dot(o.data(), dout.data(), o.size());
  };
  auto params = L.params();
  params.push_back({"x", x.data(), dx.data(), static_cast<int64_t>(x.size())});
  params.push_back({"memory", mem.data(), dmem.data(), static_cast<int64_t>(mem.size())});
  Rng dir(8);
  test::gradcheck(loss, params, dir);
}

TEST_P(NnLayerGradcheck, EncoderReluNoBiasLayerNorm) {
  const bool norm_first = GetParam();
  Rng rng(78);
  const int64_t B = 2, T = 5, C = 8, F = 16;
  RandomLayer L;
  L.add_mha("self_attn", C, rng);
  L.add("norm1.weight", C, rng, 0.2f, 1.0f);
  L.add("norm2.weight", C, rng, 0.2f, 1.0f);
  L.add("linear1.weight", F * C, rng, 0.3f);
  L.add("linear2.weight", C * F, rng, 0.3f);
  auto x = test::randn(B * T * C, rng), dout = test::randn(B * T * C, rng);
  std::vector<uint8_t> kpm = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
  TransformerLayerConfig cfg;
  cfg.d_model = C, cfg.n_head = 4, cfg.d_ff = F, cfg.norm_first = norm_first;
  cfg.activation = Activation::relu;
  EncoderLayerWeights W{L.mw("self_attn"), {L.P("norm1.weight"), nullptr}, {L.P("norm2.weight"), nullptr},
                        {L.P("linear1.weight"), nullptr, L.P("linear2.weight"), nullptr}};
  EncoderLayerGrads G{L.mg("self_attn"), {L.G("norm1.weight"), nullptr}, {L.G("norm2.weight"), nullptr},
                      {L.G("linear1.weight"), nullptr, L.G("linear2.weight"), nullptr}};
  std::vector<float> out(B * T * C), dx(B * T * C, 0.f);
  EncoderLayerCache cache;
  encoder_layer_forward(out.data(), x.data(), kpm.data(), W, cfg, B, T, false, nullptr, cache);
  encoder_layer_backward(dx.data(), G, dout.data(), x.data(), W, cache);
  auto loss = [&] {
    EncoderLayerCache c;
    std::vector<float> o(B * T * C);
    encoder_layer_forward(o.data(), x.data(), kpm.data(), W, cfg, B, T, false, nullptr, c);
    return test::dot(o.data(), dout.data(), o.size());
  };
  auto params = L.params();
  params.push_back({"x", x.data(), dx.data(), static_cast<int64_t>(x.size())});
  Rng dir(9);
  // ReLU kinks: a small step keeps the perturbation off them
  test::gradcheck(loss, params, dir, 2e-3, 5e-3);
}
INSTANTIATE_TEST_SUITE_P(Norm, NnLayerGradcheck, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "PreNorm" : "PostNorm"); });

TEST(NnTransformerLayer, BadConfigIsAClearError) {
  TransformerLayerConfig cfg;
  cfg.d_model = 10, cfg.n_head = 3, cfg.d_ff = 4;
  EncoderLayerCache c;
  std::vector<float> x(10), out(10);
  EXPECT_THROW(encoder_layer_forward(out.data(), x.data(), nullptr, {}, cfg, 1, 1, false, nullptr, c), DataError);
}
