#include "train/data.h"

#include <cstring>
#include <optional>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "formats/patches.h"
#include "formats/shard.h"
#include "io/file_io.h"
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

namespace {

// Reads each file with read_one, checks the shards, appends all to the first.
template <class T, class ReadOne, class Append>
T read_files(const std::vector<std::string>& paths, ReadOne read_one, Append append) {
  QKV_CHECK(!paths.empty(), "read_files: no paths");
  std::vector<std::pair<std::string, std::optional<formats::Shard>>> shards;
  T all;
  for (size_t k = 0; k < paths.size(); ++k) {
    if (paths.size() > 1) shards.emplace_back(paths[k], formats::read_shard(io::H5In(paths[k])));
    if (k == 0) all = read_one(paths[k]);
    else append(all, read_one(paths[k]));
  }
  formats::check_shards(shards);
  return all;
}

void append_sequences(Sequences& all, const Sequences& more, const std::string& what) {
  check_same_vocab(all.vocab, all.path, more.vocab, more.path, what);
  for (int64_t i = 0; i < more.n(); ++i) all.push(more.seq(i), more.len(i));
}

}  // namespace

Sequences read_tokens_files(const std::vector<std::string>& paths) {
  return read_files<Sequences>(paths, read_tokens, [](Sequences& all, const Sequences& more) {
    append_sequences(all, more, "this shard");
  });
}

Pairs read_token_pairs_files(const std::vector<std::string>& paths) {
  return read_files<Pairs>(paths, read_token_pairs, [](Pairs& all, const Pairs& more) {
    append_sequences(all.src, more.src, "its /src");
    append_sequences(all.tgt, more.tgt, "its /tgt");
  });
}

Patches load_patches_files(const std::vector<std::string>& paths) {
  return read_files<Patches>(paths, load_patches, [](Patches& all, const Patches& more) {
    if (more.num_patches() != all.num_patches() || more.patch_dim() != all.patch_dim() ||
        more.num_classes != all.num_classes || more.class_names != all.class_names)
      throw DataError(more.path + ": patches of shape " + shape_str({more.num_patches(), more.patch_dim()}) + " and " +
                      std::to_string(more.num_classes) + " classes differ from " + all.path + "'s " +
                      shape_str({all.num_patches(), all.patch_dim()}) + " and " + std::to_string(all.num_classes));
    const int64_t n = all.n(), m = more.n(), row = all.num_patches() * all.patch_dim();
    Tensor joined({n + m, all.num_patches(), all.patch_dim()});  // (N + M, P, D)
    std::memcpy(joined.data<float>(), all.patches.data<float>(), sizeof(float) * n * row);
    std::memcpy(joined.data<float>() + n * row, more.patches.data<float>(), sizeof(float) * m * row);
    all.patches = std::move(joined);
    all.labels.insert(all.labels.end(), more.labels.begin(), more.labels.end());
  });
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
