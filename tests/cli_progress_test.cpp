// The progress display (libcore/core/progress.h, drawn with the CLI layer's
// log sink) as a person sees it: a bar redrawn in
// place when stderr is a terminal (run under script(1), which gives the tool a
// pseudo-terminal), log lines that never land on the bar's line, and plain
// log lines when stderr is a file.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "core/progress.h"
#include "support/test_support.h"
#include "train_fixtures.h"

using namespace qkv;

TEST(CliProgress, RatesForPeople) {
  EXPECT_EQ(format_rate(0), "0");
  EXPECT_EQ(format_rate(12.5), "12.5");
  EXPECT_EQ(format_rate(950), "950");
  EXPECT_EQ(format_rate(32449), "32.4k");
  EXPECT_EQ(format_rate(1.25e6), "1.25M");
}

// A quiet start hides the whole display of a job shorter than it, finish() included.
TEST(CliProgress, QuietStartShowsNothingForShortJobs) {
  std::ostringstream log;
  auto saved = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_st>(log)));
  {
    Progress quiet("quiet", 10, "img", 3600);
    quiet.update(10);
    quiet.finish("10 images");
    Progress shown("shown", 10, "img", 0);
    shown.update(10);
    shown.finish("10 images");
  }
  spdlog::set_default_logger(saved);
  EXPECT_EQ(log.str().find("quiet"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("shown done in"), std::string::npos) << log.str();
}

namespace {

std::string train_cmd(const test::TempDir& d) {
  test::write_reversal_pairs(d.file("pairs.h5"), 400, 1);
  test::write_reversal_pairs(d.file("val.h5"), 40, 2);
  return test::bin("qkv-train") + " --no-provenance --threads 1 rnn " + d.file("pairs.h5") + " --val " +
         d.file("val.h5") + " --steps 120 -b 16 --d-emb 16 --hidden 32 --eval-every 40 --decode-limit 20 -o " +
         d.file("m.h5");
}

}  // namespace

TEST(CliProgress, BarOnATerminalNeverSharesItsLineWithALogLine) {
  if (test::run("command -v script").exit_code != 0) GTEST_SKIP() << "script(1) (bsdutils) not installed";
  test::TempDir d;
  // script copies everything the tool writes to its terminal to our stdout.
  auto r = test::run("script -q -e -c '" + train_cmd(d) + "' /dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string& screen = r.out;
  ASSERT_NE(screen.find("\r[#"), std::string::npos) << screen;            // a bar, redrawn with \r
  EXPECT_NE(screen.find("ETA "), std::string::npos);
  EXPECT_NE(screen.find("steps/s"), std::string::npos);
  // Every log line after the first bar starts on a cleared line.
  size_t first_bar = screen.find("\r[");
  int logs = 0;
  for (size_t at = screen.find("qkv-train: ", first_bar); at != std::string::npos;
       at = screen.find("qkv-train: ", at + 1)) {
    ++logs;
    ASSERT_GE(at, 4u);
    bool line_start = screen[at - 1] == '\n' || screen.compare(at - 4, 4, "\r\033[K") == 0;
    EXPECT_TRUE(line_start) << "log line glued to the bar at byte " << at << ": "
                            << screen.substr(at > 60 ? at - 60 : 0, 80);
  }
  EXPECT_GE(logs, 3);  // three evaluations and the summary
}

TEST(CliProgress, PlainLogLinesWhenStderrIsAFile) {
  test::TempDir d;
  auto r = test::run(train_cmd(d));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.err.find("\033[K"), std::string::npos);
  EXPECT_NE(r.err.find("val loss"), std::string::npos) << r.err;
}
