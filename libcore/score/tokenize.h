// The tokenizers sacreBLEU's BLEU offers that qkv reproduces: 13a (mteval-v13a,
// WMT's default) and none (text already tokenized: split on whitespace).
//
//   score::tokenize_13a(U"It costs 1.5.")                   // U"It costs 1.5 ."
//   score::words(line, score::Tokenize::k13a, lowercase)    // the tokens BLEU and WER count
#pragma once
#include <string>
#include <vector>

namespace qkv::score {

enum class Tokenize { k13a, kNone };

Tokenize tokenize_from_name(const std::string& name);  // "13a" or "none"; UsageError otherwise
const char* tokenize_name(Tokenize t);

// mteval-v13a: drops "<skipped>", unescapes &quot; &amp; &lt; &gt; (in that
// order), splits off ASCII punctuation and symbols except ' and -, a period or
// comma unless it sits between digits, a dash after a digit; one space between
// tokens, none at the ends.
std::u32string tokenize_13a(std::u32string line);

// A line as BLEU counts it: lowercased (when asked, before tokenizing), right
// stripped, tokenized, split on whitespace.
std::vector<std::u32string> words(std::u32string line, Tokenize t, bool lowercase);

}  // namespace qkv::score
