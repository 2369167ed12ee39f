#include "dist/comm.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "core/ranks.h"
#include "dist/launch.h"
#include "io/sha256.h"

#if QKV_WITH_MPI
#include <mpi.h>
#endif

namespace qkv::dist {

bool have_mpi() { return QKV_WITH_MPI; }

#if QKV_WITH_MPI
namespace {

// A failing rank: rank 0 prints the line and ends the job. Another rank
// waits a moment first: when the failure is common to all ranks (bad data,
// different flags), rank 0 fails too and its abort ends this rank before it
// prints, so the job says it once; when it is this rank's alone, rank 0 is
// waiting in a collective, and this rank prints (naming itself) and aborts.
[[noreturn]] void fail_every_rank(const std::string& line, int code) {
  Comm& comm = Comm::world();
  if (!comm.is_root()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::fprintf(stderr, "%s (rank %d of %d)\n", line.c_str(), comm.rank(), comm.size());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);  // MPI_Abort does not return; in case it does
}
const RankHooks kRankHooks{fail_every_rank};

void finalize_at_exit() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

}  // namespace
#endif

Comm& Comm::world() {
  static Comm* world = [] {
    Launch launch = launch_from_env();
    check_launch(launch, have_mpi());
    auto* c = new Comm();
#if QKV_WITH_MPI
    if (launch.size > 1) {
      int provided = 0;
      // Only the thread that calls into qkv's training loop talks to MPI.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
      std::atexit(finalize_at_exit);
      if (c->size_ != launch.size) {
        MPI_Finalize();
        throw UsageError("started as one of " + std::to_string(launch.size) + " processes (" + launch.source +
                         "), but MPI reports a job of " + std::to_string(c->size_) +
                         ": the launcher (mpirun, srun --mpi) does not match the MPI library qkv was built with");
      }
      register_ranks(&kRankHooks);
    }
#endif
    return c;
  }();
  return *world;
}

void Comm::barrier() {
#if QKV_WITH_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

int64_t Comm::max(int64_t v) {
#if QKV_WITH_MPI
  if (size_ > 1) {
    long long in = v, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    return out;
  }
#endif
  return v;
}

void Comm::check_same(const std::string& what, const std::string& text) {
  if (size_ == 1) return;
  std::string mine = io::sha256_hex(text.data(), text.size());  // 64 hex digits
  std::string root = mine;
#if QKV_WITH_MPI
  MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
#endif
  int64_t first_differing = -max(mine == root ? -size_ : -rank_);  // the smallest differing rank, or size
  if (first_differing < size_)
    throw UsageError(what + " differ between ranks: rank " + std::to_string(first_differing) +
                     " was started with other settings than rank 0 (start every rank with the same command line)");
}

}  // namespace qkv::dist
