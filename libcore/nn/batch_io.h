// Batches and model outputs as HDF5 files (qkv_format "batch" and
// "model_output"), for qkv-model forward and the PyTorch interop script
// (scripts/torch/qkv_torch.py). Layouts in docs/FORMATS.md.
//
//   batch:         language_model: inp (B, T) int32 [, tgt (B, T)]
//                  seq2seq:        src (B, S), tgt_in (B, T) int32 [, tgt_out (B, T)]
//                  classify:       patches (B, P, D) float32 or uint8 [, labels (B) int32]
//   model_output:  logits (B, T, V) or (B, n_classes) float32; with targets also
//                  root attrs loss (mean), count, correct
#pragma once
#include <string>

#include "io/h5.h"
#include "nn/model.h"

namespace qkv::nn {

// Reads the fields of `task` from a "batch" file. Targets are optional: when
// the file has none, the batch has none (Batch::has_targets).
Batch read_batch(const io::H5In& in, Task task);
// Writes the fields of `task` (targets when the batch has them).
void write_batch(io::H5Out& out, const Batch& b, Task task);

// Runs m in evaluation mode on b and writes the logits (and loss when the batch has targets).
void write_model_output(io::H5Out& out, Model& m, const Batch& b);

// Human-readable summary of a checkpoint: arch, hyperparameters, parameter table, optimizer / train state.
std::string describe_checkpoint(const io::H5In& in);

}  // namespace qkv::nn
