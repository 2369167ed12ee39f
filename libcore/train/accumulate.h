// Gradient accumulation (qkv-train --accum K, fairseq's --update-freq): one
// optimizer step on K micro-batches whose gradient is that of their union.
//
//   Accumulator acc(model);                       // zeroes the gradients
//   for (const nn::Batch& b : micro) acc.add(b);  // forward + backward of each
//   StepResult r = acc.step(opt, lr, clip, reduce);
// (data parallel: acc.add(last, counts, reduce) on the last micro-batch lets
// the sum over processes overlap its backward)
//
// The loss of a batch is the mean over its counted targets, so the union's is
// the sum of the K losses over all their counted targets: add() backpropagates
// a micro-batch's loss SUM (backward scale = its count), step() sums stats and
// gradients over processes (reduce), divides the gradients by the union's
// counted targets, then clips and steps as train_step() does. train_step() is
// the K = 1 case and stays the path of runs without --accum.
#pragma once
#include "nn/model.h"
#include "nn/optim.h"
#include "train/trainer.h"

namespace qkv::train {

class Accumulator {
 public:
  explicit Accumulator(nn::Model& model);
  // One micro-batch (this process's share of it) in training mode. counts =
  // false: a data-parallel stand-in, forward only (it draws the dropout masks
  // every process draws) and left out of stats and gradients. A micro-batch
  // without counted targets or with a non-finite loss gets no backward.
  // overlap: the step's reduce, given with the last micro-batch
  // (StepReduce::backward_begins).
  void add(const nn::Batch& b, bool counts = true, StepReduce* overlap = nullptr);
  // Stats and gradients of the union (summed over processes by reduce), the
  // gradients divided by its counted targets, clipping to clip (0 = off), the
  // optimizer step at lr; stops before the step as train_step() does.
  StepResult step(nn::Optimizer& opt, double lr, double clip, StepReduce* reduce = nullptr);

 private:
  nn::Model& model_;
  nn::Stats local_;  // summed over this process's micro-batches
};

}  // namespace qkv::train
