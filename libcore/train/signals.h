// SIGTERM / SIGINT / SIGUSR1 during training: the handler only sets a flag;
// the training loop checks it between steps, saves a checkpoint and exits
// cleanly. SIGUSR1 is what a batch system sends ahead of a job's time limit
// (SLURM: #SBATCH --signal=USR1@120), so the job can checkpoint and requeue. While the handler is installed, io::write_atomically does not
// install its own (which would abandon a checkpoint write half done): the
// write finishes, then the loop sees the flag.
#pragma once
#include <csignal>

namespace qkv::train {

// Installs the flag-setting handler for SIGTERM, SIGINT and SIGUSR1 (idempotent).
void install_stop_handler();
// The signal that asked to stop (SIGTERM, SIGINT, SIGUSR1), or 0.
int stop_requested();
// "SIGTERM", "SIGINT", "SIGUSR1" (for messages).
const char* stop_signal_name(int sig);
void clear_stop_request();  // for tests


}  // namespace qkv::train
