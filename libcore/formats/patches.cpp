#include "formats/patches.h"

#include <cmath>

#include <algorithm>

#include "core/error.h"

namespace qkv::formats {

std::string size_str(Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); }

bool grid_fits(int n, int p, int s) { return n >= p && (n - p) % s == 0; }

int grid_round_up(int n, int p, int s) {
  if (n <= p) return p;
  return p + (n - p + s - 1) / s * s;
}

Grid make_grid(Size2 image, Size2 patch, Size2 stride, bool from_option, const std::string& who) {
  auto fail = [&](const std::string& msg) -> Grid {
    if (from_option) throw UsageError(msg);
    throw DataError(who + ": " + msg);
  };
  bool overlap = stride != patch;
  auto why = [&](const char* dim, int n, int p, int s) {
    std::string m = std::string("image ") + dim + " " + std::to_string(n) + " does not split into patches of " +
                    std::to_string(p);
    if (overlap) m += " with stride " + std::to_string(s) + " (needs " + std::to_string(p) + " + k*" +
                      std::to_string(s) + ")";
    return m + ": use --fit pad (pads to " + std::to_string(grid_round_up(n, p, s)) + "), another --size or --patch";
  };
  if (!grid_fits(image.h, patch.h, stride.h)) return fail(why("height", image.h, patch.h, stride.h));
  if (!grid_fits(image.w, patch.w, stride.w)) return fail(why("width", image.w, patch.w, stride.w));
  Grid g;
  g.image = image;
  g.patch = patch;
  g.stride = stride;
  g.rows = (image.h - patch.h) / stride.h + 1;
  g.cols = (image.w - patch.w) / stride.w + 1;
  return g;
}

Tensor grid_positions(const Grid& g) {
  Tensor pos({g.num_patches(), 2}, DType::i32);  // (L, 2)
  int32_t* p = pos.data<int32_t>();
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      *p++ = r;
      *p++ = c;
    }
  return pos;
}

std::vector<int64_t> patch_pixel_index(const Grid& g, int C) {
  std::vector<int64_t> at(static_cast<size_t>(g.num_patches()) * g.patch.h * g.patch.w * C);  // (L * D)
  int64_t* p = at.data();
  for (int gi = 0; gi < g.rows; ++gi)
    for (int gj = 0; gj < g.cols; ++gj)
      for (int r = 0; r < g.patch.h; ++r)
        for (int k = 0; k < g.patch.w; ++k)
          for (int c = 0; c < C; ++c)
            *p++ = ((int64_t{gi} * g.stride.h + r) * g.image.w + int64_t{gj} * g.stride.w + k) * C + c;
  return at;
}

DType patch_dtype(const io::H5In& in, const std::string& name) {
  std::string t = in.stored_type(name);
  if (t == "uint8") return DType::u8;
  if (t.compare(0, 5, "float") == 0) return DType::f32;
  throw DataError(in.path() + ": /" + name + " is stored as " + t + "; patches are uint8 (pixels) or float32");
}

Tensor patch_values(const Tensor& stored) {
  if (stored.dtype() == DType::f32) return stored;
  QKV_CHECK(stored.dtype() == DType::u8, "patches are uint8 or float32");
  Tensor v(stored.shape());  // float32, same shape
  const uint8_t* s = stored.data<uint8_t>();
  float* d = v.data<float>();
  for (int64_t i = 0; i < v.numel(); ++i) d[i] = static_cast<float>(s[i]) * (1.0f / 255.0f);
  return v;
}

namespace {

// Pixels are finite: a NaN or infinity (a corrupt file) would only surface
// later as a NaN loss or a blank picture, far from its cause.
Tensor finite(Tensor values, const io::H5In& in, const std::string& name, int64_t first_image) {
  const float* v = values.data<float>();
  const int64_t per_image = values.dim(0) ? values.numel() / values.dim(0) : 1;
  for (int64_t i = 0; i < values.numel(); ++i)
    if (!std::isfinite(v[i]))
      throw DataError(in.path() + ": /" + name + " holds " + (std::isnan(v[i]) ? "NaN" : "an infinity") +
                      " (image " + std::to_string(first_image + i / per_image) + ")");
  return values;
}

}  // namespace

Tensor read_patch_values(const io::H5In& in, const std::string& name) {
  return finite(patch_values(in.read(name, patch_dtype(in, name), 3)), in, name, 0);
}

Tensor read_patch_values(const io::H5In& in, const std::string& name, int64_t begin, int64_t end) {
  return finite(patch_values(in.read_rows(name, patch_dtype(in, name), begin, end, 3)), in, name, begin);
}

namespace {

// The geometry and normalization attributes, checked.
PatchMeta read_meta(const io::H5In& in) {
  const std::string& f = in.path();
  PatchMeta m;
  auto int_attr = [&](const char* name, int64_t lo, int64_t hi) {
    int64_t v = in.attr_int("/", name);
    if (v < lo || v > hi)
      throw DataError(f + ": attribute " + name + " = " + std::to_string(v) + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int>(v);
  };
  const Size2 image{int_attr("image_height", 1, 1 << 20), int_attr("image_width", 1, 1 << 20)};
  const Size2 patch{int_attr("patch_height", 1, 1 << 20), int_attr("patch_width", 1, 1 << 20)};
  const Size2 stride{int_attr("stride_height", 1, 1 << 20), int_attr("stride_width", 1, 1 << 20)};
  m.channels = int_attr("channels", 1, 3);
  if (m.channels == 2) throw DataError(f + ": attribute channels = 2 (1 or 3 expected)");
  m.grid = make_grid(image, patch, stride, false, f);
  m.normalize = in.attr_string("/", "normalize");
  m.mean = in.attr_doubles("/", "mean");
  m.std = in.attr_doubles("/", "std");
  if (static_cast<int>(m.mean.size()) != m.channels || static_cast<int>(m.std.size()) != m.channels)
    throw DataError(f + ": attributes mean and std need one value per channel (" + std::to_string(m.channels) + ")");
  for (double s : m.std)
    if (!(s > 0)) throw DataError(f + ": attribute std has a value <= 0");
  if (in.has_attr("/", "fit")) m.fit = in.attr_string("/", "fit");
  if (in.has_attr("/", "interp")) m.interp = in.attr_string("/", "interp");
  if (in.has_attr("/", "skipped")) m.skipped = in.attr_int("/", "skipped");
  if (in.has_attr("/", "skipped_sources")) m.skipped_sources = in.attr_strings("/", "skipped_sources");
  return m;
}

}  // namespace

PatchesReader::PatchesReader(const io::H5In& in) : in_(in) {
  in.expect_kind(kPatchesKind);
  const std::string& f = in.path();
  const Shape s = in.shape("patches");
  if (s.size() != 3) throw DataError(f + ": /patches: expected (N, L, D), found shape " + shape_str(s));
  N_ = s[0], L_ = s[1], D_ = s[2];
  dtype_ = patch_dtype(in, "patches");
  if ((has_meta_ = in.has_attr("/", "image_height"))) {
    meta_ = read_meta(in);
    const int64_t L = meta_.grid.num_patches(), D = meta_.patch_dim();
    if (L_ != L || D_ != D)
      throw DataError(f + ": /patches is " + shape_str(s) + ", the attributes say [N, " + std::to_string(L) + ", " +
                      std::to_string(D) + "]");
    if (in.has("positions")) {
      Tensor pos = in.read("positions", DType::i32, 2), expect = grid_positions(meta_.grid);  // (L, 2)
      if (pos.shape() != expect.shape() ||
          !std::equal(expect.data<int32_t>(), expect.data<int32_t>() + expect.numel(), pos.data<int32_t>()))
        throw DataError(f + ": /positions does not match the row-major " + std::to_string(meta_.grid.rows) + "x" +
                        std::to_string(meta_.grid.cols) + " patch grid");
    }
  }
  if (in.has_attr("/", "class_names")) meta_.class_names = in.attr_strings("/", "class_names");
  if ((labelled_ = in.has("labels"))) {
    Tensor labels = in.read("labels", DType::i32, 1);  // (N,)
    if (labels.dim(0) != N_)
      throw DataError(f + ": /labels has " + std::to_string(labels.dim(0)) + " entries for " + std::to_string(N_) +
                      " images");
    labels_.assign(labels.data<int32_t>(), labels.data<int32_t>() + N_);
    const int32_t max_label = labels_.empty() ? -1 : *std::max_element(labels_.begin(), labels_.end());
    num_classes_ = in.has_attr("/", "num_classes") ? in.attr_int("/", "num_classes") : max_label + 1;
    if (num_classes_ <= 0) throw DataError(f + ": num_classes is " + std::to_string(num_classes_));
    // A corrupt num_classes would size the model's classifier: checked against the data.
    const int64_t named = static_cast<int64_t>(meta_.class_names.size());
    if (named > 0 && num_classes_ != named)
      throw DataError(f + ": num_classes " + std::to_string(num_classes_) + " but " + std::to_string(named) +
                      " class_names");
    if (num_classes_ > kMaxClasses)
      throw DataError(f + ": num_classes " + std::to_string(num_classes_) + " is beyond qkv's limit of " +
                      std::to_string(kMaxClasses) + " (corrupt attribute? the labels use " +
                      std::to_string(max_label + 1) + ")");
    for (int64_t i = 0; i < N_; ++i)
      if (labels_[i] < 0 || labels_[i] >= num_classes_)
        throw DataError(f + ": label " + std::to_string(labels_[i]) + " of example " + std::to_string(i) +
                        " is outside [0, " + std::to_string(num_classes_) + ")");
  }
}

std::vector<float> PatchesReader::black() const {
  QKV_CHECK(has_meta_, "black() needs the geometry attributes");
  std::vector<float> v(static_cast<size_t>(meta_.channels), 0.f);  // uint8: 0 / 255
  if (dtype_ == DType::f32)
    for (int c = 0; c < meta_.channels; ++c) v[c] = static_cast<float>(-meta_.mean[c] / meta_.std[c]);
  return v;
}

Tensor PatchesReader::read(int64_t begin, int64_t end) const {
  return finite(patch_values(read_stored(begin, end)), in_, "patches", begin);
}

Tensor PatchesReader::read_stored(int64_t begin, int64_t end) const {
  return in_.read_rows("patches", dtype_, begin, end, 3);  // (end - begin, L, D)
}

std::vector<std::string> PatchesReader::sources() const {
  if (!in_.has("sources")) return {};
  std::vector<std::string> s = in_.read_strings("sources");
  if (static_cast<int64_t>(s.size()) != N_)
    throw DataError(in_.path() + ": /sources has " + std::to_string(s.size()) + " entries for " + std::to_string(N_) +
                    " images");
  return s;
}

}  // namespace qkv::formats
