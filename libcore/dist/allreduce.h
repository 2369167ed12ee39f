// Sum of a buffer over the ranks of a job, in a fixed order, in buckets that
// can start while the caller still computes (gradients of the last layers
// are final while backward works on the first ones).
//
// What is guaranteed: after wait(), element i of the buffer on every rank is
// the same bits, (((x_0[i] + x_1[i]) + x_2[i]) + ... + x_{N-1}[i]) summed in
// rank order in T, whatever the timing, the network or the MPI library's
// choice of algorithm (MPI_Allreduce promises none of this). It is made by a
// reduce-scatter and an allgather this file controls: rank r receives chunk r
// of every rank's bucket (MPI_Ialltoallv), sums the N pieces in rank order
// and sends the sum to all (MPI_Iallgatherv). Each rank sends and receives
// 2 (N-1)/N of the bucket, as a ring allreduce does. With one rank, or
// without MPI, every call is a no-op.
//
// Every rank must start the buckets in the same order (MPI matches
// collectives by order); the gathers follow that order whatever finishes
// first, on a communicator of their own.
//
//   dist::SumAllreduce<float> r(comm, grads, n, {n_last_layer, ..., n});  // bucket ends
//   ... backward of the last layer ...  r.start(0);
//   ... backward of earlier layers, calling r.progress() between them ...
//   r.wait();                                   // grads now hold the sum over ranks
//
// The receive buffer is allocated once and kept (a fresh buffer on every call
// costs page faults that make large reductions 10x slower).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/comm.h"

namespace qkv::dist {

template <typename T>  // float or double
class SumAllreduce {
 public:
  // Buckets are [0, ends[0]), [ends[0], ends[1]), ...; ends increasing, last == n.
  SumAllreduce(Comm& comm, T* data, int64_t n, std::vector<int64_t> ends);
  ~SumAllreduce();
  SumAllreduce(const SumAllreduce&) = delete;
  SumAllreduce& operator=(const SumAllreduce&) = delete;

  int buckets() const { return static_cast<int>(ends_.size()); }
  // Bucket b holds its final values on this rank: its reduction may begin.
  void start(int b);
  // Lets MPI move started reductions on (MPI progresses only inside its calls).
  void progress();
  // Starts the buckets not started yet and waits until all are summed; the
  // next round begins with start() again.
  void wait();
  // Seconds spent blocked in wait() since construction (for benchmarks).
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Bucket;
  struct Mpi;
  void gather(Bucket& b);  // sums this rank's chunk, starts sending it to all
  Comm& comm_;
  T* data_;
  std::vector<int64_t> ends_;
  std::vector<Bucket> b_;
  std::vector<T> recv_;  // every bucket's (N, chunk) pieces, persistent
  std::vector<int> started_;  // buckets in the order started this round
  size_t gathered_ = 0;       // started_[0, gathered_) have their gather started
  std::unique_ptr<Mpi> mpi_;  // the two communicators (pieces, sums)
  double wait_seconds_ = 0;
};

// Blocking sum of x over ranks (one bucket), as SumAllreduce guarantees.
template <typename T>
void sum_over_ranks(Comm& comm, T* x, int64_t n);

}  // namespace qkv::dist
