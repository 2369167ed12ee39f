// Error lines as a person reads them: always one line on stderr, whatever the
// message quotes from a file or from CLI11.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/tool.h"
#include "io/h5.h"
#include "support/test_support.h"

using namespace qkv;

TEST(CliErrors, ControlBytesAreShownNotObeyed) {
  EXPECT_EQ(cli::printable("plain ünïcode"), "plain ünïcode");
  EXPECT_EQ(cli::printable("a\nb\x1b[31mc\x7f\td"), "a\\x0ab\\x1b[31mc\\x7f\\x09d");
  // bytes that are not well-formed UTF-8 are shown too: a lone 0xff, a cut sequence, an overlong '/',
  // a surrogate, a code point past U+10FFFF; 4-byte UTF-8 stays
  EXPECT_EQ(cli::printable("a\xff.h5"), "a\\xff.h5");
  EXPECT_EQ(cli::printable("\xc3"), "\\xc3");
  EXPECT_EQ(cli::printable("\xc3x"), "\\xc3x");
  EXPECT_EQ(cli::printable("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(cli::printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(cli::printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(cli::printable("\xf0\x9f\x99\x82 \xe2\x96\x81"), "\xf0\x9f\x99\x82 \xe2\x96\x81");
}

TEST(CliErrors, AnAttributeCannotForgeColoursOrLines) {
  // A file whose qkv_format holds an escape sequence and a newline; the tool
  // quotes it in its error, which must stay one line with no ESC byte.
  test::TempDir dir;
  {
    io::H5Out out(dir.file("evil.h5"), "\x1b[31mtokens\nqkv-tokenize: error: forged");
    out.commit();
  }
  auto r = test::run(test::bin("qkv-tokenize") + " decode -t " + dir.file("evil.h5") + " " + dir.file("evil.h5"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("evil.h5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\\x1b[31mtokens\\x0aqkv-tokenize"), std::string::npos) << r.err;
}

TEST(CliErrors, ParseErrorsAreOneLine) {
  auto r = test::run(test::bin("qkv-inspect") + " --no-such-flag x.h5");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
}
