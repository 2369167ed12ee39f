// Learning a tokenizer from text: streaming counts, then the model.
//
//   LearnOptions o;  o.model = Model::bpe;  o.vocab_size = 8000;
//   Tokenizer tok = learn({"corpus.txt"}, o);
//   tok.save("tok.h5");
//
// bpe: byte-level BPE over pre-tokens. Pre-tokens are counted once (a hash
// map, one per thread, over blocks of lines, so memory follows the number of
// distinct pre-tokens, not the corpus size); merges then run over the unique
// pre-tokens with pair counts updated incrementally, an index pair -> words
// holding it, and a max-heap with lazy deletion. Ties break towards the
// smaller (left id, right id), so a corpus always gives the same merges.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tokenize/tokenizer.h"

namespace qkv::tokenize {

struct LearnOptions {
  Model model = Model::bpe;
  PreTokenizer pretokenizer = PreTokenizer::gpt2;
  int64_t vocab_size = 8000;   // bpe: total pieces; char/word: 0 = no limit
  int64_t min_frequency = 0;   // 0 = model default: 2 for bpe merges, 1 for char/word pieces
  std::vector<std::string> specials;  // user special tokens, never split
  int64_t sample = 0;          // > 0: learn from this many lines drawn uniformly (reservoir, fixed seed)
  bool document = false;       // char: the text is documents (encode --document), so '\n' is a character too
  int threads = 1;
  bool progress = true;        // progress lines on stderr
};

// (text, count) pairs sorted by text.
using Counts = std::vector<std::pair<std::string, int64_t>>;

// Checks options that need no corpus (UsageError): specials, and for bpe that
// vocab_size leaves room for the 4 fixed + user specials + 256 bytes.
void check_learn_options(const LearnOptions& o);

// Counts what the model learns from: pre-tokens (bpe, word) or characters
// (char), skipping user special tokens. Throws DataError on an empty corpus.
Counts count_corpus(const std::vector<std::string>& paths, const LearnOptions& o);

// The model from counts (no I/O): what learn() does after counting.
Tokenizer learn_from_counts(const Counts& counts, const LearnOptions& o);

Tokenizer learn(const std::vector<std::string>& paths, const LearnOptions& o);

}  // namespace qkv::tokenize
