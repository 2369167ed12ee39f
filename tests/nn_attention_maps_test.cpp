// Model::attention_maps() of every architecture (gpt, transformer, vit, rnn)
// on odd sizes with padding: names, kinds and layer indices, shapes (B, H, Tq,
// Tk), masked keys exactly 0 (causal future, padded source positions) and
// every row summing to 1; and forward on inputs alone (no targets): the same
// logits and maps as with targets, empty Stats, backward() refused.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/model.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

// masked(b, q, k): key k is hidden from query q of row b.
using Masked = std::function<bool(int64_t b, int64_t q, int64_t k)>;

void check_map(const AttentionMap& a, const std::string& name, const std::string& kind, int64_t layer,
               const Shape& shape, const Masked& masked) {
  SCOPED_TRACE(a.name);
  EXPECT_EQ(a.name, name);
  EXPECT_EQ(a.kind, kind);
  EXPECT_EQ(a.layer, layer);
  ASSERT_EQ(a.shape, shape);
  ASSERT_NE(a.weights, nullptr);
  const int64_t B = shape[0], H = shape[1], Tq = shape[2], Tk = shape[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t q = 0; q < Tq; ++q) {
        const float* row = a.weights + ((b * H + h) * Tq + q) * Tk;  // (Tk)
        double sum = 0;
        for (int64_t k = 0; k < Tk; ++k) {
          if (masked(b, q, k)) ASSERT_EQ(row[k], 0.0f) << "b " << b << " h " << h << " q " << q << " k " << k;
          else EXPECT_GT(row[k], 0.0f) << "b " << b << " h " << h << " q " << q << " k " << k;
          sum += row[k];
        }
        ASSERT_NEAR(sum, 1.0, 1e-5) << "b " << b << " h " << h << " q " << q;
      }
}

const Masked kNone = [](int64_t, int64_t, int64_t) { return false; };
const Masked kCausal = [](int64_t, int64_t q, int64_t k) { return k > q; };

// Runs b with and without targets (evaluation mode): same logits and maps,
// no loss without targets, and backward() refused after it.
void check_inputs_only(Model& m, const Batch& with, Batch without, int64_t n_logits) {
  m.forward(with, false);
  const std::vector<float> want(m.logits(), m.logits() + n_logits);
  std::vector<std::vector<float>> want_maps;
  for (const auto& a : m.attention_maps()) {
    int64_t n = 1;
    for (int64_t d : a.shape) n *= d;
    want_maps.emplace_back(a.weights, a.weights + n);
  }
  ASSERT_FALSE(without.has_targets(m.task()));
  Stats s = m.forward(without, false);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.loss_sum, 0.0);
  for (int64_t i = 0; i < n_logits; ++i) ASSERT_EQ(m.logits()[i], want[i]) << i;
  const auto maps = m.attention_maps();
  ASSERT_EQ(maps.size(), want_maps.size());
  for (size_t i = 0; i < maps.size(); ++i)
    for (size_t j = 0; j < want_maps[i].size(); ++j) ASSERT_EQ(maps[i].weights[j], want_maps[i][j]) << maps[i].name;
  EXPECT_THROW(m.backward(), UsageError);
  // a forward with targets makes backward() possible again
  m.forward(with, true);
  EXPECT_NO_THROW(m.backward());
}

TEST(NnAttentionMaps, GptCausalSelfAttention) {
  Config c;
  c.set("vocab_size", 11), c.set("block_size", 9), c.set("n_layer", 3), c.set("n_head", 3), c.set("d_model", 9);
  c.set("dropout", 0.3);
  auto m = make_model("gpt", c, 1);
  const int64_t B = 3, T = 7;
  std::vector<int32_t> inp(B * T), tgt(B * T);
  for (int64_t i = 0; i < B * T; ++i) inp[i] = static_cast<int32_t>((i * 7 + 3) % 11), tgt[i] = static_cast<int32_t>(i % 11);
  tgt[5] = kIgnoreIndex;
  const Batch b = Batch::lm(B, T, inp, tgt);
  for (bool training : {false, true}) {  // with dropout on, the maps are still the softmax before dropout
    m->forward(b, training);
    const auto maps = m->attention_maps();
    ASSERT_EQ(maps.size(), 3u);
    for (int64_t l = 0; l < 3; ++l)
      check_map(maps[l], "transformer.h." + std::to_string(l) + ".attn", "self", l, {B, 3, T, T}, kCausal);
  }
  check_inputs_only(*m, b, Batch::lm(B, T, inp, {}), B * T * 11);
}

TEST(NnAttentionMaps, TransformerEncoderDecoderAndCrossAttention) {
  Config c;
  c.set("src_vocab_size", 13), c.set("tgt_vocab_size", 7), c.set("d_model", 6), c.set("n_head", 3);
  c.set("n_encoder_layers", 2), c.set("n_decoder_layers", 3), c.set("d_ff", 5), c.set("dropout", 0.0);
  auto m = make_model("transformer", c, 2);
  const int64_t B = 3, S = 5, T = 4;
  const std::vector<int64_t> src_len = {5, 3, 1};  // rows padded with pad_id 0 after src_len
  std::vector<int32_t> src(B * S, 0), tgt_in(B * T), tgt_out(B * T);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < src_len[b]; ++s) src[b * S + s] = static_cast<int32_t>(1 + (b * 5 + s * 3) % 12);
  for (int64_t i = 0; i < B * T; ++i) tgt_in[i] = static_cast<int32_t>(1 + i % 6), tgt_out[i] = static_cast<int32_t>(i % 7);
  const Batch b = Batch::seq2seq(B, S, T, src, tgt_in, tgt_out);
  m->forward(b, false);
  const auto maps = m->attention_maps();
  ASSERT_EQ(maps.size(), 2u + 2u * 3u);
  const Masked pad_keys = [&](int64_t bi, int64_t, int64_t k) { return k >= src_len[bi]; };
  for (int64_t l = 0; l < 2; ++l)
    check_map(maps[l], "transformer.encoder.layers." + std::to_string(l) + ".self_attn", "encoder_self", l,
              {B, 3, S, S}, pad_keys);
  for (int64_t l = 0; l < 3; ++l) {
    const std::string p = "transformer.decoder.layers." + std::to_string(l);
    check_map(maps[2 + 2 * l], p + ".self_attn", "decoder_self", l, {B, 3, T, T}, kCausal);
    check_map(maps[3 + 2 * l], p + ".multihead_attn", "cross", l, {B, 3, T, S}, pad_keys);
  }
  check_inputs_only(*m, b, Batch::seq2seq(B, S, T, src, tgt_in, {}), B * T * 7);
}

TEST(NnAttentionMaps, VitSelfAttentionWithAndWithoutCls) {
  for (const char* pool : {"cls", "mean"}) {
    SCOPED_TRACE(pool);
    Config c;
    c.set("patch_dim", 7), c.set("n_patches", 5), c.set("n_classes", 3), c.set("d_model", 9), c.set("n_head", 3);
    c.set("n_layer", 2), c.set("d_ff", 11), c.set("pool", pool);
    auto m = make_model("vit", c, 3);
    const int64_t B = 3, P = 5, D = 7, N = std::string(pool) == "cls" ? P + 1 : P;
    std::vector<float> patches(B * P * D);
    for (size_t i = 0; i < patches.size(); ++i) patches[i] = std::sin(0.37f * static_cast<float>(i));
    const Batch b = Batch::images(B, P, D, patches, {0, 2, 1});
    m->forward(b, false);
    const auto maps = m->attention_maps();
    ASSERT_EQ(maps.size(), 2u);
    for (int64_t l = 0; l < 2; ++l)
      check_map(maps[l], "encoder.layers." + std::to_string(l) + ".self_attn", "self", l, {B, 3, N, N}, kNone);
    check_inputs_only(*m, b, Batch::images(B, P, D, patches, {}), B * 3);
  }
}

TEST(NnAttentionMaps, RnnAdditiveAttentionOverPaddedSources) {
  for (const char* cell : {"gru", "lstm"}) {
    SCOPED_TRACE(cell);
    Config c;
    c.set("src_vocab_size", 13), c.set("tgt_vocab_size", 7), c.set("d_emb", 5), c.set("d_hidden", 6);
    c.set("d_attn", 3), c.set("n_layer", 2), c.set("cell", cell), c.set("dropout", 0.0);
    auto m = make_model("rnn", c, 4);
    const int64_t B = 3, S = 5, T = 4;
    const std::vector<int64_t> src_len = {2, 5, 3};
    std::vector<int32_t> src(B * S, 0), tgt_in(B * T), tgt_out(B * T);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < src_len[b]; ++s) src[b * S + s] = static_cast<int32_t>(1 + (b * 5 + s * 3) % 12);
    for (int64_t i = 0; i < B * T; ++i) tgt_in[i] = static_cast<int32_t>(1 + i % 6), tgt_out[i] = static_cast<int32_t>(i % 7);
    const Batch b = Batch::seq2seq(B, S, T, src, tgt_in, tgt_out);
    m->forward(b, false);
    const auto maps = m->attention_maps();
    ASSERT_EQ(maps.size(), 1u);
    check_map(maps[0], "attn", "additive", 0, {B, 1, T, S},
              [&](int64_t bi, int64_t, int64_t k) { return k >= src_len[bi]; });
    check_inputs_only(*m, b, Batch::seq2seq(B, S, T, src, tgt_in, {}), B * T * 7);
  }
}

}  // namespace
