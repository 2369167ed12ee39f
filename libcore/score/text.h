// Text as sacreBLEU sees it: Python str semantics over Unicode code points,
// for scores that agree with sacreBLEU byte for byte.
//
//   std::u32string s = score::decode_utf8(line, "refs.txt: line 3");  // throws DataError on bad UTF-8
//   score::rstrip(s);                        // Python's str.rstrip()
//   auto words = score::split(s);            // Python's str.split()
//   std::u32string l = score::lower(s);      // Python's str.lower()
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace qkv::score {

// Code points of UTF-8 text; what names the text in the error ("refs.txt: line 3").
std::u32string decode_utf8(std::string_view s, const std::string& what);
std::string encode_utf8(std::u32string_view s);

// Python's str.isspace(): Unicode White_Space plus the separators 0x1C-0x1F.
bool is_space(char32_t c);

// Python's str.split() with no separator: runs of is_space() split, none kept.
std::vector<std::u32string> split(std::u32string_view s);

// Python's str.rstrip() with no argument.
void rstrip(std::u32string& s);

// Python's str.lower(): the Unicode simple lowercase mapping (glibc's C.UTF-8
// tables), U+0130 to "i" + U+0307, and capital sigma to final sigma at the end
// of a word (after a cased letter, not before one; case-ignorable characters
// in between are not skipped, unlike Python).
std::u32string lower(std::u32string_view s);

}  // namespace qkv::score
