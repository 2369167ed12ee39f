// Training data as qkv-train reads it: token sequences ("tokens"), paired
// sequences ("token_pairs") and image patches ("patches"), each read whole and
// checked (offsets, id ranges, label ranges) before any training starts, so a
// bad file fails with one line naming it rather than midway through a run.
//
//   Sequences s = load_tokens("train.h5");          // s.n(), s.seq(i), s.len(i), s.vocab
//   Pairs p = load_token_pairs("pairs.h5");          // p.src, p.tgt (same count)
//   Patches x = load_patches("fmnist.h5");          // x.patches (N, P, D) float32, x.labels (N)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "train/augment.h"

namespace qkv::io {
class H5In;
}

namespace qkv::train {

// The vocabulary facts a tokens file carries (root attributes, or the /src and
// /tgt groups' attributes in a token_pairs file).
struct Vocab {
  int64_t vocab_size = 0;
  int32_t pad_id = 0, bos_id = 1, eos_id = 2, unk_id = 3;
  std::string tokenizer_sha256;
};

// Ragged token sequences: sequence i is ids[offsets[i] : offsets[i+1]].
struct Sequences {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets{0};  // n + 1
  Vocab vocab;
  std::string path;  // for messages

  int64_t n() const { return static_cast<int64_t>(offsets.size()) - 1; }
  const int32_t* seq(int64_t i) const { return ids.data() + offsets[i]; }
  int64_t len(int64_t i) const { return offsets[i + 1] - offsets[i]; }
  void push(const int32_t* p, int64_t len);
  Sequences subset(const std::vector<int64_t>& idx) const;  // same vocab, chosen sequences in order
};

struct Pairs {
  Sequences src, tgt;  // src.n() == tgt.n()
  std::string path;
  int64_t n() const { return src.n(); }
  Pairs subset(const std::vector<int64_t>& idx) const;
};

struct Patches {
  Tensor patches;               // (N, P, D) float32, as the model sees them
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

// Reads /<group>/ids and /<group>/offsets (group "" = root) and the attributes
// of that group, checking offsets and that every id is < vocab_size.
Sequences read_sequences(const io::H5In& in, const std::string& group);

Sequences load_tokens(const std::string& path);      // qkv_format "tokens"
Pairs load_token_pairs(const std::string& path);     // qkv_format "token_pairs"
Patches load_patches(const std::string& path);       // qkv_format "patches"

// The same vocabulary (size and tokenizer digest) in a training and a
// validation file; throws DataError naming both when they differ.
void check_same_vocab(const Vocab& train, const std::string& train_path, const Vocab& val,
                      const std::string& val_path, const std::string& what);

// Throws DataError when the data's vocabulary is larger than the model's.
void check_vocab_fits(const Vocab& data, const std::string& data_path, int64_t model_vocab,
                      const std::string& model_what);

}  // namespace qkv::train
