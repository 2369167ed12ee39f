// The gradients' sum over ranks in data-parallel training
// (train/data_parallel.h), overlapped with the backward in buckets, as
// PyTorch DDP and llm.c do: the sum of the last layers' gradients travels
// while the backward still works on the first layers.
//
// Buckets: the flat gradient buffer (nn::ParamStore) cut at the model's
// marks (where each layer begins: nn::ParamStore::mark), consecutive layers
// merged from the end until a bucket holds at least min_floats floats (DDP's
// bucket_cap_mb: every bucket costs two collectives); what lies before the
// first mark (the embeddings) is the first bucket. min_floats 0: one bucket,
// summed after the backward (no overlap).
//
// Order: a backward finishes the gradients from the end of the buffer down
// and says so (nn::ParamStore::grads_final_from); a bucket starts once every
// gradient in it is final, and between layers MPI moves the started sums on
// (dist::SumAllreduce::progress). Buckets start last to first on every rank,
// whatever its backward did (a rank with nothing to compute in a micro-batch
// runs no backward): MPI matches the collectives in that order.
//
// Determinism: every element is summed over ranks in rank order
// (dist::SumAllreduce), whatever the buckets and whenever they start: with or
// without overlap, any min_floats, the same bits.
//
//   GradSum sum(comm, ps, 1 << 16);
//   sum.arm();              // before the step's last backward
//   model.backward(scale);  // starts buckets as layers finish
//   sum.finish();           // the rest; ps.grads() now hold the sum over ranks
#pragma once
#include <cstdint>
#include <vector>

#include "dist/allreduce.h"
#include "dist/comm.h"
#include "nn/param_store.h"

namespace qkv::train {

// Bucket ends over a buffer of n floats, cut at marks (increasing offsets)
// as GradSum does: [0, ends[0]), [ends[0], ends[1]), ..., ends.back() == n.
std::vector<int64_t> grad_bucket_ends(const std::vector<int64_t>& marks, int64_t n, int64_t min_floats);

class GradSum {
 public:
  GradSum(dist::Comm& comm, nn::ParamStore& ps, int64_t min_floats);
  ~GradSum();
  GradSum(const GradSum&) = delete;
  GradSum& operator=(const GradSum&) = delete;

  int buckets() const { return static_cast<int>(ends_.size()); }
  const nn::ParamStore& store() const { return ps_; }
  // The next backward of ps starts buckets as it finishes them (with one bucket: nothing to overlap).
  void arm();
  // Disarms, starts the buckets not started, waits: the gradients are the sum over ranks.
  void finish();
  // Buckets the last round started during the backward (the others started in finish()).
  int overlapped() const { return overlapped_; }
  // Seconds spent in the sum (MPI calls and this rank's share of the additions,
  // during the backward and in finish()) since the last call.
  double take_seconds();

 private:
  void final_from(int64_t offset);  // the hook: gradients from offset on are final
  void start_next();

  nn::ParamStore& ps_;
  std::vector<int64_t> ends_;
  dist::SumAllreduce<float> sum_;
  int next_ = 0;  // the next bucket to start this round (last to first); -1: all started
  int overlapped_ = 0;
  double seconds_ = 0;
};

}  // namespace qkv::train
