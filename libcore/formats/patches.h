// The "patches" file (qkv-patchify): its grid geometry, the one rule for what
// a stored value means to a model, and the one reader. Layout in
// docs/FORMATS.md. Part of libqkvbase: no OpenCV (drawing images from patches
// stays in libqkvimage, patchify/image.h).
//
//   io::H5In in("fmnist.h5");
//   PatchesReader r(in);                 // checks kind, shape, attributes, labels
//   Tensor x = r.read(0, 256);           // images [0, 256): (256, L, D) float32, as a model sees them
//   Tensor raw = r.read_stored(0, 256);  // the same as stored: uint8 or float32
//   r.labels()[7], r.num_classes(), r.has_meta() ? r.meta().grid : ...
//
// The value rule (patch_values): uint8 patches hold pixels 0..255 (qkv-patchify
// --dtype uint8, normalize none) and a model sees pixel / 255; float patches
// are already normalized, (pixel/255 - mean[c]) / std[c], and are taken as
// stored. Every reader of patches (qkv-train, qkv-model forward's batch
// files, future tools) goes through it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"
#include "tensor/tensor.h"

namespace qkv::formats {

constexpr const char* kPatchesKind = "patches";

struct Size2 {
  int h = 0, w = 0;
  bool empty() const { return h <= 0 || w <= 0; }
  bool operator==(const Size2& o) const { return h == o.h && w == o.w; }
  bool operator!=(const Size2& o) const { return !(*this == o); }
};
std::string size_str(Size2 s);  // "28x28"

// The patch grid over an image: rows x cols patches of patch, stride apart.
struct Grid {
  Size2 image, patch, stride;
  int rows = 0, cols = 0;
  int64_t num_patches() const { return int64_t{rows} * cols; }
};

// True when (n - p) is a non-negative multiple of s.
bool grid_fits(int n, int p, int s);
// Smallest m >= n with grid_fits(m, p, s).
int grid_round_up(int n, int p, int s);
// Throws (UsageError when from_option, else DataError naming `who`) when the
// grid does not divide the image exactly.
Grid make_grid(Size2 image, Size2 patch, Size2 stride, bool from_option, const std::string& who);
// (L, 2) int32 grid row/column of each patch in row-major grid order.
Tensor grid_positions(const Grid& g);
// Where each patch value lives in its image: for the L*D values of one
// sample's patches, the offset (y * W + x) * C + c of the pixel each one was
// cut from. Overlapping patches (stride < patch) give some pixels several
// entries; with stride > patch, pixels between patches have none.
std::vector<int64_t> patch_pixel_index(const Grid& grid, int channels);

// The geometry and normalization attributes of a patches file.
struct PatchMeta {
  Grid grid;                     // image size, patch, stride, rows x cols
  int channels = 0;              // 1 (gray) or 3 (RGB)
  std::string normalize;         // none | unit | half | imagenet | custom
  std::vector<double> mean, std; // per channel, 0..1 scale: stored = (pixel/255 - mean) / std
  std::string fit, interp;       // how images reached the size ("" when read from an older writer)
  std::vector<std::string> class_names;
  int64_t skipped = 0;           // bad inputs left out with --skip-bad
  std::vector<std::string> skipped_sources;
  int64_t patch_dim() const { return int64_t{grid.patch.h} * grid.patch.w * channels; }
};

// How dataset `name` ((N, L, D) patches) is stored: u8 (pixels) or f32 (any
// float width, read as float32); DataError for any other type.
DType patch_dtype(const io::H5In& in, const std::string& name);
// The value rule: stored patches (uint8 or float32) -> float32 as a model sees them.
Tensor patch_values(const Tensor& stored);
// Dataset `name` through patch_values: (N, L, D) float32; rows [begin, end) only: (end - begin, L, D).
Tensor read_patch_values(const io::H5In& in, const std::string& name);
Tensor read_patch_values(const io::H5In& in, const std::string& name, int64_t begin, int64_t end);

// The most classes a patches file may claim without naming them (1,048,576);
// with class_names, num_classes must be their count.
constexpr int64_t kMaxClasses = int64_t{1} << 20;

class PatchesReader {
 public:
  // Checks the kind, /patches (N, L, D) against the geometry attributes when
  // present, /labels (N, each in [0, num_classes)), /positions and /sources.
  explicit PatchesReader(const io::H5In& in);

  const std::string& path() const { return in_.path(); }
  int64_t size() const { return N_; }  // images
  int64_t num_patches() const { return L_; }
  int64_t patch_dim() const { return D_; }
  DType dtype() const { return dtype_; }  // as stored: u8 or f32

  // The geometry attributes (qkv-patchify writes them; files from elsewhere
  // may lack them: then only meta().class_names is filled, when present).
  bool has_meta() const { return has_meta_; }
  const PatchMeta& meta() const { return meta_; }
  // Per channel: a black pixel (0) as read() gives it (needs meta).
  std::vector<float> black() const;

  bool labelled() const { return labelled_; }
  const std::vector<int32_t>& labels() const { return labels_; }  // (N,)
  int64_t num_classes() const { return num_classes_; }  // attribute num_classes, else max label + 1

  Tensor read(int64_t begin, int64_t end) const;         // (n, L, D) float32: patch_values
  Tensor read_stored(int64_t begin, int64_t end) const;  // (n, L, D) uint8 or float32
  std::vector<std::string> sources() const;              // (N,); empty when the file has none

 private:
  const io::H5In& in_;
  int64_t N_ = 0, L_ = 0, D_ = 0;
  DType dtype_ = DType::f32;
  bool has_meta_ = false, labelled_ = false;
  PatchMeta meta_;
  std::vector<int32_t> labels_;
  int64_t num_classes_ = 0;
};

}  // namespace qkv::formats
