// The GPT-2-style byte-level pre-tokenizer and the whitespace splitter.
#include <gtest/gtest.h>

#include <random>

#include "tokenize/pretokenize.h"

using namespace qkv::tokenize;

namespace {
std::vector<std::string> split(PreTokenizer m, const std::string& s) {
  std::vector<std::string> out;
  pretokenize(m, s, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}
using V = std::vector<std::string>;
}  // namespace

TEST(TokenizePretokenize, Gpt2Rules) {
  EXPECT_EQ(split(PreTokenizer::gpt2, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(PreTokenizer::gpt2, "I'm don't they'll"), (V{"I", "'m", " don", "'t", " they", "'ll"}));
  EXPECT_EQ(split(PreTokenizer::gpt2, "a, b!? 42x"), (V{"a", ",", " b", "!?", " 42", "x"}));
  // A run of spaces leaves its last space to the next word.
  EXPECT_EQ(split(PreTokenizer::gpt2, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(PreTokenizer::gpt2, "a\n\nb  "), (V{"a", "\n", "\n", "b", "  "}));
  EXPECT_EQ(split(PreTokenizer::gpt2, "x\r\n"), (V{"x", "\r\n"}));
  // UTF-8 stays inside words.
  EXPECT_EQ(split(PreTokenizer::gpt2, "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC"), (V{"caf\xC3\xA9", " \xE6\x97\xA5\xE6\x9C\xAC"}));
  EXPECT_EQ(split(PreTokenizer::gpt2, ""), V{});
}

TEST(TokenizePretokenize, NoneAndWhitespace) {
  EXPECT_EQ(split(PreTokenizer::none, "a b  c"), (V{"a b  c"}));
  EXPECT_EQ(split(PreTokenizer::whitespace, "  HH AH0\tL  OW1 "), (V{"HH", "AH0", "L", "OW1"}));
}

TEST(TokenizePretokenize, Gpt2PiecesConcatenateToInput) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s;
    int n = static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(trial % 2 ? rng() % 256 : " \n'aZ9,\xC3"[rng() % 9]));
    std::string joined;
    for (auto& p : split(PreTokenizer::gpt2, s)) {
      EXPECT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, s);
  }
}
