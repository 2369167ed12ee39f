#include "score/tokenize.h"

#include "core/error.h"
#include "score/text.h"

namespace qkv::score {

Tokenize tokenize_from_name(const std::string& name) {
  if (name == "13a") return Tokenize::k13a;
  if (name == "none") return Tokenize::kNone;
  throw UsageError("unknown tokenizer '" + name + "' (13a or none)");
}

const char* tokenize_name(Tokenize t) { return t == Tokenize::k13a ? "13a" : "none"; }

namespace {

void replace_all(std::u32string& s, std::u32string_view from, std::u32string_view to) {
  std::u32string out;
  size_t i = 0;
  for (size_t j; (j = s.find(from, i)) != std::u32string::npos; i = j + from.size()) {
    out.append(s, i, j - i);
    out.append(to);
  }
  out.append(s, i, std::u32string::npos);
  s = std::move(out);
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_period_or_comma(char32_t c) { return c == U'.' || c == U','; }

// ASCII punctuation and symbols except ' - . , (and the space, which becomes spaces).
bool is_split_symbol(char32_t c) {
  return (c >= U' ' && c <= U'&') || (c >= U'(' && c <= U'+') || c == U'/' || (c >= U':' && c <= U'@') ||
         (c >= U'[' && c <= U'`') || (c >= U'{' && c <= U'~');
}

// One left-to-right pass of a two-character regular expression substitution:
// where first(s[i]) and second(s[i+1]) hold, write pre s[i] mid s[i+1] post and
// continue after s[i+1] (matches do not overlap, as in re.sub).
template <class First, class Second>
std::u32string split_pairs(const std::u32string& s, First first, Second second, std::u32string_view pre,
                           std::u32string_view mid, std::u32string_view post) {
  std::u32string out;
  out.reserve(s.size() + s.size() / 2);
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && first(s[i]) && second(s[i + 1])) {
      out.append(pre);
      out.push_back(s[i]);
      out.append(mid);
      out.push_back(s[i + 1]);
      out.append(post);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

}  // namespace

std::u32string tokenize_13a(std::u32string line) {
  replace_all(line, U"<skipped>", U"");
  if (line.find(U'&') != std::u32string::npos) {
    replace_all(line, U"&quot;", U"\"");
    replace_all(line, U"&amp;", U"&");
    replace_all(line, U"&lt;", U"<");
    replace_all(line, U"&gt;", U">");
  }
  std::u32string s;  // every split symbol surrounded by spaces
  s.reserve(line.size() * 2 + 2);
  s.push_back(U' ');
  for (char32_t c : line) {
    if (is_split_symbol(c)) {
      s.push_back(U' ');
      s.push_back(c);
      s.push_back(U' ');
    } else {
      s.push_back(c);
    }
  }
  s.push_back(U' ');
  auto non_digit = [](char32_t c) { return !is_digit(c); };
  auto dash = [](char32_t c) { return c == U'-'; };
  s = split_pairs(s, non_digit, is_period_or_comma, U"", U" ", U" ");  // "x." -> "x . "
  s = split_pairs(s, is_period_or_comma, non_digit, U" ", U" ", U"");  // ".x" -> " . x"
  s = split_pairs(s, is_digit, dash, U"", U" ", U" ");                 // "3-" -> "3 - "
  std::u32string out;
  for (const auto& w : split(s)) {
    if (!out.empty()) out.push_back(U' ');
    out += w;
  }
  return out;
}

std::vector<std::u32string> words(std::u32string line, Tokenize t, bool lowercase) {
  if (lowercase) line = lower(line);
  rstrip(line);
  return split(t == Tokenize::k13a ? tokenize_13a(std::move(line)) : line);
}

}  // namespace qkv::score
