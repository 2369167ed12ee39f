// Progress of a long job on stderr: a bar redrawn in place when stderr is a
// terminal, otherwise a plain log line at most every few seconds; nothing
// with -q (the info level off). Library code reports through this, never
// through the CLI layer.
//
//   Progress bar("train", total_steps, "steps");      // shown from the start
//   Progress quiet("encoding", total_mb, "MB", kQuietStart);  // silent for 2 s: small jobs print nothing
//   bar.update(done, "loss 1.23");
//   bar.finish("12 sequences");
#pragma once
#include <cstdint>
#include <string>

namespace qkv {

// The usual quiet_for (below): a job shorter than this prints no progress.
constexpr double kQuietStart = 2.0;

// A rate for people: 950, 32.4k, 1.25M.
std::string format_rate(double r);

class Progress {
 public:
  // quiet_for > 0: nothing is shown (finish() included) until an update()
  // comes that many seconds after the start.
  Progress(std::string label, int64_t total, std::string unit = "", double quiet_for = 0);
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  std::string label_, unit_;
  int64_t total_;
  double start_, last_, quiet_for_;
  bool tty_, shown_ = false;
};

// Clears a bar drawn on the terminal's last line, if any, so the next line
// written to stderr starts on a clean line (the log sink calls it before each
// message; the bar comes back at its next update).
void clear_progress_line();

}  // namespace qkv
