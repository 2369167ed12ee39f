// What lets the data-parallel gradient sum overlap the backward
// (train/grad_sum.h): every model's backward reports its marks
// (nn::ParamStore::grads_final_from) last to first, and no gradient at or
// beyond a reported offset changes afterwards in that backward, tied and
// shared embeddings included; and the bucket plan. The sum itself over 2 and
// 3 ranks: tests/dist_grad_sum_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nn/model.h"
#include "train/grad_sum.h"

using namespace qkv;

namespace {

// "key=value ..." (integers, decimals with a point, else strings).
nn::Config config_of(const std::string& spec) {
  nn::Config c;
  std::istringstream in(spec);
  for (std::string kv; in >> kv;) {
    const std::string k = kv.substr(0, kv.find('=')), v = kv.substr(kv.find('=') + 1);
    if (v.find_first_not_of("0123456789") == std::string::npos) c.set(k, static_cast<int64_t>(std::stoll(v)));
    else if (v.find_first_not_of("0123456789.") == std::string::npos) c.set(k, std::stod(v));
    else c.set(k, v);
  }
  return c;
}

nn::Batch batch_for(nn::Task task) {
  const int64_t B = 3, T = 5, S = 4;
  std::vector<int32_t> a(B * T), b(B * T), src(B * S);
  for (int64_t i = 0; i < B * T; ++i) {
    a[i] = static_cast<int32_t>(1 + (3 * i) % 10);
    b[i] = static_cast<int32_t>(1 + (7 * i + 2) % 10);
  }
  for (int64_t i = 0; i < B * S; ++i) src[i] = static_cast<int32_t>(1 + (5 * i + 1) % 10);
  if (task == nn::Task::language_model) return nn::Batch::lm(B, T, a, b);
  if (task == nn::Task::seq2seq) return nn::Batch::seq2seq(B, S, T, src, a, b);
  std::vector<float> px(B * 4 * 6);  // (B, P, D)
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>((i * 37) % 11) / 11.0f - 0.5f;
  return nn::Batch::images(B, 4, 6, px, {0, 2, 1});
}

// Every architecture, tied and shared embeddings on and off.
const std::vector<std::pair<std::string, std::string>> kCases = {
    {"gpt", "vocab_size=11 block_size=8 n_layer=3 n_head=2 d_model=8 dropout=0.1"},
    {"gpt", "vocab_size=11 block_size=8 n_layer=2 n_head=2 d_model=8 tie_weights=0 norm=post pos=sinusoidal"},
    {"transformer", "src_vocab_size=11 tgt_vocab_size=11 n_encoder_layers=2 n_decoder_layers=3 n_head=2 d_model=8 "
                    "d_ff=16 dropout=0.1 share_embeddings=1 tie_output=1"},
    {"transformer", "src_vocab_size=12 tgt_vocab_size=11 n_encoder_layers=1 n_decoder_layers=2 n_head=2 d_model=8 "
                    "d_ff=16 tie_output=1 norm=pre"},
    {"transformer", "src_vocab_size=12 tgt_vocab_size=11 n_encoder_layers=2 n_decoder_layers=1 n_head=2 d_model=8 "
                    "d_ff=16"},
    {"vit", "n_patches=4 patch_dim=6 n_classes=3 n_layer=2 n_head=2 d_model=8 d_ff=16 dropout=0.1"},
    {"vit", "n_patches=4 patch_dim=6 n_classes=3 n_layer=2 n_head=2 d_model=8 d_ff=16 pool=mean norm=post"},
    {"rnn", "src_vocab_size=11 tgt_vocab_size=11 n_layer=2 d_emb=6 d_hidden=8 tie_weights=1 cell=lstm"},
    {"rnn", "src_vocab_size=11 tgt_vocab_size=11 d_emb=6 d_hidden=8 bidirectional=0"},
};

}  // namespace

// Snapshots the region each report declares final and compares it with the
// gradients after the backward, bit for bit. A model that wrote a tied
// embedding registered after its layers, or reported a layer before it was
// done with it, fails here.
TEST(GradsFinal, EveryModelReportsItsMarksLastToFirstAndNeverTouchesAReportedRegion) {
  for (const auto& [arch, spec] : kCases) {
    SCOPED_TRACE(arch + " " + spec);
    auto m = nn::make_model(arch, config_of(spec), 5);
    nn::ParamStore& ps = m->params();
    std::vector<int64_t> reported;
    std::vector<std::vector<float>> tails;  // per report: grads [offset, size) then
    std::vector<float> head;                // at the first report: grads [0, offset)
    ps.set_grads_final_hook([&](int64_t offset) {
      if (reported.empty()) head.assign(ps.grads(), ps.grads() + offset);
      reported.push_back(offset);
      tails.emplace_back(ps.grads() + offset, ps.grads() + ps.size());
    });
    for (int round = 0; round < 2; ++round) {  // the second adds to the first, as accumulation does
      reported.clear();
      tails.clear();
      m->forward(batch_for(m->task()), true);
      m->backward(1.0f);
      EXPECT_EQ(reported, std::vector<int64_t>(ps.marks().rbegin(), ps.marks().rend())) << "the marks, last to first";
      ASSERT_GE(reported.size(), 2u);
      for (size_t i = 0; i < reported.size(); ++i)
        EXPECT_EQ(tails[i], std::vector<float>(ps.grads() + reported[i], ps.grads() + ps.size()))
            << "gradients beyond " << reported[i] << " changed after they were reported final";
      // The comparison sees changes: below the first report, the backward went on writing.
      EXPECT_NE(head, std::vector<float>(ps.grads(), ps.grads() + reported[0]));
    }
    ps.set_grads_final_hook(nullptr);
  }
}

TEST(GradSum, BucketsEndWhereLayersBeginMergedFromTheEndToTheMinimumSize) {
  const std::vector<int64_t> marks = {16, 48, 64, 100};  // 4 layers after 16 floats of embeddings
  EXPECT_EQ(train::grad_bucket_ends(marks, 120, 0), (std::vector<int64_t>{120}));  // off: one bucket
  EXPECT_EQ(train::grad_bucket_ends(marks, 120, 1), (std::vector<int64_t>{16, 48, 64, 100, 120}));
  EXPECT_EQ(train::grad_bucket_ends(marks, 120, 20), (std::vector<int64_t>{16, 64, 100, 120}));
  EXPECT_EQ(train::grad_bucket_ends(marks, 120, 30), (std::vector<int64_t>{16, 64, 120}));
  EXPECT_EQ(train::grad_bucket_ends(marks, 120, 1000), (std::vector<int64_t>{120}));
  EXPECT_EQ(train::grad_bucket_ends({0, 40}, 50, 1), (std::vector<int64_t>{40, 50}));  // a mark at 0 cuts nothing
  EXPECT_EQ(train::grad_bucket_ends({}, 50, 1), (std::vector<int64_t>{50}));
}
