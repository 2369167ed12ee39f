// decode_bench: incremental decoding speed of a gpt checkpoint through the
// Decoder (KV cache) and the search strategies of nn/decoding.h.
//   decode_bench MODEL.h5 [--threads N] [--new N] [--batch B] [--beam K] [--words N] [--len N]
// Prints one line per figure. A transformer (seq2seq) checkpoint: greedy and
// beam K words/s over --words random sources, --len tokens each, --batch at
// a time. A gpt checkpoint:
//   step ms at position P   ms per step of one row fed at positions [P, P+32) (P = 16, 256)
//   greedy b1 tokens/s      one prompt token, --new tokens (EOS barred), batch 1
//   beamK tokens/s          the same with beam K: hypothesis tokens per second (steps of one input)
//   greedy bB tokens/s      B prompts at once, --new tokens each: B x new / time
// scripts/bench/54-decode.sh runs it beside scripts/torch/decode_bench_torch.py
// (the same figures from a PyTorch decoding loop with its own KV cache).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "blas/blas_setup.h"
#include "core/clock.h"
#include "core/rng.h"
#include "io/h5.h"
#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/decoder.h"
#include "nn/decoding.h"

using namespace qkv;

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_bench MODEL.h5 [--threads N] [--new N] [--batch B] [--beam K] [--words N] [--len N]\n");
    return 2;
  }
  const std::string path = argv[1];
  int threads = 1;
  int64_t new_tokens = 256, B = 32, K = 5, words = 512, len = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--new") new_tokens = std::atoll(argv[i + 1]);
    else if (k == "--batch") B = std::atoll(argv[i + 1]);
    else if (k == "--beam") K = std::atoll(argv[i + 1]);
    else if (k == "--words") words = std::atoll(argv[i + 1]);
    else if (k == "--len") len = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "decode_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  blas::set_threads(threads);
  io::H5In in(path);
  auto m = nn::load_model(in);
  auto dec = m->decoder();
  const int64_t V = dec->vocab_size(), P = dec->max_positions();
  std::printf("qkv %s: %s, %lld parameters, %lld positions, threads=%d\n", m->arch().c_str(), path.c_str(),
              static_cast<long long>(m->params().num_params()), static_cast<long long>(P), threads);
  Rng rng(1);
  if (dec->has_source()) {
    // seq2seq (the G2P transformer's size): words/s over `words` random sources of 6-10 letters
    // (<bos> x <eos>), each decoded to exactly --len tokens, --batch at a time.
    const int64_t Vs = nn::dims(*m).src_vocab;
    std::vector<nn::Request> all;
    for (int64_t i = 0; i < words; ++i) {
      nn::Request r{{1}, {1}, {}};
      const int64_t n = 6 + static_cast<int64_t>(rng.below(5));
      for (int64_t t = 0; t < n; ++t) r.source.push_back(4 + static_cast<int32_t>(rng.below(Vs - 4)));
      r.source.push_back(2);
      all.push_back(r);
    }
    for (int64_t k : {int64_t{1}, K}) {
      nn::SearchOptions o;
      o.eos = 2;
      o.beam = k;
      o.min_len = o.max_len = len;
      const double t0 = now_s();
      for (int64_t a = 0; a < words; a += B)
        nn::decode(*dec, std::vector<nn::Request>(all.begin() + a, all.begin() + std::min(words, a + B)), o);
      std::printf("%s words/s %*.1f\n", k == 1 ? "greedy" : ("beam" + std::to_string(k)).c_str(),
                  k == 1 ? 15 : 16, words / (now_s() - t0));
    }
    return 0;
  }

  // ms per step at positions [p, p + 32), batch 1: flat when the KV cache works.
  for (int64_t p : {int64_t{16}, int64_t{256}}) {
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
      auto st = dec->start({{}}, std::min<int64_t>(P, p + 32));
      std::vector<float> logits(static_cast<size_t>(V));
      int32_t id = 3;
      for (int64_t t = 0; t < p; ++t) dec->step(*st, &id, logits.data());
      const double t0 = now_s();
      for (int64_t t = 0; t < 32; ++t) {
        id = 3 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(V - 3)));
        dec->step(*st, &id, logits.data());
      }
      best = std::min(best, (now_s() - t0) / 32);
    }
    std::printf("step ms at position %-4lld %9.3f\n", static_cast<long long>(p), 1e3 * best);
  }

  nn::SearchOptions o;
  o.eos = 2;
  o.min_len = o.max_len = new_tokens;  // every hypothesis runs to the full length
  auto timed = [&](const std::vector<nn::Request>& reqs, const nn::SearchOptions& so) {
    const double t0 = now_s();
    auto out = nn::decode(*dec, reqs, so);
    return now_s() - t0;
  };
  const nn::Request one{{}, {3}, {}};
  double t0 = now_s();
  auto g1 = nn::decode(*dec, {one}, o);
  std::printf("greedy b1 tokens/s %12.1f\n", new_tokens / (now_s() - t0));
  std::printf("greedy ids");
  for (size_t i = 0; i < std::min<size_t>(24, g1[0][0].ids.size()); ++i) std::printf(" %d", g1[0][0].ids[i]);
  std::printf("\n");
  double t;
  nn::SearchOptions ob = o;
  ob.beam = K;
  t = timed({one}, ob);
  std::printf("beam%lld tokens/s %14.1f\n", static_cast<long long>(K), new_tokens / t);
  std::vector<nn::Request> many;
  for (int64_t i = 0; i < B; ++i) many.push_back({{}, {3 + static_cast<int32_t>(i % (V - 3))}, {}});
  t = timed(many, o);
  std::printf("greedy b%lld tokens/s %11.1f\n", static_cast<long long>(B), B * new_tokens / t);
  return 0;
}
