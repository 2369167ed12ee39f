#include "nn/decoding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/rng.h"

namespace qkv::nn {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A partial hypothesis: one row of the decoder state.
struct Partial {
  int64_t req = 0;               // request index
  std::vector<int32_t> tokens;   // context (as fed so far) + generated
  std::vector<float> logprobs;   // (generated)
  double score = 0.0;            // sum of logprobs
  std::vector<std::vector<float>> att;  // per generated token: every map's (H, Tk) weights, concatenated
};

// What the attention maps of each fed position looked like (names, heads, keys).
struct AttentionLog {
  std::vector<std::string> names, kinds;
  std::vector<int64_t> heads, layers;
  std::vector<std::vector<int64_t>> keys;  // [position][map]

  void record(int64_t t, const std::vector<AttentionMap>& maps) {
    if (names.empty())
      for (const auto& m : maps)
        names.push_back(m.name), kinds.push_back(m.kind), heads.push_back(m.shape[1]), layers.push_back(m.layer);
    keys.resize(static_cast<size_t>(t + 1));
    keys[t].clear();
    for (const auto& m : maps) keys[t].push_back(m.shape[3]);
  }
  // Row b's weights of every map, concatenated: (sum over maps of H * Tk).
  static std::vector<float> row(const std::vector<AttentionMap>& maps, int64_t b) {
    std::vector<float> out;
    for (const auto& m : maps) {
      const int64_t n = m.shape[1] * m.shape[3];  // (H, Tk)
      out.insert(out.end(), m.weights + b * n, m.weights + (b + 1) * n);
    }
    return out;
  }
};

// The processed log-probabilities lp (V) of a row at generated step g (the
// pipeline of nn/decoding.h, steps 1-6). work (V) is scratch.
void process(float* lp, const float* logits, int64_t V, const Partial& p, int64_t g, const Request& r,
             int64_t max_len, const SearchOptions& o) {
  std::memcpy(lp, logits, sizeof(float) * V);
  if (o.repetition_penalty != 1.0f) {
    std::vector<uint8_t> seen(static_cast<size_t>(V), 0);
    for (int32_t t : p.tokens) seen[t] = 1;
    for (int64_t v = 0; v < V; ++v)
      if (seen[v]) lp[v] = lp[v] > 0 ? lp[v] / o.repetition_penalty : lp[v] * o.repetition_penalty;
  }
  if (o.temperature != 1.0f)
    for (int64_t v = 0; v < V; ++v) lp[v] /= o.temperature;
  float mx = kNegInf;
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, lp[v]);
  double z = 0.0;
  for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(lp[v] - mx));
  const float lz = mx + static_cast<float>(std::log(z));
  // A model whose scores overflow (a corrupt or diverged weight of 1e38) would
  // pick no token at all, not even the one forced at max length.
  if (!std::isfinite(lz))
    throw DataError("decoding: the model's scores at step " + std::to_string(g) +
                    " are not finite (NaN or infinite): its weights are corrupt or diverged");
  for (int64_t v = 0; v < V; ++v) lp[v] -= lz;
  const int64_t N = o.no_repeat_ngram, n = static_cast<int64_t>(p.tokens.size());
  if (N > 0 && n >= N - 1) {
    // ban x when (last N-1 tokens, x) already occurred
    const int32_t* tail = p.tokens.data() + n - (N - 1);
    for (int64_t i = 0; i + N <= n; ++i)
      if (std::equal(tail, tail + N - 1, p.tokens.data() + i)) lp[p.tokens[i + N - 1]] = kNegInf;
  }
  if (g < o.min_len && g < max_len) lp[o.eos] = kNegInf;  // a request capped below min_len still ends
  int32_t only = -1;
  if (g >= max_len) only = o.eos;
  else if (g < static_cast<int64_t>(r.prefix.size())) only = r.prefix[g];
  if (only >= 0)
    for (int64_t v = 0; v < V; ++v)
      if (v != only) lp[v] = kNegInf;
}

Hypothesis finish(const Partial& p, int64_t context, double alpha, const AttentionLog& log) {
  Hypothesis h;
  h.ids.assign(p.tokens.begin() + context, p.tokens.end());
  h.token_logprobs = p.logprobs;
  h.score = p.score;
  const double L = static_cast<double>(p.logprobs.size());
  h.normalized_score = p.score / std::pow(L, alpha);
  if (p.att.empty()) return h;
  const int64_t steps = static_cast<int64_t>(p.att.size());
  for (size_t m = 0; m < log.names.size(); ++m) {
    AttentionTrace tr;
    tr.name = log.names[m];
    tr.kind = log.kinds[m];
    tr.layer = log.layers[m];
    tr.heads = log.heads[m];
    for (int64_t g = 0; g < steps; ++g) tr.keys = std::max(tr.keys, log.keys[context - 1 + g][m]);
    tr.weights.assign(static_cast<size_t>(steps * tr.heads * tr.keys), 0.0f);
    for (int64_t g = 0; g < steps; ++g) {
      const auto& ks = log.keys[context - 1 + g];
      int64_t off = 0;  // map m's place in the concatenated row
      for (size_t j = 0; j < m; ++j) off += log.heads[j] * ks[j];
      const int64_t Tk = ks[m];
      for (int64_t hd = 0; hd < tr.heads; ++hd)
        std::memcpy(tr.weights.data() + (g * tr.heads + hd) * tr.keys, p.att[g].data() + off + hd * Tk,
                    sizeof(float) * Tk);
    }
    h.attention.push_back(std::move(tr));
  }
  return h;
}

// Positions a batch feeds: each request's context and its generated tokens but the last.
int64_t capacity_of(const std::vector<Request>& reqs, const SearchOptions& o) {
  int64_t cap = 1;
  for (const auto& r : reqs) cap = std::max<int64_t>(cap, static_cast<int64_t>(r.context.size()) + max_length(r, o));
  return cap;
}

std::vector<std::vector<int32_t>> sources_of(const std::vector<Request>& reqs) {
  std::vector<std::vector<int32_t>> s;
  for (const auto& r : reqs) s.push_back(r.source);
  return s;
}

// Index of the token drawn by sampling from lp (V) (top-k, then top-p).
int32_t draw(const float* lp, int64_t V, const SearchOptions& o, Rng& rng) {
  std::vector<int32_t> order(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) order[v] = static_cast<int32_t>(v);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return lp[a] > lp[b]; });
  int64_t keep = o.top_k > 0 ? std::min<int64_t>(o.top_k, V) : V;
  std::vector<double> p(static_cast<size_t>(keep));
  double z = 0.0;
  for (int64_t i = 0; i < keep; ++i) z += p[i] = std::exp(static_cast<double>(lp[order[i]]));
  if (o.top_p < 1.0f) {
    double cum = 0.0;
    int64_t n = 0;
    while (n < keep) {
      cum += p[n++] / z;
      if (cum >= o.top_p) break;
    }
    keep = n;
    z = 0.0;
    for (int64_t i = 0; i < keep; ++i) z += p[i];
  }
  const double u = rng.uniform_double() * z;
  double cum = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return order[i];
  }
  return order[keep - 1];
}

// Greedy and sampling: one row per request, each finished at its EOS.
std::vector<std::vector<Hypothesis>> search_single(Decoder& dec, const std::vector<Request>& reqs,
                                                   const SearchOptions& o) {
  const int64_t V = dec.vocab_size(), B = static_cast<int64_t>(reqs.size());
  const int64_t cap = o.slide ? std::min(capacity_of(reqs, o), dec.max_positions()) : capacity_of(reqs, o);
  auto st = dec.start(sources_of(reqs), cap);
  std::vector<Partial> rows(static_cast<size_t>(B));
  std::vector<Rng> rngs;
  for (int64_t i = 0; i < B; ++i) {
    rows[i].req = i;
    rows[i].tokens = {reqs[i].context[0]};  // the rest is appended as it is fed
    rngs.emplace_back(o.seed * 0x9E3779B97F4A7C15ull + o.first_request + static_cast<uint64_t>(i));
  }
  std::vector<std::vector<Hypothesis>> out(static_cast<size_t>(B));
  std::vector<int32_t> ids(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) ids[i] = reqs[i].context[0];
  std::vector<float> logits, lp(static_cast<size_t>(V));
  std::vector<AttentionMap> maps;
  AttentionLog log;
  for (int64_t t = 0; !rows.empty(); ++t) {
    const int64_t R = static_cast<int64_t>(rows.size());
    logits.resize(static_cast<size_t>(R * V));
    if (o.slide && st->length() == cap) {
      // --slide: the window is full. Every row (all at the same position)
      // starts over from its last cap - stride tokens; with stride 1 the
      // token fed now is predicted from the last cap tokens, as nanoGPT
      // crops its context.
      dec.recycle(std::move(st));
      st = dec.start(std::vector<std::vector<int32_t>>(static_cast<size_t>(R)), cap);
      std::vector<int32_t> win(static_cast<size_t>(R));
      for (int64_t j = cap - o.slide_stride; j >= 1; --j) {
        for (int64_t i = 0; i < R; ++i) win[i] = rows[i].tokens[rows[i].tokens.size() - 1 - j];
        dec.step(*st, win.data(), logits.data());
      }
    }
    dec.step(*st, ids.data(), logits.data(), o.attention ? &maps : nullptr);
    if (o.attention) log.record(t, maps);
    std::vector<int64_t> keep;
    std::vector<Partial> next;
    std::vector<int32_t> next_ids;
    for (int64_t i = 0; i < R; ++i) {
      Partial& p = rows[i];
      const Request& r = reqs[p.req];
      const int64_t c = static_cast<int64_t>(r.context.size());
      int32_t tok;
      if (t < c - 1) {
        tok = r.context[t + 1];
      } else {
        const int64_t g = t - (c - 1);
        process(lp.data(), logits.data() + i * V, V, p, g, r, max_length(r, o), o);
        tok = o.sample ? draw(lp.data(), V, o, rngs[p.req])
                       : static_cast<int32_t>(std::max_element(lp.begin(), lp.end()) - lp.begin());
        p.logprobs.push_back(lp[tok]);
        p.score += lp[tok];
        if (o.attention) p.att.push_back(AttentionLog::row(maps, i));
        if (tok == o.eos) {
          out[p.req].push_back(finish(p, c, o.length_penalty, log));
          continue;
        }
        if (o.on_token) o.on_token(p.req, tok);
      }
      p.tokens.push_back(tok);
      keep.push_back(i);
      next_ids.push_back(tok);
      next.push_back(std::move(p));
    }
    if (next.empty()) break;
    if (static_cast<int64_t>(keep.size()) != R) dec.reorder(*st, keep);
    rows.swap(next);
    ids.swap(next_ids);
  }
  dec.recycle(std::move(st));  // the next batch reuses its buffers
  return out;
}

// fairseq's beam search (docs/DECODING.md), K rows per unfinished request.
std::vector<std::vector<Hypothesis>> search_beam(Decoder& dec, const std::vector<Request>& reqs,
                                                 const SearchOptions& o) {
  const int64_t V = dec.vocab_size(), B = static_cast<int64_t>(reqs.size()), K = o.beam;
  auto st = dec.start(sources_of(reqs), capacity_of(reqs, o));
  std::vector<int64_t> expand;
  std::vector<Partial> rows;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < B; ++i)
    for (int64_t k = 0; k < K; ++k) {
      expand.push_back(i);
      Partial p;
      p.req = i;
      p.tokens = {reqs[i].context[0]};
      rows.push_back(std::move(p));
      ids.push_back(reqs[i].context[0]);
    }
  dec.reorder(*st, expand);
  std::vector<std::vector<Hypothesis>> finished(static_cast<size_t>(B));
  std::vector<float> logits, lp;
  std::vector<double> cand;   // (K * V) candidate scores of one request
  std::vector<int64_t> order;  // flat candidate indices k * V + v
  std::vector<AttentionMap> maps;
  AttentionLog log;
  for (int64_t t = 0; !rows.empty(); ++t) {
    const int64_t R = static_cast<int64_t>(rows.size());
    logits.resize(static_cast<size_t>(R * V));
    dec.step(*st, ids.data(), logits.data(), o.attention ? &maps : nullptr);
    if (o.attention) log.record(t, maps);
    std::vector<int64_t> keep;
    std::vector<Partial> next;
    std::vector<int32_t> next_ids;
    for (int64_t base = 0; base < R; base += K) {  // rows [base, base + K): one request's beams
      const Request& r = reqs[rows[base].req];
      const int64_t req = rows[base].req, c = static_cast<int64_t>(r.context.size());
      if (t < c - 1) {  // still feeding the context: the K rows are copies
        for (int64_t k = 0; k < K; ++k) {
          rows[base + k].tokens.push_back(r.context[t + 1]);
          keep.push_back(base + k);
          next_ids.push_back(r.context[t + 1]);
          next.push_back(std::move(rows[base + k]));
        }
        continue;
      }
      const int64_t g = t - (c - 1), live = g == 0 ? 1 : K;  // step 0 expands beam 0 only
      const int64_t ml = max_length(r, o);
      lp.resize(static_cast<size_t>(live * V));
      cand.resize(static_cast<size_t>(live * V));
      for (int64_t k = 0; k < live; ++k) {
        process(lp.data() + k * V, logits.data() + (base + k) * V, V, rows[base + k], g, r, ml, o);
        for (int64_t v = 0; v < V; ++v) cand[k * V + v] = rows[base + k].score + lp[k * V + v];
      }
      // the top 2K candidates by (score desc, flat index asc)
      const int64_t n = live * V, top = std::min<int64_t>(2 * K, n);
      order.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) order[j] = j;
      std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int64_t a, int64_t b) {
        return cand[a] > cand[b] || (cand[a] == cand[b] && a < b);
      });
      auto& fin = finished[req];
      auto extend = [&](int64_t j) {  // beam k's hypothesis + token v
        const int64_t k = order[j] / V, v = order[j] % V;
        Partial p = rows[base + k];
        p.tokens.push_back(static_cast<int32_t>(v));
        p.logprobs.push_back(lp[k * V + v]);
        p.score = cand[order[j]];
        if (o.attention) p.att.push_back(AttentionLog::row(maps, base + k));
        return p;
      };
      for (int64_t j = 0; j < std::min(top, K); ++j)  // EOS ranked < K finishes a hypothesis
        if (order[j] % V == o.eos && std::isfinite(cand[order[j]]) && static_cast<int64_t>(fin.size()) < K) {
          Partial p = extend(j);
          p.tokens.pop_back();  // the hypothesis holds the generated ids without EOS
          fin.push_back(finish(p, c, o.length_penalty, log));
        }
      if (static_cast<int64_t>(fin.size()) >= K || g >= ml) continue;  // done: its rows leave the batch
      int64_t taken = 0;
      for (int64_t j = 0; j < top && taken < K; ++j) {  // the next beam: the first K non-EOS candidates
        if (order[j] % V == o.eos) continue;
        keep.push_back(base + order[j] / V);
        next_ids.push_back(static_cast<int32_t>(order[j] % V));
        next.push_back(extend(j));
        ++taken;
      }
      QKV_CHECK(taken == K, "beam search: fewer than K candidates");
    }
    if (next.empty()) break;  // finished requests have left; the others' beams are old rows[keep]
    dec.reorder(*st, keep);
    rows.swap(next);
    ids.swap(next_ids);
  }
  for (auto& f : finished)  // best first; stable, so earlier-finished hypotheses win ties
    std::stable_sort(f.begin(), f.end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return a.normalized_score > b.normalized_score; });
  dec.recycle(std::move(st));
  return finished;
}

}  // namespace

int64_t max_length(const Request& r, const SearchOptions& o) {
  int64_t m = o.max_len;
  if (o.max_len_b >= 0)
    m = std::min<int64_t>(m, static_cast<int64_t>(std::floor(o.max_len_a * static_cast<double>(r.source.size()))) +
                                 o.max_len_b);
  if (r.max_len >= 0) m = std::min(m, r.max_len);
  return std::max<int64_t>(m, 0);
}

void check_options(const Decoder& dec, const SearchOptions& o) {
  const int64_t V = dec.vocab_size();
  if (o.eos < 0 || o.eos >= V)
    throw UsageError("decoding: eos id " + std::to_string(o.eos) + " is outside the vocabulary [0, " +
                     std::to_string(V) + ")");
  if (o.beam < 1) throw UsageError("--beam must be >= 1 (got " + std::to_string(o.beam) + ")");
  if (o.beam >= V)
    throw UsageError("--beam " + std::to_string(o.beam) + " needs a vocabulary larger than the beam (" +
                     std::to_string(V) + " tokens)");
  if (o.n_best < 1 || o.n_best > o.beam)
    throw UsageError("--n-best must be in [1, beam] (got " + std::to_string(o.n_best) + ", beam " +
                     std::to_string(o.beam) + ")");
  if (o.sample && o.beam != 1) throw UsageError("sampling decodes one hypothesis per input: use --beam 1");
  if (o.max_len < 0 || o.min_len < 0) throw UsageError("--max-len and --min-len must be >= 0");
  if (o.min_len > o.max_len)
    throw UsageError("--min-len " + std::to_string(o.min_len) + " exceeds --max-len " + std::to_string(o.max_len));
  if (!(o.temperature > 0.0f) || !std::isfinite(o.temperature))
    throw UsageError("--temperature must be > 0 (got " + std::to_string(o.temperature) + ")");
  if (o.top_k < 0) throw UsageError("--top-k must be >= 0 (got " + std::to_string(o.top_k) + ")");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) throw UsageError("--top-p must be in (0, 1] (got " + std::to_string(o.top_p) + ")");
  if (!(o.repetition_penalty >= 1.0f))
    throw UsageError("--repetition-penalty must be >= 1 (got " + std::to_string(o.repetition_penalty) + ")");
  if (o.no_repeat_ngram < 0) throw UsageError("--no-repeat-ngram must be >= 0");
  if (o.slide && dec.has_source())
    throw UsageError("--slide is for language models (a seq2seq model's target cannot outgrow its positions)");
  if (o.slide && (o.slide_stride < 1 || o.slide_stride >= dec.max_positions()))
    throw UsageError("--slide-stride must be in [1, " + std::to_string(dec.max_positions()) + ") (got " +
                     std::to_string(o.slide_stride) + ")");
  if (o.slide && (o.beam > 1 || o.attention))
    throw UsageError("--slide works with greedy search and sampling, without attention (beam > 1 or attention given)");
}

void check_search(const Decoder& dec, const std::vector<Request>& reqs, const SearchOptions& o) {
  check_options(dec, o);
  const int64_t V = dec.vocab_size();
  if (reqs.empty()) throw UsageError("decoding: no inputs");
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Request& r = reqs[i];
    const std::string where = "input " + std::to_string(o.first_request + i + 1);
    if (r.context.empty()) throw DataError(where + ": nothing to start from (empty context)");
    for (const auto* part : {&r.context, &r.prefix})
      for (int32_t id : *part)
        if (id < 0 || id >= V)
          throw DataError(where + ": token id " + std::to_string(id) + " is outside the target vocabulary [0, " +
                          std::to_string(V) + ")");
    if (!dec.has_source() && !r.source.empty()) throw DataError(where + ": a language model takes no source");
    const int64_t need = static_cast<int64_t>(r.context.size()) + max_length(r, o);
    if (need > dec.max_positions() && !o.slide)
      throw UsageError(where + ": " + std::to_string(r.context.size()) + " context tokens + max length " +
                       std::to_string(max_length(r, o)) + " exceed the model's " +
                       std::to_string(dec.max_positions()) + " positions (lower --max-len" +
                       (dec.has_source() ? ")" : ", or --slide)"));
  }
}

std::vector<std::vector<Hypothesis>> decode(Decoder& dec, const std::vector<Request>& reqs, const SearchOptions& o) {
  check_search(dec, reqs, o);
  auto out = o.beam > 1 ? search_beam(dec, reqs, o) : search_single(dec, reqs, o);
  for (auto& n : out)
    if (static_cast<int64_t>(n.size()) > o.n_best) n.resize(static_cast<size_t>(o.n_best));
  return out;
}

}  // namespace qkv::nn
