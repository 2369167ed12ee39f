// The processes of one run. qkv-train under `mpirun -np N` (or `srun`) is N
// ranks of one job; run directly it is one rank alone. MPI is an optional
// dependency found at configure time: a build without it is always alone and
// refuses to start as one of several processes (dist/launch.h).
//
//   dist::Comm& comm = dist::Comm::world();      // joins the job (MPI_Init) on first call
//   comm.check_same("run settings", digest);     // every rank started with the same flags?
//   dist::sum_over_ranks(comm, stats, 3);        // fixed-order sum, the same bits on every rank
//
// A failure on any rank after world() ends every rank: cli::Tool reports it
// through the rank hooks (core/ranks.h) registered here, which print one line
// and call MPI_Abort (so the others do not wait forever in a collective).
#pragma once
#include <cstdint>
#include <string>

namespace qkv::dist {

// True when this build has MPI (found at configure time).
bool have_mpi();

class Comm {
 public:
  // The job this process belongs to. The first call reads the launcher's
  // environment, and when it started several processes, initializes MPI
  // (MPI_Finalize runs at exit). Throws UsageError on a build without MPI
  // started as one of several processes.
  static Comm& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  void barrier();
  // The largest of every rank's v (e.g. "has any rank been asked to stop?").
  int64_t max(int64_t v);
  // Rank 0 sends its SHA-256 of `text` (e.g. the run settings); a rank whose
  // own differs makes every rank throw the same UsageError naming the first
  // such rank and `what`.
  void check_same(const std::string& what, const std::string& text);

 private:
  Comm() = default;
  int rank_ = 0, size_ = 1;
};

}  // namespace qkv::dist
