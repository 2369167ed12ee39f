// The qkv-tokenize subcommands, callable without the CLI (tools/qkv-tokenize
// only parses options into these structs).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tokenize/learn.h"

namespace qkv::tokenize {

// learn: counts inputs ("-" = stdin; none = stdin), learns, writes output.
void run_learn(const std::vector<std::string>& inputs, const LearnOptions& opt, const std::string& output);

struct EncodeOptions {
  std::string tokenizer, tgt_tokenizer;  // tgt_tokenizer: --tsv target side ("" = same)
  std::vector<std::string> inputs;       // none = stdin
  std::string output = "-";
  bool document = false;  // one sequence per input instead of per line
  bool tsv = false;       // source<TAB>target lines -> token_pairs
  bool bos = false, eos = false;
  int64_t max_len = 0;    // > 0: at most this many ids per sequence, <bos>/<eos> included
  bool pieces = false;    // text output: pieces separated by spaces, one line per sequence
  std::string shard;      // "K/N": only the lines of the K-th of N shards (formats/shard.h); "" = all
  int threads = 1;
};
void run_encode(const EncodeOptions& opt);

// decode: a tokens or token_pairs file back to text (pairs as source<TAB>target).
void run_decode(const std::string& tokenizer, const std::string& tgt_tokenizer, const std::string& input,
                const std::string& output);

// vocab: "id<TAB>piece<TAB>type<TAB>merge rank or count" lines.
void run_vocab(const std::string& tokenizer, std::ostream& out);

}  // namespace qkv::tokenize
