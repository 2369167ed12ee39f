// Table-driven bad-input checks through a tool: each row runs
// `TOOL ARGS -o OUT` and expects its exit code, one line on stderr holding
// the message, and no OUT file.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace qkv::test {

struct BadCase {
  std::string args;  // after the tool's name
  int exit_code;
  std::string message;  // a piece of the one error line
};

inline void expect_refused(const std::string& tool, const std::vector<BadCase>& cases, const TempDir& tmp) {
  for (const auto& c : cases) {
    const std::string out = tmp.file("out.h5");
    auto r = run(tool + " " + c.args + " -o " + out);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(exists(out)) << c.args;
  }
}

}  // namespace qkv::test
