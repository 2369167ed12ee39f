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

// Reads the fields of `task` from a "batch" file, whole. Targets are optional:
// when the file has none, the batch has none (Batch::has_targets).
Batch read_batch(const io::H5In& in, Task task);

// qkv-model forward over a whole file, batch after batch, in bounded memory.
struct ForwardOptions {
  int64_t batch_size = 64;          // examples per forward
  std::string lm_mode = "stream";   // tokens files: "stream" (windows) or "sequence" (one per example)
  int64_t context = 0;              // LM: window / longest example (0 = the model's maximum)
  int64_t window_stride = 0;        // LM stream: windows start every S tokens (0 = context)
  int64_t max_src_len = 0, max_tgt_len = 0;  // pairs: cut longer sequences (0 = no limit)
};
struct ForwardResult {
  std::string input_kind;  // qkv_format of the input
  int64_t examples = 0;    // rows of /logits
  bool has_targets = false;
  Stats stats;             // summed over every batch (when has_targets)
};

// Runs m in evaluation mode over every example of `in` and writes them to out
// (qkv_format "model_output") as they come: /logits (N, T, n_out) or
// (N, n_out), and with targets the root attributes loss (mean over counted
// targets), count and correct. `in` is
//   batch        its rows, as stored (targets when present)
//   tokens       language models: LM windows (lm_mode stream) or one example
//                per sequence (sequence), T = context
//   token_pairs  seq2seq models: src, tgt_in, tgt_out per pair
//   patches      classifiers: the images (patch_values), labels when present
// with the batches qkv-train makes (nn/batch_rules.h; seq2seq and sequence
// examples padded to the file's longest, so every batch has the same width).
// Only one batch of examples and activations is in memory at a time.
ForwardResult forward_file(const io::H5In& in, Model& m, const ForwardOptions& o, io::H5StreamOut& out);

// Human-readable summary of a checkpoint: arch, hyperparameters, parameter table, optimizer / train state.
std::string describe_checkpoint(const io::H5In& in);

}  // namespace qkv::nn
