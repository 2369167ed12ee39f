// Pre-tokenization: cutting text into the pieces BPE merges never cross.
//
//   gpt2        GPT-2's rule, on bytes: contractions ('s 't 're 've 'm 'll 'd),
//               " ?letters", " ?digits", " ?other symbols", and whitespace runs
//               (a run before a word leaves its last space to the word).
//               Bytes >= 0x80 count as letters, so UTF-8 text (CJK, accents,
//               emoji) stays in words and no byte sequence is rejected.
//   none        the whole sequence is one piece.
//   whitespace  split on runs of ASCII whitespace, which are dropped (the word
//               model; decoding joins words with one space).
// The pieces of gpt2 and none concatenate back to the input exactly.
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace qkv::tokenize {

enum class PreTokenizer { gpt2, none, whitespace };

const char* pretokenizer_name(PreTokenizer p);
// Throws UsageError for an unknown name.
PreTokenizer pretokenizer_from_name(const std::string& name);

inline bool is_space_byte(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Calls fn(std::string_view piece) for each piece of text, in order.
template <class Fn>
void pretokenize(PreTokenizer mode, std::string_view text, Fn&& fn);

// ---------------------------------------------------------------------------
namespace detail {
// 0 other, 1 letter, 2 digit, 3 whitespace
extern const std::array<unsigned char, 256> kByteClass;
}  // namespace detail

template <class Fn>
void pretokenize(PreTokenizer mode, std::string_view text, Fn&& fn) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  if (n == 0) return;
  if (mode == PreTokenizer::none) {
    fn(text);
    return;
  }
  if (mode == PreTokenizer::whitespace) {
    size_t i = 0;
    while (i < n) {
      while (i < n && is_space_byte(s[i])) ++i;
      size_t j = i;
      while (j < n && !is_space_byte(s[j])) ++j;
      if (j > i) fn(text.substr(i, j - i));
      i = j;
    }
    return;
  }
  const unsigned char* cls = detail::kByteClass.data();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    // contractions
    if (c == '\'' && i + 1 < n) {
      unsigned char d = s[i + 1];
      if (d == 's' || d == 't' || d == 'm' || d == 'd') {
        fn(text.substr(i, 2));
        i += 2;
        continue;
      }
      if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') || (d == 'l' && s[i + 2] == 'l'))) {
        fn(text.substr(i, 3));
        i += 3;
        continue;
      }
    }
    size_t start = i;
    unsigned char k = cls[c];
    if (c == ' ' && i + 1 < n && cls[s[i + 1]] != 3) {  // " ?X+"
      ++i;
      k = cls[s[i]];
    }
    if (k != 3) {
      size_t j = i + 1;
      while (j < n && cls[s[j]] == k) ++j;
      fn(text.substr(start, j - start));
      i = j;
      continue;
    }
    // whitespace run [i, j)
    size_t j = i + 1;
    while (j < n && cls[s[j]] == 3) ++j;
    if (j < n && j - i > 1) --j;  // \s+(?!\S): leave the last one to the next piece
    fn(text.substr(i, j - i));
    i = j;
  }
}

}  // namespace qkv::tokenize
