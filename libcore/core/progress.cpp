#include "core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "core/clock.h"

namespace qkv {
namespace {

// True while a bar is on the terminal's last line without a newline.
bool bar_on_screen = false;

// "2m05s", "1h02m" (ETA on the bar).
std::string format_duration(double s) {
  char b[32];
  long t = static_cast<long>(s + 0.5);
  if (t < 60) std::snprintf(b, sizeof b, "%lds", t);
  else if (t < 3600) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  return b;
}

}  // namespace

void clear_progress_line() {
  if (!bar_on_screen) return;
  std::fputs("\r\033[K", stderr);
  bar_on_screen = false;
}

std::string format_rate(double r) {
  char b[32];
  if (r < 1e3) std::snprintf(b, sizeof b, "%.3g", r);
  else if (r < 1e6) std::snprintf(b, sizeof b, "%.1fk", r / 1e3);
  else std::snprintf(b, sizeof b, "%.2fM", r / 1e6);
  return b;
}

Progress::Progress(std::string label, int64_t total, std::string unit, double quiet_for)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(now_s()), last_(0),
      quiet_for_(quiet_for), tty_(isatty(STDERR_FILENO)) {}

void Progress::update(int64_t done, const std::string& extra) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  double t = now_s();
  if (!shown_ && t - start_ < quiet_for_) return;
  shown_ = true;
  if (t - last_ < (tty_ ? 0.2 : 5.0) && done < total_) return;
  last_ = t;
  double el = t - start_, rate = el > 0 ? done / el : 0;
  double frac = total_ > 0 ? static_cast<double>(done) / total_ : 0;
  double eta = rate > 0 && total_ > 0 ? (total_ - done) / rate : 0;
  char head[256];
  if (total_ > 0)
    std::snprintf(head, sizeof head, "%s %lld/%lld (%3.0f%%) %s %s/s ETA %s", label_.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_), 100 * frac, format_rate(rate).c_str(),
                  unit_.c_str(), format_duration(eta).c_str());
  else
    std::snprintf(head, sizeof head, "%s %lld %s %s/s", label_.c_str(), static_cast<long long>(done),
                  format_rate(rate).c_str(), unit_.c_str());
  if (tty_) {
    int width = 24, filled = static_cast<int>(frac * width);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    std::fprintf(stderr, "\r[%s] %s %s\033[K", bar.c_str(), head, extra.c_str());
    bar_on_screen = true;
  } else {
    spdlog::info("{} {}", head, extra);
  }
}

void Progress::finish(const std::string& extra) {
  if (!spdlog::should_log(spdlog::level::info) || (quiet_for_ > 0 && !shown_)) return;
  double el = now_s() - start_;
  if (tty_) clear_progress_line();
  spdlog::info("{} done in {:.1f}s {}", label_, el, extra);
}

}  // namespace qkv
