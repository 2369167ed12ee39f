// qkv-attend -m model.h5 INPUT -o att.h5: every attention layer x head of a
// model for every example of a dataset, as ragged tensors (qkv_format
// "attention", layout in docs/FORMATS.md), streamed to disk a batch at a time
// (memory does not grow with the number of examples), with the analyses of
// attend/rollout.h, flow.h and head_stats.h stored beside the weights.
//
// Inputs (one file, shards of one, or text with -t) and examples: attend/source.h.
// Attention comes out of nn::Model::attention_maps(); maps are grouped by
// their kind (self, encoder_self, decoder_self, cross, additive) and numbered
// by layer within it.
//
// With --mask-heads (nn/head_mask.h) the export runs with those heads zeroed
// and stores the mean loss with and without them; --importance and
// --grad-rollout come from the model's backward (attend/gradients.h). The
// model is loaded with dropout and label smoothing 0 (load_analysis_model).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attend/rollout.h"
#include "attend/source.h"

namespace qkv::attend {

struct ExportOptions {
  std::string model, output;
  InputOptions input;  // INPUT files, -t / --tgt-tokenizer, --bos / --eos
  std::vector<int64_t> layers, heads;  // empty = all
  std::string examples;                // "" = all, else "0-9,15"
  bool stats = false, stats_only = false, rollout = false, flow = false;
  RolloutOptions rollout_options;
  std::string mask_heads;                         // "" = none
  bool importance = false, grad_rollout = false;
  int64_t target_class = -1, target_token = -1;  // --grad-rollout's target; -1 = the default (gradients.h)
  int64_t batch = 16;
};

void run_export(const ExportOptions& opt);

// "0-9,15" -> {0..9, 15}, each < n; "" -> 0..n-1. UsageError naming `flag` otherwise.
std::vector<int64_t> parse_index_list(const std::string& text, int64_t n, const std::string& flag);

}  // namespace qkv::attend
