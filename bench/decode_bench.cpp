// decode_bench: incremental decoding speed of a gpt checkpoint through the
// Decoder (KV cache) and the search strategies of nn/decoding.h.
//   decode_bench MODEL.h5 [--threads N] [--new N] [--batch B] [--beam K] [--words N] [--len N]
//                         [--sources PAIRS.h5] [--repeats R]
// Prints one line per figure: "<figure> wall <w> cpu <c>", w from wall time,
// c from the process's CPU time (user + system), each the median of R runs.
// On a busy machine the wall figure measures the other work as well; compare
// the cpu figures (scripts/bench/54-decode.sh does). A transformer (seq2seq)
// checkpoint: greedy and beam K words/s over --words sources (random ones of
// 6-10 letters, or the first --words sources of a token_pairs file), each
// decoded to exactly --len tokens (EOS barred), --batch at a time. A gpt
// checkpoint:
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
#include <functional>
#include <string>
#include <vector>

#include "blas/blas_setup.h"
#include "core/clock.h"
#include "core/rng.h"
#include "formats/tokens.h"
#include "io/h5.h"
#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/decoder.h"
#include "nn/decoding.h"

using namespace qkv;

namespace {

struct Took {
  double wall, cpu;  // seconds
};

// Runs fn `repeats` times: the median wall and CPU seconds.
Took median_of(int repeats, const std::function<void()>& fn) {
  std::vector<double> w, c;
  for (int r = 0; r < repeats; ++r) {
    const double w0 = now_s(), c0 = cpu_s();
    fn();
    c.push_back(cpu_s() - c0);
    w.push_back(now_s() - w0);
  }
  std::sort(w.begin(), w.end());
  std::sort(c.begin(), c.end());
  return {w[w.size() / 2], c[c.size() / 2]};
}

// "<name> wall <n / wall> cpu <n / cpu>": a rate of n per second.
void print_rate(const std::string& name, double n, Took t) {
  std::printf("%-20s wall %10.1f cpu %10.1f\n", name.c_str(), n / t.wall, n / t.cpu);
}

}  // namespace

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure as it is measured
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_bench MODEL.h5 [--threads N] [--new N] [--batch B] [--beam K] [--words N] [--len N] [--sources PAIRS.h5] [--repeats R]\n");
    return 2;
  }
  const std::string path = argv[1];
  int threads = 1, repeats = 3;
  std::string sources;
  int64_t new_tokens = 256, B = 32, K = 5, words = 512, len = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--new") new_tokens = std::atoll(argv[i + 1]);
    else if (k == "--batch") B = std::atoll(argv[i + 1]);
    else if (k == "--beam") K = std::atoll(argv[i + 1]);
    else if (k == "--words") words = std::atoll(argv[i + 1]);
    else if (k == "--len") len = std::atoll(argv[i + 1]);
    else if (k == "--sources") sources = argv[i + 1];
    else if (k == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
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
    // seq2seq: words/s over `words` sources, each decoded to exactly --len tokens, --batch at a time:
    // random ones of 6-10 letters (<bos> x <eos>) or the first `words` of a token_pairs file.
    std::vector<nn::Request> all;
    if (!sources.empty()) {
      const formats::Sequences src = formats::read_token_pairs(sources).src;
      words = std::min(words, src.n());
      for (int64_t i = 0; i < words; ++i) all.push_back({{src.seq(i), src.seq(i) + src.len(i)}, {1}, {}});
    } else {
      const int64_t Vs = nn::dims(*m).src_vocab;
      for (int64_t i = 0; i < words; ++i) {
        nn::Request r{{1}, {1}, {}};
        const int64_t n = 6 + static_cast<int64_t>(rng.below(5));
        for (int64_t t = 0; t < n; ++t) r.source.push_back(4 + static_cast<int32_t>(rng.below(Vs - 4)));
        r.source.push_back(2);
        all.push_back(r);
      }
    }
    std::printf("%lld sources%s%s, %lld tokens each, batch %lld, median of %d\n", static_cast<long long>(words),
                sources.empty() ? " (random)" : " of ", sources.c_str(), static_cast<long long>(len),
                static_cast<long long>(B), repeats);
    for (int64_t k : {int64_t{1}, K}) {
      nn::SearchOptions o;
      o.eos = 2;
      o.beam = k;
      o.min_len = o.max_len = len;
      std::vector<int32_t> first;  // the hypothesis of the first source
      const Took t = median_of(repeats, [&] {
        for (int64_t a = 0; a < words; a += B) {
          auto out = nn::decode(*dec, std::vector<nn::Request>(all.begin() + a, all.begin() + std::min(words, a + B)), o);
          if (a == 0) first = out[0][0].ids;
        }
      });
      const std::string name = k == 1 ? "greedy" : "beam" + std::to_string(k);
      print_rate(name + " words/s", static_cast<double>(words), t);
      std::printf("%s ids", name.c_str());
      for (int32_t id : first) std::printf(" %d", id);
      std::printf("\n");
    }
    return 0;
  }

  // ms per step at positions [p, p + 32), batch 1: flat when the KV cache works.
  std::printf("median of %d\n", repeats);
  for (int64_t p : {int64_t{16}, int64_t{256}}) {
    std::vector<float> logits(static_cast<size_t>(V));
    std::unique_ptr<nn::DecoderState> st;
    int32_t id = 3;
    std::vector<Took> each;
    for (int rep = 0; rep < repeats; ++rep) {
      st = dec->start({{}}, std::min<int64_t>(P, p + 32));
      id = 3;
      for (int64_t t = 0; t < p; ++t) dec->step(*st, &id, logits.data());
      each.push_back(median_of(1, [&] {
        for (int64_t t = 0; t < 32; ++t) {
          id = 3 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(V - 3)));
          dec->step(*st, &id, logits.data());
        }
      }));
    }
    std::sort(each.begin(), each.end(), [](Took a, Took b) { return a.cpu < b.cpu; });
    const double cpu = each[each.size() / 2].cpu;
    std::sort(each.begin(), each.end(), [](Took a, Took b) { return a.wall < b.wall; });
    std::printf("step ms at position %-4lld wall %9.3f cpu %9.3f\n", static_cast<long long>(p),
                1e3 * each[each.size() / 2].wall / 32, 1e3 * cpu / 32);
  }

  nn::SearchOptions o;
  o.eos = 2;
  o.min_len = o.max_len = new_tokens;  // every hypothesis runs to the full length
  const nn::Request one{{}, {3}, {}};
  std::vector<std::vector<nn::Hypothesis>> g1;
  print_rate("greedy b1 tokens/s", static_cast<double>(new_tokens), median_of(repeats, [&] { g1 = nn::decode(*dec, {one}, o); }));
  std::printf("greedy ids");
  for (size_t i = 0; i < std::min<size_t>(24, g1[0][0].ids.size()); ++i) std::printf(" %d", g1[0][0].ids[i]);
  std::printf("\n");
  nn::SearchOptions ob = o;
  ob.beam = K;
  print_rate("beam" + std::to_string(K) + " tokens/s", static_cast<double>(new_tokens),
             median_of(repeats, [&] { nn::decode(*dec, {one}, ob); }));
  std::vector<nn::Request> many;
  for (int64_t i = 0; i < B; ++i) many.push_back({{}, {3 + static_cast<int32_t>(i % (V - 3))}, {}});
  print_rate("greedy b" + std::to_string(B) + " tokens/s", static_cast<double>(B * new_tokens),
             median_of(repeats, [&] { nn::decode(*dec, many, o); }));
  return 0;
}
