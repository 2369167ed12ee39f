#include "tokenize/pretokenize.h"

#include "core/error.h"

namespace qkv::tokenize {
namespace detail {

const std::array<unsigned char, 256> kByteClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    unsigned char k = 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) k = 1;
    else if (c >= '0' && c <= '9') k = 2;
    else if (c == ' ' || (c >= '\t' && c <= '\r')) k = 3;
    t[c] = k;
  }
  return t;
}();

}  // namespace detail

const char* pretokenizer_name(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::gpt2: return "gpt2";
    case PreTokenizer::none: return "none";
    case PreTokenizer::whitespace: return "whitespace";
  }
  return "?";
}

PreTokenizer pretokenizer_from_name(const std::string& name) {
  if (name == "gpt2") return PreTokenizer::gpt2;
  if (name == "none") return PreTokenizer::none;
  if (name == "whitespace") return PreTokenizer::whitespace;
  throw UsageError("unknown pre-tokenizer '" + name + "' (expected gpt2, none or whitespace)");
}

}  // namespace qkv::tokenize
