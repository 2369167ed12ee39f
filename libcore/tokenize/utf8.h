// UTF-8 character boundaries for the char model and for displaying pieces.
// Invalid or truncated sequences count as one-byte characters, so every byte
// string splits into "characters" that concatenate back to it.
#pragma once
#include <cstddef>
#include <string_view>

namespace qkv::tokenize {

// Length (1-4) of the character starting at s[i] (i < s.size()).
inline size_t utf8_char_len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 1;
  if (i + len > s.size()) return 1;
  unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
  if (c1 < lo || c1 > hi) return 1;
  for (size_t k = 2; k < len; ++k) {
    unsigned char ck = static_cast<unsigned char>(s[i + k]);
    if (ck < 0x80 || ck > 0xBF) return 1;
  }
  return len;
}

}  // namespace qkv::tokenize
