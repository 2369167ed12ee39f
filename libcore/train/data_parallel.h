// Data-parallel training over the ranks of an MPI job (dist::Comm): every
// rank holds the whole model, computes a contiguous share of each batch
// (rank r of N: rows [B r / N, B (r + 1) / N)), and the gradients are summed
// over ranks in a fixed order (dist::sum_over_ranks) before clipping and the
// update, so every rank holds the same parameters, bit for bit. Dropout masks
// are drawn as the whole batch would draw them (nn::BatchSlice) and
// augmentation is a function of the example, so a run's results do not depend
// on N beyond the order of float sums.
//
//   DataParallel dp(comm);
//   std::optional<nn::BatchSlice> slice;
//   nn::Batch mine = dp.part(batch, slice);        // slice alive through forward
//   train_step(model, opt, mine, lr, clip, &dp);
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "dist/allreduce.h"
#include "dist/comm.h"
#include "nn/dropout.h"
#include "nn/model.h"
#include "train/trainer.h"

namespace qkv::train {

class DataParallel : public StepReduce {
 public:
  explicit DataParallel(dist::Comm& comm);
  ~DataParallel();
  dist::Comm& comm() { return comm_; }

  // The rows [begin, end) of a batch of B rows this rank computes.
  std::pair<int64_t, int64_t> share(int64_t B) const;
  // This rank's part of a training batch, with the BatchSlice its forward
  // draws dropout under. An empty share computes row 0 as a stand-in (it
  // draws the masks every rank draws) that counts for nothing.
  nn::Batch part(const nn::Batch& batch, std::optional<nn::BatchSlice>& slice);

  double whole_batch(nn::Stats& s) override;
  void gradients(nn::ParamStore& ps) override;

  // Sums over ranks, in place.
  void sum(double* x, int64_t n);

  // Mean seconds per step this rank spent in the gradients' sum (waiting for
  // the other ranks' backward, then the transfer) since the last call.
  double take_wait_per_step();

 private:
  dist::Comm& comm_;
  bool stand_in_ = false;  // the last part() was a stand-in
  // The gradients' sum, kept from step to step: a fresh one per step costs
  // two communicator duplications and a receive buffer that page-faults on
  // every call (bench/allreduce_bench: 11x slower for 10M floats).
  std::unique_ptr<dist::SumAllreduce<float>> grad_sum_;
  const float* grad_sum_of_ = nullptr;  // the buffer grad_sum_ was made for
  double wait_s_ = 0;                   // in gradients(), since take_wait_per_step()
  int64_t wait_steps_ = 0;
};

}  // namespace qkv::train
