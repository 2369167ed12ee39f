// Training data as qkv-train reads it: token sequences ("tokens"), paired
// sequences ("token_pairs") and image patches ("patches"), each read whole
// through the format readers (formats/tokens.h, formats/patches.h) and checked
// before any training starts, so a bad file fails with one line naming it
// rather than midway through a run.
//
//   Sequences s = read_tokens("train.h5");          // s.n(), s.seq(i), s.len(i), s.vocab
//   Pairs p = read_token_pairs("pairs.h5");          // p.src, p.tgt (same count)
//   Patches x = load_patches("fmnist.h5");          // x.patches (N, P, D) float32, x.labels (N)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/shard.h"
#include "formats/tokens.h"
#include "tensor/tensor.h"
#include "train/augment.h"

namespace qkv::train {

using formats::Pairs;
using formats::read_token_pairs;
using formats::read_tokens;
using formats::Sequences;
using formats::Vocab;

struct Patches {
  Tensor patches;               // (N, P, D) float32, as the model sees them (formats::patch_values)
  std::vector<int32_t> labels;  // (N)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  std::string path;
  bool has_geometry = false;  // the file's image geometry attributes (qkv-patchify writes them)
  PatchGeometry geometry;     // for --augment
  int64_t n() const { return static_cast<int64_t>(labels.size()); }
  int64_t num_patches() const { return patches.dim(1); }
  int64_t patch_dim() const { return patches.dim(2); }
  Patches subset(const std::vector<int64_t>& idx) const;
};

// A whole "patches" file with labels, values as a model sees them
// (formats::patch_values) and, when the file has them, its geometry for --augment.
Patches load_patches(const std::string& path);

// Several files read as one dataset, in the order given: one file, or the
// shards 0..N-1 of one split (qkv-tokenize encode --shard, qkv-patchify
// --shard; checked by formats::check_shards, naming a missing or misplaced
// shard). Each file is checked like a single one, and against the first
// (same vocabulary; same patch shape and classes). "@LIST" names a text file
// listing the files, one per line (formats::expand_list_files).
using formats::expand_list_files;
using formats::files_name;
Sequences read_tokens_files(const std::vector<std::string>& paths);
Pairs read_token_pairs_files(const std::vector<std::string>& paths);
Patches load_patches_files(const std::vector<std::string>& paths);

// The same vocabulary (size and tokenizer digest) in a training and a
// validation file; throws DataError naming both when they differ.
void check_same_vocab(const Vocab& train, const std::string& train_path, const Vocab& val,
                      const std::string& val_path, const std::string& what);

// Throws DataError when the data's vocabulary is larger than the model's.
void check_vocab_fits(const Vocab& data, const std::string& data_path, int64_t model_vocab,
                      const std::string& model_what);

}  // namespace qkv::train
