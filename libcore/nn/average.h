// Checkpoint averaging (qkv-model average): the element-wise mean of the
// parameters of several checkpoints of one model, as fairseq's
// scripts/average_checkpoints.py and Vaswani et al. 2017 (the last 5 or 20
// checkpoints) do. Sums in double, in the order given, then one division.
//
//   std::unique_ptr<nn::Model> avg = nn::average_checkpoints({"a.h5", "b.h5", "c.h5"});
//
// Every checkpoint must have the first one's architecture and the same
// parameters (names and shapes); DataError naming the file otherwise. The
// result has the first checkpoint's config; no optimizer state, no train state.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/model.h"

namespace qkv::nn {

std::unique_ptr<Model> average_checkpoints(const std::vector<std::string>& paths);

}  // namespace qkv::nn
