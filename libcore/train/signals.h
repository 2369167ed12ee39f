// SIGTERM / SIGINT during training: the handler only sets a flag; the
// training loop checks it between steps, saves a checkpoint and exits
// cleanly. While the handler is installed, io::write_atomically does not
// install its own (which would abandon a checkpoint write half done): the
// write finishes, then the loop sees the flag.
#pragma once
#include <csignal>

namespace qkv::train {

// Installs the flag-setting handler for SIGTERM and SIGINT (idempotent).
void install_stop_handler();
// The signal that asked to stop (SIGTERM, SIGINT), or 0.
int stop_requested();
void clear_stop_request();  // for tests


}  // namespace qkv::train
