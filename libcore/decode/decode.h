// qkv-decode's decoding run: a checkpoint, inputs (a tokens file, text lines
// with a tokenizer, or one prompt), the search of nn/decoding.h, and the
// hypotheses out (a tokens file with scores, text lines, fairseq-style
// columns, or text streamed token by token). tools/qkv-decode only parses
// options into DecodeOptions.
//
//   decode::DecodeOptions o;
//   o.model = "g2p.h5";  o.input = "words.txt";  o.src_tokenizer = "letters.h5";
//   o.tgt_tokenizer = "phones.h5";  o.format = decode::Format::text;  o.search.beam = 5;
//   decode::run_decode(o, std::cout, std::cerr);
//
// Inputs are read and decoded `batch` at a time and each batch's hypotheses
// are written before the next is read, so memory stays bounded by the batch.
// The output is committed (renamed into place) only when everything
// succeeded: an error leaves no output file. docs/DECODING.md ("qkv-decode")
// and docs/FORMATS.md ("hypotheses in a tokens file") describe the results.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "nn/decoding.h"
#include "score/score.h"

namespace qkv::decode {

enum class Format {
  tokens,   // HDF5 "tokens" file: ids, offsets, scores, per-token log-probabilities
  text,     // one hypothesis per line (n_best lines per input)
  fairseq,  // S-i / H-i / P-i lines as fairseq-generate prints them
};
Format format_from_name(const std::string& name);  // "tokens", "text", "fairseq"; UsageError otherwise

struct DecodeOptions {
  std::string model;             // checkpoint (qkv_format "model") of gpt, transformer or rnn
  // Tokens files (several: the shards 0..N-1 of one file, in order; "@LIST"
  // names a file listing them), or text files with src_tokenizer (read one
  // after the other); {"-"} = stdin; none with prompt.
  std::vector<std::string> inputs;
  std::string src_tokenizer;     // -t: the inputs are text lines
  std::string tgt_tokenizer;     // text of the hypotheses ("" = src_tokenizer)
  bool prompt_given = false;     // --prompt: one language-model prompt instead of INPUT
  std::string prompt;
  bool src_bos = false, src_eos = false;  // put <bos>/<eos> around each text source (as encode --bos --eos)
  std::string prefix;            // forced target prefix: text (target tokenizer) or ids "5 17 3" without one
  std::string output = "-";
  Format format = Format::tokens;
  int64_t batch = 32;            // inputs decoded together
  int64_t num_samples = 1;       // hypotheses drawn per input (each its own row)
  nn::SearchOptions search;      // eos is set from the vocabulary
  // search.max_len was given: more positions than the model holds is an
  // error. Otherwise each input's max length is also capped to what the
  // model holds after its context (as fairseq caps max_len_b).
  bool max_len_given = false;
  std::string mask_heads;        // --mask-heads: heads decoded with outputs zeroed (nn/head_mask.h)
  std::string attention;         // --attention FILE: the hypotheses' attention (qkv-attend's layout)
  std::vector<std::string> refs;  // --ref: score the best hypotheses against these
  score::ScoreOptions score;
};

// The request of an input's ids: a language model's prompt (<bos> when
// empty), or a seq2seq source after the context <bos>; with cap, its length
// also capped to what the model's positions hold after the context.
nn::Request make_request(const nn::Decoder& dec, const std::vector<int32_t>& ids, const std::vector<int32_t>& prefix,
                         bool cap);

// Runs the decoding: hypotheses to o.output; with refs, the scores to
// `report` (the caller passes stderr when the hypotheses go to stdout).
void run_decode(const DecodeOptions& o, std::ostream& report);

}  // namespace qkv::decode
