// The gradients' sum over ranks overlapped with the backward
// (train/grad_sum.h) on 2 and 3 ranks: buckets start during the backward and
// the sums are the same bits as one sum after it, for a gpt, a transformer
// with shared and tied embeddings, a vit and an rnn. The GradSumRanks suite
// runs inside mpirun, started by DistGradSum's test (RESOURCE_LOCK mpi).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "nn/model.h"
#include "support/test_support.h"
#include "train/grad_sum.h"

using namespace qkv;

namespace {

int count(const std::string& s, const std::string& what) {
  int k = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++k;
  return k;
}

}  // namespace

TEST(DistGradSum, RanksSuitePassesOn2And3Ranks) {
  if (test::mpirun(2).empty()) GTEST_SKIP() << test::mpi_missing_reason();
  for (int n : {2, 3}) {
    test::RunResult r = test::run("timeout 300 " + test::mpirun(n) + "/proc/" + std::to_string(getpid()) + "/exe" +
                                  " --gtest_color=no --gtest_filter='GradSumRanks.*'");
    EXPECT_EQ(r.exit_code, 0) << "np " << n << "\n" << r.out << r.err;
    EXPECT_EQ(count(r.out, "[  PASSED  ] 1 test."), n) << "np " << n << "\n" << r.out << r.err;
    EXPECT_EQ(count(r.out, "SKIPPED"), 0) << r.out;
  }
}

// ---- Inside mpirun.

namespace {

nn::Config config_of(const std::vector<std::pair<std::string, int64_t>>& kv) {
  nn::Config c;
  for (const auto& [k, v] : kv) c.set(k, v);
  return c;
}

// Rank r's batch: other rows on every rank, so the sums are sums of different gradients.
nn::Batch batch_for(nn::Task task, int rank) {
  const int64_t B = 2, T = 6, S = 5;
  std::vector<int32_t> a(B * T), b(B * T), src(B * S);
  for (int64_t i = 0; i < B * T; ++i) {
    a[i] = static_cast<int32_t>(1 + (3 * i + 5 * rank) % 10);
    b[i] = static_cast<int32_t>(1 + (7 * i + 2 + rank) % 10);
  }
  for (int64_t i = 0; i < B * S; ++i) src[i] = static_cast<int32_t>(1 + (5 * i + 1 + 3 * rank) % 10);
  if (task == nn::Task::language_model) return nn::Batch::lm(B, T, a, b);
  if (task == nn::Task::seq2seq) return nn::Batch::seq2seq(B, S, T, src, a, b);
  std::vector<float> px(B * 4 * 6);  // (B, P, D)
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>((i * 37 + 11 * rank) % 13) / 13.0f - 0.5f;
  return nn::Batch::images(B, 4, 6, px, {rank % 3, 2});
}

}  // namespace

TEST(GradSumRanks, OverlappedSumIsTheSameBitsAsOneSumAfterTheBackward) {
  dist::Comm& c = dist::Comm::world();
  if (c.size() == 1) GTEST_SKIP() << "runs inside mpirun, started by DistGradSum";
  // Without dropout: the two sums' backwards must compute the same gradients.
  const std::vector<std::pair<std::string, nn::Config>> models = {
      {"gpt", config_of({{"vocab_size", 11}, {"block_size", 8}, {"n_layer", 3}, {"n_head", 2}, {"d_model", 8}})},
      {"transformer", config_of({{"src_vocab_size", 11}, {"tgt_vocab_size", 11}, {"n_encoder_layers", 2},
                                 {"n_decoder_layers", 2}, {"n_head", 2}, {"d_model", 8}, {"d_ff", 16},
                                 {"share_embeddings", 1}, {"tie_output", 1}, {"dropout", 0}})},
      {"vit", config_of({{"n_patches", 4}, {"patch_dim", 6}, {"n_classes", 3}, {"n_layer", 2}, {"n_head", 2},
                         {"d_model", 8}, {"d_ff", 16}})},
      {"rnn", config_of({{"src_vocab_size", 11}, {"tgt_vocab_size", 11}, {"n_layer", 2}, {"d_emb", 6},
                         {"d_hidden", 8}, {"tie_weights", 1}, {"dropout", 0}})},
  };
  for (const auto& [arch, config] : models) {
    SCOPED_TRACE(arch + " on rank " + std::to_string(c.rank()));
    auto m = nn::make_model(arch, config, 9);
    nn::ParamStore& ps = m->params();
    const nn::Batch b = batch_for(m->task(), c.rank());
    auto summed = [&](train::GradSum& sum, int micro_batches) {
      ps.zero_grad();
      for (int k = 0; k < micro_batches; ++k) {  // accumulation: only the last backward overlaps
        m->forward(b, true);
        if (k + 1 == micro_batches) sum.arm();
        m->backward(1.0f + static_cast<float>(k));
      }
      sum.finish();
      return std::vector<float>(ps.grads(), ps.grads() + ps.size());
    };
    train::GradSum after(c, ps, 0), overlapped(c, ps, 1);
    ASSERT_EQ(after.buckets(), 1);
    ASSERT_EQ(overlapped.buckets(), static_cast<int>(ps.marks().size()) + 1);  // a bucket per layer, embeddings
    for (int micro_batches : {1, 2}) {
      for (int round = 0; round < 2; ++round) {  // buckets and buffers serve every step
        const std::vector<float> want = summed(after, micro_batches), got = summed(overlapped, micro_batches);
        EXPECT_EQ(got, want);
        // Every bucket but the embeddings' started during the backward.
        EXPECT_EQ(overlapped.overlapped(), overlapped.buckets() - 1);
        EXPECT_EQ(after.overlapped(), 0);
      }
    }
    // Local gradients differ between ranks; their sums do not: compare rank 0's sum with everyone's.
    std::vector<float> g = summed(overlapped, 1), g0 = g;
    train::GradSum check(c, ps, 0);  // reuse the sum to broadcast: rank 0's values, zeros elsewhere
    std::fill(ps.grads(), ps.grads() + ps.size(), 0.0f);
    if (c.rank() == 0) std::copy(g.begin(), g.end(), ps.grads());
    check.finish();
    EXPECT_EQ(std::vector<float>(ps.grads(), ps.grads() + ps.size()), g0) << "every rank holds rank 0's sum";
  }
}
