#include "train/signals.h"

#include "io/file_io.h"

#include <atomic>

namespace qkv::train {
namespace {
std::atomic<int> g_stop{0};
void on_stop(int sig) { g_stop.store(sig); }
}  // namespace

void install_stop_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  io::set_signal_cleanup(false);
}

int stop_requested() { return g_stop.load(); }
void clear_stop_request() { g_stop.store(0); }

const char* stop_signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

}  // namespace qkv::train
