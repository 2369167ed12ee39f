// Search strategies (nn/decoding.h) over the models' decoders: greedy against
// PyTorch's greedy loop (tests/ref/model_transformer.h5), greedy alone and in a
// padded batch, scores against the full forward, beam search's definition
// (docs/DECODING.md), and the option checks.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/threads.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoding.h"
#include "support/test_support.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

Config cfg(std::initializer_list<std::pair<const char*, ConfigValue>> kv) {
  Config c;
  for (const auto& [k, v] : kv) c.set(k, v);
  return c;
}

std::unique_ptr<Model> random_model(const std::string& arch, const Config& c, uint64_t seed, float std = 0.3f) {
  auto m = make_model(arch, c, seed);
  Rng rng(seed + 1000);
  for (ParamId id = 0; id < m->params().count(); ++id) m->params().init_normal(id, rng, std);
  return m;
}

Config small_transformer() {
  return cfg({{"src_vocab_size", int64_t{13}}, {"tgt_vocab_size", int64_t{11}}, {"d_model", int64_t{18}},
              {"n_head", int64_t{3}}, {"n_encoder_layers", int64_t{2}}, {"n_decoder_layers", int64_t{2}},
              {"d_ff", int64_t{22}}, {"dropout", 0.0}, {"max_len", int64_t{24}}});
}
constexpr int32_t kBos = 1, kEos = 2;

std::vector<Request> random_requests(Rng& rng, int64_t n, int32_t Vs) {
  std::vector<Request> r;
  for (int64_t i = 0; i < n; ++i) {
    Request q;
    const int64_t len = static_cast<int64_t>(rng.below(7));  // 0 .. 6: empty sources too
    for (int64_t t = 0; t < len; ++t) q.source.push_back(1 + static_cast<int32_t>(rng.below(Vs - 1)));
    q.context = {kBos};
    r.push_back(q);
  }
  return r;
}

// log P(ids + EOS | source) by the full forward (teacher forcing), token by token.
std::vector<double> teacher_forced_logprobs(Model& m, const Request& r, const std::vector<int32_t>& ids) {
  std::vector<int32_t> tin = r.context, tout;
  tin.insert(tin.end(), ids.begin(), ids.end());
  const int64_t c = static_cast<int64_t>(r.context.size()), T = static_cast<int64_t>(tin.size());
  std::vector<int32_t> src = r.source;
  if (src.empty()) src.push_back(0);  // the pad id: an empty source
  Batch b = Batch::seq2seq(1, static_cast<int64_t>(src.size()), T, src, tin, std::vector<int32_t>(tin.size(), 0));
  m.forward(b, false);
  const int64_t V = 11;
  std::vector<double> out;
  for (int64_t t = c - 1; t < T; ++t) {
    const float* row = m.logits() + t * V;
    const int32_t next = t + 1 < T ? tin[t + 1] : kEos;
    double mx = -INFINITY, z = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max<double>(mx, row[v]);
    for (int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx);
    out.push_back(row[next] - mx - std::log(z));
  }
  return out;
}

}  // namespace

TEST(Greedy, MatchesPyTorchsGreedyLoop) {
  io::H5In in(test::source_path("tests/ref/model_transformer.h5"));
  auto m = load_model(in);
  Tensor src = in.read("ref/batch/src", DType::i32, 2);
  Tensor ids = in.read("ref/greedy/ids", DType::i32, 1);
  Tensor off = in.read("ref/greedy/offsets", DType::i64, 1);
  std::vector<Request> reqs;
  for (int64_t i = 0; i < src.dim(0); ++i) {
    Request r;
    const int32_t* row = src.data<int32_t>() + i * src.dim(1);
    r.source.assign(row, row + src.dim(1));
    while (!r.source.empty() && r.source.back() == 0) r.source.pop_back();  // the padding
    r.context = {2};
    reqs.push_back(r);
  }
  SearchOptions o;
  o.eos = 3;
  o.max_len = 5;
  auto dec = m->decoder();
  auto out = decode(*dec, reqs, o);
  ASSERT_EQ(static_cast<int64_t>(out.size()) + 1, off.numel());
  for (size_t i = 0; i < out.size(); ++i) {
    std::vector<int32_t> want(ids.data<int32_t>() + off.data<int64_t>()[i],
                              ids.data<int32_t>() + off.data<int64_t>()[i + 1]);
    ASSERT_EQ(out[i].size(), 1u);
    EXPECT_EQ(out[i][0].ids, want) << "sequence " << i;
  }
}

namespace {

std::vector<std::vector<int32_t>> ragged(const io::H5In& in, const std::string& ids, const std::string& offsets) {
  Tensor v = in.read(ids, DType::i32, 1), o = in.read(offsets, DType::i64, 1);
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i + 1 < o.numel(); ++i)
    out.emplace_back(v.data<int32_t>() + o.data<int64_t>()[i], v.data<int32_t>() + o.data<int64_t>()[i + 1]);
  return out;
}

// tests/ref/beam_<arch>.h5 (scripts/ref/make_beam_refs.py): the n-best of every (beam, alpha) case.
void check_beam_refs(const std::string& arch) {
  SCOPED_TRACE(arch);
  io::H5In in(test::source_path("tests/ref/beam_" + arch + ".h5"));
  auto m = load_model(in);
  auto dec = m->decoder();
  const auto sources = ragged(in, "ref/sources", "ref/source_offsets");
  const auto contexts = ragged(in, "ref/contexts", "ref/context_offsets");
  std::vector<Request> reqs;
  for (size_t i = 0; i < sources.size(); ++i) reqs.push_back({sources[i], contexts[i], {}});
  int cases = 0;
  for (int64_t K : {1, 2, 4, 5, 8})
    for (int a10 : {0, 6, 10}) {
      const std::string g = "ref/k" + std::to_string(K) + "_a" + std::to_string(a10);
      SCOPED_TRACE(g);
      SearchOptions o;
      o.eos = static_cast<int32_t>(in.attr_int("/ref", "eos"));
      o.max_len = in.attr_int("/ref", "max_len");
      o.beam = K;
      o.n_best = K;
      o.length_penalty = in.attr_double(g, "length_penalty");
      const auto out = decode(*dec, reqs, o);
      const auto ids = ragged(in, g + "/ids", g + "/offsets");
      Tensor counts = in.read(g + "/counts", DType::i64, 1);
      Tensor scores = in.read(g + "/scores", DType::f32, 1), norm = in.read(g + "/normalized_scores", DType::f32, 1);
      size_t h = 0;
      for (size_t i = 0; i < reqs.size(); ++i) {
        ASSERT_EQ(static_cast<int64_t>(out[i].size()), counts.data<int64_t>()[i]) << "request " << i;
        for (const auto& hyp : out[i]) {
          EXPECT_EQ(hyp.ids, ids[h]) << "request " << i << " hypothesis " << h;
          EXPECT_NEAR(hyp.score, scores.data<float>()[h], 1e-4);
          EXPECT_NEAR(hyp.normalized_score, norm.data<float>()[h], 1e-4);
          ++h;
        }
      }
      ++cases;
    }
  EXPECT_EQ(cases, 15);
}

}  // namespace

TEST(BeamSearch, MatchesTheDefinitionInPyTorch) {
  check_beam_refs("transformer");
  check_beam_refs("gpt");
  check_beam_refs("rnn");
}

TEST(Greedy, SameAloneAndInAPaddedBatchOfEight) {
  auto m = random_model("transformer", small_transformer(), 4, 0.5f);
  Rng rng(8);
  auto reqs = random_requests(rng, 8, 13);
  SearchOptions o;
  o.eos = kEos;
  o.max_len = 12;
  auto dec = m->decoder();
  auto batch = decode(*dec, reqs, o);
  int64_t lengths = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto alone = decode(*dec, {reqs[i]}, o);
    EXPECT_EQ(alone[0][0].ids, batch[i][0].ids) << "request " << i;
    EXPECT_NEAR(alone[0][0].score, batch[i][0].score, 1e-5);
    lengths += static_cast<int64_t>(batch[i][0].ids.size());
  }
  EXPECT_GT(lengths, 8) << "the hypotheses should not all be empty";
}

TEST(Search, ScoresAreTheModelsLogProbabilities) {
  auto m = random_model("transformer", small_transformer(), 5, 0.5f);
  Rng rng(9);
  auto reqs = random_requests(rng, 3, 13);
  auto dec = m->decoder();
  for (int64_t beam : {1, 3}) {
    SearchOptions o;
    o.eos = kEos;
    o.max_len = 6;
    o.beam = beam;
    o.n_best = beam;
    o.length_penalty = 0.6;
    auto out = decode(*dec, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      ASSERT_EQ(static_cast<int64_t>(out[i].size()), beam);
      for (const auto& h : out[i]) {
        ASSERT_EQ(h.token_logprobs.size(), h.ids.size() + 1);
        EXPECT_LE(static_cast<int64_t>(h.ids.size()), o.max_len);
        auto want = teacher_forced_logprobs(*m, reqs[i], h.ids);
        double sum = 0;
        for (size_t t = 0; t < want.size(); ++t) {
          EXPECT_NEAR(h.token_logprobs[t], want[t], 1e-4) << "request " << i << " token " << t;
          sum += h.token_logprobs[t];
        }
        EXPECT_NEAR(h.score, sum, 1e-4);
        EXPECT_NEAR(h.normalized_score, h.score / std::pow(h.ids.size() + 1.0, 0.6), 1e-6);
      }
      for (size_t k = 1; k < out[i].size(); ++k)
        EXPECT_GE(out[i][k - 1].normalized_score, out[i][k].normalized_score);
    }
  }
}

TEST(Search, LengthLimitsAndForcedPrefix) {
  auto m = random_model("transformer", small_transformer(), 6, 0.5f);
  Rng rng(10);
  auto reqs = random_requests(rng, 4, 13);
  reqs[1].prefix = {5, 5, 7};
  auto dec = m->decoder();
  for (int64_t beam : {1, 4}) {
    SearchOptions o;
    o.eos = kEos;
    o.beam = beam;
    o.min_len = 3;
    o.max_len = 5;
    auto out = decode(*dec, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      const auto& h = out[i][0];
      EXPECT_GE(h.ids.size(), 3u);
      EXPECT_LE(h.ids.size(), 5u);
      for (int32_t id : h.ids) EXPECT_NE(id, kEos);
    }
    EXPECT_EQ(std::vector<int32_t>(out[1][0].ids.begin(), out[1][0].ids.begin() + 3), (std::vector<int32_t>{5, 5, 7}));
    o.min_len = 0;
    o.max_len = 20;
    o.max_len_a = 0.5;
    o.max_len_b = 1;  // max length floor(|source| / 2) + 1
    out = decode(*dec, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i)
      EXPECT_LE(static_cast<int64_t>(out[i][0].ids.size()), static_cast<int64_t>(reqs[i].source.size()) / 2 + 1);
  }
}

TEST(Search, NoRepeatNgramAndRepetitionPenalty) {
  auto m = random_model("transformer", small_transformer(), 7, 0.5f);
  Rng rng(11);
  auto reqs = random_requests(rng, 6, 13);
  auto dec = m->decoder();
  for (int64_t beam : {1, 3}) {
    SearchOptions o;
    o.eos = kEos;
    o.beam = beam;
    o.max_len = 20;
    o.min_len = 20;  // long hypotheses: a random model repeats itself
    o.no_repeat_ngram = 2;
    auto out = decode(*dec, reqs, o);
    for (const auto& n : out) {
      std::vector<int32_t> s = {kBos};
      s.insert(s.end(), n[0].ids.begin(), n[0].ids.end());
      for (size_t a = 0; a + 1 < s.size(); ++a)
        for (size_t b = a + 1; b + 1 < s.size(); ++b)
          EXPECT_FALSE(s[a] == s[b] && s[a + 1] == s[b + 1]) << "bigram repeated at " << a << " and " << b;
    }
  }
  SearchOptions o;
  o.eos = kEos;
  o.max_len = 20;
  auto plain = decode(*dec, reqs, o);
  o.repetition_penalty = 50.0f;
  auto penal = decode(*dec, reqs, o);
  int64_t rep_plain = 0, rep_penal = 0;
  auto repeats = [](const std::vector<int32_t>& ids) {
    int64_t n = 0;
    for (size_t i = 0; i < ids.size(); ++i) n += std::count(ids.begin(), ids.begin() + i, ids[i]) > 0;
    return n;
  };
  for (size_t i = 0; i < reqs.size(); ++i) rep_plain += repeats(plain[i][0].ids), rep_penal += repeats(penal[i][0].ids);
  EXPECT_LT(rep_penal, rep_plain);
}

TEST(Search, BadOptionsSayWhich) {
  auto m = random_model("transformer", small_transformer(), 1);
  auto dec = m->decoder();
  std::vector<Request> reqs = {{{3, 4}, {kBos}, {}}};
  auto bad = [&](auto set, const std::string& what) {
    SearchOptions o;
    o.eos = kEos;
    set(o);
    try {
      decode(*dec, reqs, o);
      ADD_FAILURE() << "no error for " << what;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  bad([](SearchOptions& o) { o.beam = 0; }, "--beam");
  bad([](SearchOptions& o) { o.beam = 11; }, "--beam");
  bad([](SearchOptions& o) { o.top_p = 1.5f; }, "--top-p");
  bad([](SearchOptions& o) { o.n_best = 2; }, "--n-best");
  bad([](SearchOptions& o) { o.temperature = 0; }, "--temperature");
  bad([](SearchOptions& o) { o.max_len = 30; }, "positions");
  bad([](SearchOptions& o) { o.eos = 11; }, "eos");
  SearchOptions o;
  o.eos = kEos;
  o.max_len = 10;
  EXPECT_THROW(decode(*dec, {{{3, 13}, {kBos}, {}}}, o), DataError);
  EXPECT_THROW(decode(*dec, {{{3}, {}, {}}}, o), DataError);
  EXPECT_THROW(decode(*dec, {{{3}, {kBos}, {11}}}, o), DataError);
}

namespace {
Config small_gpt() {
  return cfg({{"vocab_size", int64_t{9}}, {"block_size", int64_t{40}}, {"n_layer", int64_t{2}}, {"n_head", int64_t{2}},
              {"d_model", int64_t{10}}, {"d_ff", int64_t{14}}});
}
}  // namespace

TEST(Sampling, FrequenciesFollowTheFilteredDistribution) {
  auto m = random_model("gpt", small_gpt(), 3, 0.6f);
  auto dec = m->decoder();
  const std::vector<int32_t> prompt = {4, 7, 1};
  // the distribution of the first token: logits / T, then top-k, then top-p (computed here independently)
  const int64_t V = 9;
  std::vector<float> logits(V);
  auto st = dec->start({{}}, 3);
  for (int32_t id : prompt) dec->step(*st, &id, logits.data());
  const float T = 1.5f;
  const int64_t top_k = 6;
  const float top_p = 0.9f;
  std::vector<std::pair<double, int>> p;  // (probability, id)
  double z = 0;
  for (int v = 0; v < V; ++v) z += std::exp(logits[v] / T);
  for (int v = 0; v < V; ++v) p.push_back({std::exp(logits[v] / T) / z, v});
  std::stable_sort(p.begin(), p.end(), [](auto& a, auto& b) { return a.first > b.first; });
  p.resize(top_k);
  double kz = 0, cum = 0;
  for (auto& q : p) kz += q.first;
  size_t keep = 0;
  while (keep < p.size() && cum < top_p) cum += p[keep++].first / kz;
  p.resize(keep);
  ASSERT_GE(keep, 3u) << "a distribution worth testing";
  double pz = 0;
  for (auto& q : p) pz += q.first;

  const int64_t N = 20000;
  std::vector<Request> reqs(N, Request{{}, prompt, {}});
  SearchOptions o;
  o.eos = 0;
  o.sample = true;
  o.max_len = 1;
  o.temperature = T;
  o.top_k = top_k;
  o.top_p = top_p;
  o.seed = 42;
  auto out = decode(*dec, reqs, o);
  std::vector<int64_t> count(V, 0);
  for (const auto& n : out) ++count[n[0].ids.empty() ? o.eos : n[0].ids[0]];
  double chi2 = 0;
  int64_t inside = 0;
  for (auto& q : p) {
    const double want = N * q.first / pz;
    chi2 += (count[q.second] - want) * (count[q.second] - want) / want;
    inside += count[q.second];
  }
  EXPECT_EQ(inside, N) << "a token outside the top-k / top-p set was drawn";
  // chi-square with keep - 1 <= 5 degrees of freedom: 20.5 is its 0.999 quantile at 5
  EXPECT_LT(chi2, 20.5) << "sampled frequencies differ from the distribution";
}

TEST(Sampling, SameSeedSameTokensOnAnyThreadCountAndBatch) {
  auto m = random_model("gpt", small_gpt(), 4, 0.6f);
  auto dec = m->decoder();
  std::vector<Request> reqs = {{{}, {3}, {}}, {{}, {5, 6}, {}}, {{}, {1, 2, 3, 4}, {}}};
  SearchOptions o;
  o.eos = 0;
  o.sample = true;
  o.max_len = 30;
  o.seed = 7;
  const int before = threads();
  set_threads(1);
  auto one = decode(*dec, reqs, o);
  set_threads(2);
  auto two = decode(*dec, reqs, o);
  set_threads(before);
  auto alone = decode(*dec, {reqs[0]}, o);
  o.seed = 8;
  auto other = decode(*dec, reqs, o);
  bool differs = false;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(one[i][0].ids, two[i][0].ids) << i;
    differs = differs || other[i][0].ids != one[i][0].ids;
  }
  EXPECT_EQ(alone[0][0].ids, one[0][0].ids);
  EXPECT_TRUE(differs) << "another seed should give other samples";
}

// A long input decoded in batches, each passing its first index as
// first_request, samples what the whole run samples; on_token reports every
// generated token (EOS excluded) as it is chosen.
TEST(Sampling, BatchesWithFirstRequestSampleAsTheWholeRun) {
  auto m = random_model("gpt", small_gpt(), 4, 0.6f);
  auto dec = m->decoder();
  std::vector<Request> reqs = {{{}, {3}, {}}, {{}, {5, 6}, {}}, {{}, {1, 2, 3, 4}, {}}, {{}, {7}, {}}, {{}, {2}, {}}};
  SearchOptions o;
  o.eos = 0;
  o.sample = true;
  o.max_len = 25;
  o.seed = 3;
  auto whole = decode(*dec, reqs, o);
  for (size_t first = 0; first < reqs.size(); first += 2) {
    std::vector<Request> part(reqs.begin() + first, reqs.begin() + std::min(first + 2, reqs.size()));
    SearchOptions po = o;
    po.first_request = first;
    std::vector<std::vector<int32_t>> seen(part.size());
    po.on_token = [&](int64_t req, int32_t tok) { seen[req].push_back(tok); };
    auto got = decode(*dec, part, po);
    for (size_t i = 0; i < part.size(); ++i) {
      EXPECT_EQ(got[i][0].ids, whole[first + i][0].ids) << "request " << first + i;
      EXPECT_EQ(seen[i], got[i][0].ids) << "request " << first + i;
    }
  }
  SearchOptions shifted = o;  // another first index: other samples
  shifted.first_request = 1;
  EXPECT_NE(decode(*dec, {reqs[0]}, shifted)[0][0].ids, whole[0][0].ids);
}

// Request::max_len caps that request only (what a model holds after its
// context); check_search numbers requests from first_request.
TEST(Search, RequestMaxLenCapsThatRequest) {
  auto m = random_model("gpt", small_gpt(), 4, 0.6f);
  auto dec = m->decoder();
  SearchOptions o;
  o.eos = 0;
  o.max_len = 9;
  o.min_len = 9;  // no early EOS: every hypothesis reaches its cap
  std::vector<Request> reqs = {{{}, {3}, {}}, {{}, {5, 6}, {}, 4}};
  auto out = decode(*dec, reqs, o);
  EXPECT_EQ(out[0][0].ids.size(), 9u);
  EXPECT_EQ(out[1][0].ids.size(), 4u);
  EXPECT_TRUE(std::isfinite(out[1][0].score)) << "at its cap EOS is allowed even before min_len";
  EXPECT_EQ(max_length(reqs[1], o), 4);
  o.min_len = 0;
  o.first_request = 41;
  reqs[1].context = {5, 99};
  try {
    check_search(*dec, reqs, o);
    FAIL() << "id 99 accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("input 43: token id 99"), std::string::npos) << e.what();
  }
}

// --slide: past the block, each token is the arg max of the full forward
// over the last block_size tokens (nanoGPT's crop), here recomputed by brute force.
TEST(Greedy, SlidingWindowEqualsTheCroppedFullForward) {
  Config c = small_gpt();
  c.set("block_size", ConfigValue(int64_t{6}));
  auto m = random_model("gpt", c, 5, 0.6f);
  auto dec = m->decoder();
  SearchOptions o;
  o.eos = 0;
  o.min_len = 20;  // no EOS: 20 tokens, well past the 6 positions
  o.max_len = 20;
  std::vector<Request> reqs = {{{}, {3, 4}, {}}, {{}, {5, 6}, {}}};
  EXPECT_THROW(decode(*dec, reqs, o), UsageError);
  o.slide = true;
  for (int64_t stride : {1, 2, 5}) {
    o.slide_stride = stride;
    auto out = decode(*dec, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      std::vector<int32_t> seq = reqs[i].context;
      int64_t start = 0;  // the window: seq[start, end); full at 6, then it starts over from the last 6 - stride
      for (int g = 0; g < 20; ++g) {
        if (static_cast<int64_t>(seq.size()) - 1 - start == 6) start = static_cast<int64_t>(seq.size()) - 1 - (6 - stride);
        const int64_t T = static_cast<int64_t>(seq.size()) - start;
        std::vector<int32_t> win(seq.begin() + start, seq.end());
        m->forward(Batch::lm(1, T, win, {}), false);
        const float* z = m->logits() + (T - 1) * 9;  // (1, T, V): the last position
        int32_t best = 1;  // EOS (0) is barred before min_len
        for (int32_t v = 2; v < 9; ++v)
          if (z[v] > z[best]) best = v;
        seq.push_back(best);
      }
      EXPECT_EQ(out[i][0].ids, std::vector<int32_t>(seq.begin() + 2, seq.end())) << "request " << i << " stride " << stride;
    }
  }
  o.slide_stride = 6;  // nothing left to start from
  EXPECT_THROW(decode(*dec, reqs, o), UsageError);
  o.slide_stride = 1;
  o.beam = 2;
  EXPECT_THROW(decode(*dec, reqs, o), UsageError);
}

TEST(Search, AttentionOfTheChosenHypotheses) {
  auto m = random_model("transformer", small_transformer(), 9, 0.5f);
  auto dec = m->decoder();
  Rng rng(12);
  auto reqs = random_requests(rng, 3, 13);
  for (int64_t beam : {1, 3}) {
    SearchOptions o;
    o.eos = kEos;
    o.beam = beam;
    o.max_len = 6;
    o.attention = true;
    auto out = decode(*dec, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      const Hypothesis& h = out[i][0];
      const int64_t L = static_cast<int64_t>(h.ids.size()) + 1;
      ASSERT_EQ(h.attention.size(), 4u);  // 2 layers x (self, cross)
      for (const auto& a : h.attention) {
        EXPECT_EQ(a.heads, 3);
        const bool cross = a.name.find("multihead_attn") != std::string::npos;
        int64_t S = 1;  // cross: the batch's longest source (zero weights beyond this one's)
        for (const auto& r : reqs) S = std::max<int64_t>(S, r.source.size());
        EXPECT_EQ(a.keys, cross ? S : L) << a.name;
        ASSERT_EQ(static_cast<int64_t>(a.weights.size()), L * a.heads * a.keys);
        for (int64_t t = 0; t < L; ++t)
          for (int64_t hd = 0; hd < a.heads; ++hd) {
            double s = 0;
            for (int64_t k = 0; k < a.keys; ++k) {
              const float w = a.weights[(t * a.heads + hd) * a.keys + k];
              if (!cross && k > t) EXPECT_EQ(w, 0.0f) << "token " << t << " sees a later position";
              if (cross && k >= static_cast<int64_t>(reqs[i].source.size())) EXPECT_EQ(w, 0.0f) << "padding";
              s += w;
            }
            if (!(cross && reqs[i].source.empty())) EXPECT_NEAR(s, 1.0, 1e-5) << a.name;
          }
      }
    }
  }
}

// A decoder keeps the state its last search gave back (Decoder::recycle) and
// the next start() reuses its buffers without clearing them: batches of other
// sizes, lengths and beams after it decode exactly as with a fresh decoder.
TEST(Search, RecycledStatesDecodeAsFreshOnes) {
  Rng rng(21);
  const auto transformer = random_model("transformer", small_transformer(), 8, 0.5f);
  const auto rnn = random_model("rnn", cfg({{"src_vocab_size", int64_t{13}}, {"tgt_vocab_size", int64_t{11}},
                                            {"n_layer", int64_t{2}}, {"d_emb", int64_t{7}}, {"d_hidden", int64_t{10}},
                                            {"d_attn", int64_t{5}}}),
                                9);
  const auto gpt = random_model("gpt", small_gpt(), 10, 0.6f);
  struct Case {
    int64_t n, beam, max_len;
  };
  const std::vector<Case> cases = {{5, 1, 12}, {2, 3, 6}, {8, 1, 4}, {1, 5, 15}, {6, 2, 9}, {3, 1, 12}};
  for (Model* m : {transformer.get(), rnn.get(), gpt.get()}) {
    const bool lm = !m->decoder()->has_source();
    auto reused = m->decoder();
    for (const Case& c : cases) {
      std::vector<Request> reqs = random_requests(rng, c.n, 13);
      if (lm)
        for (Request& r : reqs) r = {{}, {1, 1 + static_cast<int32_t>(rng.below(8))}, {}};
      SearchOptions o;
      o.eos = kEos;
      o.beam = c.beam;
      o.n_best = c.beam;
      o.max_len = c.max_len;
      const auto want = decode(*m->decoder(), reqs, o);  // a fresh decoder
      const auto got = decode(*reused, reqs, o);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i].size(), want[i].size());
        for (size_t k = 0; k < want[i].size(); ++k) {
          EXPECT_EQ(got[i][k].ids, want[i][k].ids) << "batch of " << c.n << ", beam " << c.beam << ", request " << i;
          EXPECT_EQ(got[i][k].token_logprobs, want[i][k].token_logprobs);
          EXPECT_EQ(got[i][k].score, want[i][k].score);
        }
      }
    }
  }
}
