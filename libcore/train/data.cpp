#include "train/data.h"

#include <cstring>

#include "core/error.h"
#include "formats/patches.h"
#include "io/h5.h"

namespace qkv::train {

Patches Patches::subset(const std::vector<int64_t>& idx) const {
  Patches p;
  p.num_classes = num_classes;
  p.class_names = class_names;
  p.path = path;
  p.has_geometry = has_geometry;
  p.geometry = geometry;
  int64_t P = num_patches(), D = patch_dim(), row = P * D;
  p.patches = Tensor({static_cast<int64_t>(idx.size()), P, D});
  const float* src = patches.data<float>();
  float* dst = p.patches.data<float>();
  for (size_t k = 0; k < idx.size(); ++k) {
    std::memcpy(dst + k * row, src + idx[k] * row, sizeof(float) * row);
    p.labels.push_back(labels[idx[k]]);
  }
  return p;
}

Patches load_patches(const std::string& path) {
  io::H5In in(path);
  formats::PatchesReader r(in);
  if (!r.labelled()) throw DataError(in.path() + ": no dataset /labels (training needs a label per image)");
  Patches x;
  x.path = in.path();
  x.patches = r.read(0, r.size());  // (N, P, D) float32
  x.labels = r.labels();
  x.num_classes = r.num_classes();
  x.class_names = r.meta().class_names;
  if ((x.has_geometry = r.has_meta())) x.geometry = PatchGeometry(r.meta().grid, r.meta().channels, r.black());
  return x;
}

void check_same_vocab(const Vocab& a, const std::string& a_path, const Vocab& b, const std::string& b_path,
                      const std::string& what) {
  if (a.vocab_size != b.vocab_size || a.tokenizer_sha256 != b.tokenizer_sha256)
    throw DataError(b_path + ": " + what + " was encoded with a different tokenizer than " + a_path +
                    " (vocab_size " + std::to_string(b.vocab_size) + " vs " + std::to_string(a.vocab_size) +
                    (a.tokenizer_sha256 != b.tokenizer_sha256 ? ", tokenizer_sha256 differs" : "") + ")");
}

void check_vocab_fits(const Vocab& data, const std::string& data_path, int64_t model_vocab,
                      const std::string& model_what) {
  if (data.vocab_size > model_vocab)
    throw DataError(data_path + ": vocabulary of " + std::to_string(data.vocab_size) + " tokens exceeds the " +
                    std::to_string(model_vocab) + " of " + model_what);
}

}  // namespace qkv::train
