// Data-parallel training over the ranks of an MPI job (dist::Comm): every
// rank holds the whole model, computes a contiguous share of each batch
// (rank r of N: rows [B r / N, B (r + 1) / N)), and the gradients are summed
// over ranks in a fixed order (train/grad_sum.h: in buckets that start while
// the backward goes on) before clipping and the update, so every rank holds
// the same parameters, bit for bit. Dropout masks are drawn as the whole
// batch would draw them (nn::BatchSlice) and augmentation is a function of
// the example, so a run's results do not depend on N beyond the order of
// float sums.
//
//   DataParallel dp(comm, 1 << 16);                // gradient buckets of >= 64K floats (0: one, after backward)
//   std::optional<nn::BatchSlice> slice;
//   nn::Batch mine = dp.part(batch, slice);        // slice alive through forward
//   train_step(model, opt, mine, lr, clip, &dp);
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "dist/comm.h"
#include "nn/dropout.h"
#include "nn/model.h"
#include "train/grad_sum.h"
#include "train/trainer.h"

namespace qkv::train {

class DataParallel : public StepReduce {
 public:
  // bucket_floats: GradSum's min_floats (qkv-train --grad-bucket).
  DataParallel(dist::Comm& comm, int64_t bucket_floats);
  ~DataParallel();
  dist::Comm& comm() { return comm_; }

  // The rows [begin, end) of a batch of B rows this rank computes.
  std::pair<int64_t, int64_t> share(int64_t B) const;
  // This rank's part of a training batch, with the BatchSlice its forward
  // draws dropout under. An empty share computes row 0 as a stand-in (it
  // draws the masks every rank draws) that counts for nothing.
  nn::Batch part(const nn::Batch& batch, std::optional<nn::BatchSlice>& slice);

  // The last part() was a stand-in (its forward counts for nothing).
  bool stand_in() const { return stand_in_; }

  double whole_batch(nn::Stats& s) override;
  void backward_begins(nn::ParamStore& ps) override;
  void gradients(nn::ParamStore& ps) override;
  void sum_stats(nn::Stats& s) override;
  void sum_gradients(nn::ParamStore& ps) override;

  // Sums over ranks, in place.
  void sum(double* x, int64_t n);

  // Mean seconds per step this rank spent in the gradients' sum since the
  // last call: in MPI calls between layers of the backward, then waiting
  // for the other ranks' backward and the transfers still under way.
  double take_wait_per_step();

 private:
  dist::Comm& comm_;
  bool stand_in_ = false;  // the last part() was a stand-in
  // Made on first use, on every rank at the same point among the job's
  // collectives (its communicators are duplicated then): a step's first
  // backward_begins() or sum of gradients, with no collective between them.
  GradSum& grad_sum(nn::ParamStore& ps);
  int64_t bucket_floats_;
  // The gradients' sum, kept from step to step: a fresh one per step costs
  // two communicator duplications and a receive buffer that page-faults on
  // every call (bench/allreduce_bench: 11x slower for 10M floats).
  std::unique_ptr<GradSum> grad_sum_;
  double wait_s_ = 0;  // in the gradients' sum, since take_wait_per_step()
  int64_t wait_steps_ = 0;
};

}  // namespace qkv::train
