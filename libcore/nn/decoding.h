// Search strategies over a Decoder (nn/decoder.h): greedy, beam search and
// sampling, for any model that generates. They see logits only, never a
// model's insides. docs/DECODING.md states the definitions; in short:
//
//   auto dec = model.decoder();
//   nn::SearchOptions o;  o.eos = eos_id;  o.beam = 5;  o.n_best = 2;  o.length_penalty = 0.6;
//   std::vector<nn::Request> reqs = {{src_ids, {bos_id}, {}}};    // seq2seq: source, context {bos}
//   auto out = nn::decode(*dec, reqs, o);                          // out[i]: n-best of request i
//   out[0][0].ids, .score, .normalized_score, .token_logprobs
//
// A language model takes its prompt as the context: {{}, prompt_ids, {}}.
//
// Each request is a row: its context tokens are fed first (their logits are
// not scored), then tokens are generated until EOS; the generated tokens
// t = 0, 1, ... are scored with the log-probabilities of the processed
// distribution (below), EOS included. At generated step max_len only EOS is
// allowed, so a hypothesis has at most max_len tokens before its EOS.
//
// Every step's logits of a row pass, in this order:
//   1. repetition penalty r: a token already in the row (context or generated)
//      has its logit divided by r when positive, multiplied by r when negative
//   2. temperature T: logits / T
//   3. log-softmax
//   4. no-repeat-ngram N: a token completing an N-gram already in the row is -inf
//   5. at max_len all but EOS are -inf; before that, before min_len generated tokens, EOS is -inf
//   6. forced prefix: at generated step t < |prefix| all but prefix[t] are -inf
// Greedy takes the arg max (the lowest id on ties). Sampling keeps, in order
// of probability (lower id first on ties), the top_k tokens (0 = all), then
// the smallest head whose probability, renormalized, reaches top_p (the token
// that crosses top_p is kept), and draws from them renormalized with the
// request's own generator, seeded from (seed, request index): the same seed
// gives the same tokens on any thread count and in any batch.
//
// Beam search follows fairseq's SequenceGenerator (docs/DECODING.md).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/decoder.h"

namespace qkv::nn {

struct Request {
  std::vector<int32_t> source;   // seq2seq: source ids; language model: empty
  std::vector<int32_t> context;  // fed before generating, >= 1 token: seq2seq {bos}; language model: the prompt
  std::vector<int32_t> prefix;   // forced first generated tokens (part of the hypothesis and its score)
  int64_t max_len = -1;          // >= 0: this request's own cap on max_length() (e.g. what the model holds)
};

struct SearchOptions {
  int32_t eos = -1;              // end-of-sequence id (required)
  int64_t beam = 1;              // K: 1 = greedy (or sampling)
  bool sample = false;           // sample instead of the arg max (beam must be 1)
  int64_t n_best = 1;            // hypotheses returned per request, <= beam
  double length_penalty = 1.0;   // alpha: normalized score = score / L^alpha, L = tokens with EOS
  int64_t min_len = 0;           // generated tokens before EOS may come
  int64_t max_len = 200;         // generated tokens at most (EOS excluded)
  double max_len_a = 0.0;        // with max_len_b >= 0: max length = min(max_len, floor(a * |source|) + b)
  int64_t max_len_b = -1;
  float temperature = 1.0f;      // > 0
  int64_t top_k = 0;             // sampling: 0 = no limit
  float top_p = 1.0f;            // sampling: in (0, 1]
  float repetition_penalty = 1.0f;  // >= 1 (1 = off)
  int64_t no_repeat_ngram = 0;   // N (0 = off)
  uint64_t seed = 0;             // sampling
  // Request i's sampling generator is seeded from (seed, first_request + i):
  // a caller decoding a long input in batches passes each batch's first index,
  // so the samples do not depend on the batch size.
  uint64_t first_request = 0;
  // Greedy and sampling: called with (request index, token) as each generated
  // token is chosen (EOS excluded), e.g. to print text as it is generated.
  std::function<void(int64_t, int32_t)> on_token;
  bool attention = false;        // keep the attention of the returned hypotheses
  // Language models, greedy and sampling: generate past the model's
  // positions P. Once P tokens are fed, the state starts over from the last
  // P - slide_stride of them: with stride 1 each further token is predicted
  // from the last P tokens (nanoGPT's crop), at P steps per token; a stride s
  // costs (P - s) / s steps per token, contexts between P - s + 1 and P.
  bool slide = false;
  int64_t slide_stride = 1;
};

// Attention of one layer over a hypothesis: weights (L, H, Tk), row t the
// query of generated token t (EOS included), zero beyond the keys that token
// saw (self-attention: positions [0, context + t]; cross-attention: the
// batch's longest source, zero beyond this request's own).
struct AttentionTrace {
  std::string name;  // the layer (e.g. "transformer.decoder.layers.0.multihead_attn")
  std::string kind;  // AttentionMap::kind: "self" (gpt), "decoder_self", "cross", "additive" (rnn)
  int64_t layer = 0;  // index among the maps of the same kind
  int64_t heads = 0, keys = 0;
  std::vector<float> weights;  // (L, heads, keys)
};

struct Hypothesis {
  std::vector<int32_t> ids;           // generated tokens, the final EOS excluded
  std::vector<float> token_logprobs;  // one per generated token, EOS included (ids.size() + 1)
  double score = 0.0;                 // sum of token_logprobs
  double normalized_score = 0.0;      // score / (ids.size() + 1)^alpha (beam search's ranking)
  std::vector<AttentionTrace> attention;  // with SearchOptions::attention
};

// Checks the options (UsageError naming the option).
void check_options(const Decoder& dec, const SearchOptions& o);
// check_options, then the requests (DataError: ids outside the vocabulary,
// empty context; UsageError: more positions than the model holds), each
// named "input N", N = first_request + its index + 1.
void check_search(const Decoder& dec, const std::vector<Request>& requests, const SearchOptions& o);

// n-best per request (n_best hypotheses, best first): beam search when
// o.beam > 1, sampling when o.sample, else greedy. Requests are decoded
// together as one batch; a finished one leaves the batch.
std::vector<std::vector<Hypothesis>> decode(Decoder& dec, const std::vector<Request>& requests,
                                            const SearchOptions& o);

// The maximum generated length of a request (max_len, max_len_a/b, the request's max_len).
int64_t max_length(const Request& r, const SearchOptions& o);

}  // namespace qkv::nn
