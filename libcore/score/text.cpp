#include "score/text.h"

#include <locale.h>
#include <wctype.h>

#include "core/error.h"
#include "tokenize/utf8.h"

namespace qkv::score {

std::u32string decode_utf8(std::string_view s, const std::string& what) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = tokenize::utf8_char_len(s, i);
    auto b = static_cast<unsigned char>(s[i]);
    if (n == 1 && b >= 0x80) throw DataError(what + ": not valid UTF-8 (byte " + std::to_string(i + 1) + ")");
    char32_t c = n == 1 ? b : n == 2 ? b & 0x1F : n == 3 ? b & 0x0F : b & 0x07;
    for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(c);
    i += n;
  }
  return out;
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::u32string> split(std::u32string_view s) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) words.emplace_back(s.substr(b, i - b));
  }
  return words;
}

void rstrip(std::u32string& s) {
  while (!s.empty() && is_space(s.back())) s.pop_back();
}

namespace {

locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (!loc) throw DataError("lowercasing needs the C.UTF-8 locale, which this system lacks");
  return loc;
}

bool is_cased(char32_t c, locale_t loc) {
  auto w = static_cast<wint_t>(c);
  return towlower_l(w, loc) != w || towupper_l(w, loc) != w;
}

}  // namespace

std::u32string lower(std::u32string_view s) {
  locale_t loc = utf8_locale();
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c == 0x130) {  // capital I with dot above: "i" + combining dot above
      out += U"i\u0307";
    } else if (c == 0x3A3) {  // capital sigma: final form at the end of a word
      bool after_cased = i > 0 && is_cased(s[i - 1], loc);
      bool before_cased = i + 1 < s.size() && is_cased(s[i + 1], loc);
      out.push_back(after_cased && !before_cased ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc)));
    }
  }
  return out;
}

}  // namespace qkv::score
