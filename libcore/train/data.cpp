#include "train/data.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/h5.h"
#include "patchify/patchify.h"

namespace qkv::train {
namespace {

std::string obj(const std::string& group) { return group.empty() ? "/" : "/" + group; }
std::string ds(const std::string& group, const std::string& name) {
  return group.empty() ? name : group + "/" + name;
}

int32_t id_attr(const io::H5In& in, const std::string& group, const char* name, int32_t dflt, int64_t vocab) {
  if (!in.has_attr(obj(group), name)) return dflt;
  int64_t v = in.attr_int(obj(group), name);
  if (v < 0 || v >= vocab)
    throw DataError(in.path() + ": " + obj(group) + " attribute " + name + " = " + std::to_string(v) +
                    " is outside the vocabulary of " + std::to_string(vocab));
  return static_cast<int32_t>(v);
}

}  // namespace

void Sequences::push(const int32_t* p, int64_t len) {
  ids.insert(ids.end(), p, p + len);
  offsets.push_back(static_cast<int64_t>(ids.size()));
}

Sequences Sequences::subset(const std::vector<int64_t>& idx) const {
  Sequences s;
  s.vocab = vocab;
  s.path = path;
  for (int64_t i : idx) s.push(seq(i), len(i));
  return s;
}

Pairs Pairs::subset(const std::vector<int64_t>& idx) const { return {src.subset(idx), tgt.subset(idx), path}; }

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

Sequences read_sequences(const io::H5In& in, const std::string& group) {
  Sequences s;
  s.path = in.path();
  std::string where = in.path() + ": " + obj(group);
  if (!in.has_attr(obj(group), "vocab_size")) throw DataError(where + ": missing attribute vocab_size");
  s.vocab.vocab_size = in.attr_int(obj(group), "vocab_size");
  if (s.vocab.vocab_size <= 0 || s.vocab.vocab_size > INT32_MAX)
    throw DataError(where + ": vocab_size " + std::to_string(s.vocab.vocab_size) + " is not a valid size");
  s.vocab.pad_id = id_attr(in, group, "pad_id", 0, s.vocab.vocab_size);
  s.vocab.bos_id = id_attr(in, group, "bos_id", 1, s.vocab.vocab_size);
  s.vocab.eos_id = id_attr(in, group, "eos_id", 2, s.vocab.vocab_size);
  s.vocab.unk_id = id_attr(in, group, "unk_id", 3, s.vocab.vocab_size);
  if (in.has_attr(obj(group), "tokenizer_sha256"))
    s.vocab.tokenizer_sha256 = in.attr_string(obj(group), "tokenizer_sha256");

  Tensor ids = in.read(ds(group, "ids"), DType::i32, 1);
  Tensor off = in.read(ds(group, "offsets"), DType::i64, 1);
  if (off.numel() < 1) throw DataError(where + ": offsets is empty (needs n + 1 entries)");
  const int64_t* o = off.data<int64_t>();
  int64_t n = off.numel() - 1;
  if (o[0] != 0) throw DataError(where + ": offsets[0] is " + std::to_string(o[0]) + ", expected 0");
  for (int64_t i = 0; i < n; ++i)
    if (o[i + 1] < o[i])
      throw DataError(where + ": offsets decrease at sequence " + std::to_string(i));
  if (o[n] != ids.numel())
    throw DataError(where + ": offsets end at " + std::to_string(o[n]) + " but ids has " +
                    std::to_string(ids.numel()) + " entries");
  const int32_t* p = ids.data<int32_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    if (p[i] < 0 || p[i] >= s.vocab.vocab_size)
      throw DataError(where + ": token id " + std::to_string(p[i]) + " at position " + std::to_string(i) +
                      " is outside the vocabulary of " + std::to_string(s.vocab.vocab_size));
  s.ids.assign(p, p + ids.numel());
  s.offsets.assign(o, o + off.numel());
  return s;
}

Sequences load_tokens(const std::string& path) {
  io::H5In in(path);
  in.expect_kind("tokens");
  return read_sequences(in, "");
}

Pairs load_token_pairs(const std::string& path) {
  io::H5In in(path);
  in.expect_kind("token_pairs");
  Pairs p;
  p.path = in.path();
  p.src = read_sequences(in, "src");
  p.tgt = read_sequences(in, "tgt");
  if (p.src.n() != p.tgt.n())
    throw DataError(in.path() + ": /src has " + std::to_string(p.src.n()) + " sequences but /tgt has " +
                    std::to_string(p.tgt.n()));
  return p;
}

Patches load_patches(const std::string& path) {
  io::H5In in(path);
  in.expect_kind("patches");
  Patches x;
  x.path = in.path();
  Shape s = in.shape("patches");
  if (s.size() != 3) throw DataError(in.path() + ": /patches: expected (N, P, D), found shape " + shape_str(s));
  // Pixels stored as uint8 are scaled to [0, 1]; float32 patches are taken as
  // they are (the patchify step already normalized them).
  hid_t d = H5Dopen2(in.handle(), "/patches", H5P_DEFAULT);
  hid_t t = H5Dget_type(d);
  bool is_int = H5Tget_class(t) == H5T_INTEGER;
  H5Tclose(t);
  H5Dclose(d);
  x.patches = in.read("patches", DType::f32, 3);
  if (is_int) {
    float* v = x.patches.data<float>();
    for (int64_t i = 0; i < x.patches.numel(); ++i) v[i] *= 1.0f / 255.0f;
  }
  Tensor labels = in.read("labels", DType::i32, 1);
  if (labels.dim(0) != s[0])
    throw DataError(in.path() + ": /labels has " + std::to_string(labels.dim(0)) + " entries but /patches has " +
                    std::to_string(s[0]));
  const int32_t* l = labels.data<int32_t>();
  x.labels.assign(l, l + labels.numel());
  int32_t max_label = x.labels.empty() ? -1 : *std::max_element(x.labels.begin(), x.labels.end());
  x.num_classes = in.has_attr("/", "num_classes") ? in.attr_int("/", "num_classes") : max_label + 1;
  if (x.num_classes <= 0) throw DataError(in.path() + ": num_classes is " + std::to_string(x.num_classes));
  for (size_t i = 0; i < x.labels.size(); ++i)
    if (x.labels[i] < 0 || x.labels[i] >= x.num_classes)
      throw DataError(in.path() + ": label " + std::to_string(x.labels[i]) + " of example " + std::to_string(i) +
                      " is outside [0, " + std::to_string(x.num_classes) + ")");
  if (in.has_attr("/", "class_names")) x.class_names = in.attr_strings("/", "class_names");
  if (in.has_attr("/", "image_height")) {
    patchify::PatchMeta m = patchify::read_patch_meta(in);
    const int64_t D = int64_t{m.grid.patch.h} * m.grid.patch.w * m.channels;
    if (m.grid.num_patches() != s[1] || D != s[2])
      throw DataError(in.path() + ": /patches is " + shape_str(s) + ", the attributes say [N, " +
                      std::to_string(m.grid.num_patches()) + ", " + std::to_string(D) + "]");
    // A black pixel as the model sees it: 0 after the uint8 scaling above, else (0 - mean) / std.
    std::vector<float> fill(m.channels, 0.f);
    if (!is_int)
      for (int c = 0; c < m.channels; ++c) fill[c] = static_cast<float>(-m.mean[c] / m.std[c]);
    x.geometry = PatchGeometry(m.grid, m.channels, std::move(fill));
    x.has_geometry = true;
  }
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
