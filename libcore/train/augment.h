// Training-time image augmentation on ViT patches (qkv-train vit --augment),
// in the spirit of torchvision's RandomHorizontalFlip, RandomCrop(padding=N)
// and RandomErasing: each training image is rebuilt from its patches with the
// file's geometry (formats::patch_pixel_index), transformed, and cut again.
//
//   Augment a = parse_augment("flip,shift=2,erase=0.25");   // str(a) gives it back
//   PatchGeometry g{grid, channels, fill};                  // from the patches file
//   Rng rng = augment_rng(seed, epoch, index);
//   transform_sample(draw_transform(a, g, rng), g, sample, scratch);  // in place, (L * D) floats
//
// Determinism: the random draws of an example depend only on (seed, epoch,
// example index) (augment_rng), so a resumed run sees the same images as an
// uninterrupted one, whatever the batch composition.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "formats/patches.h"

namespace qkv::train {

struct Augment {
  bool flip = false;   // mirror left-right with probability 1/2
  int shift = 0;       // translate by up to this many pixels each way (empty border = fill)
  double erase = 0;    // probability of blanking one random rectangle (2%..33% of the area, aspect 0.3..3.3)
  bool any() const { return flip || shift > 0 || erase > 0; }
};

// "none" or "" -> nothing; otherwise a comma list of flip, shift=N, erase=P.
// Throws UsageError naming the bad item.
Augment parse_augment(const std::string& spec);
// Canonical text ("flip,shift=2,erase=0.25"; "none"), as stored in checkpoints.
std::string str(const Augment& a);

// Where one sample's patch values sit in its image and what an empty pixel is.
struct PatchGeometry {
  formats::Grid grid;
  int channels = 1;
  std::vector<float> fill;          // per channel: a black pixel in the stored scale
  std::vector<int64_t> pixel_of;    // (L * D): formats::patch_pixel_index(grid, channels)
  PatchGeometry() = default;
  PatchGeometry(const formats::Grid& g, int c, std::vector<float> fill_value);
  int64_t sample_size() const { return static_cast<int64_t>(pixel_of.size()); }
};

// One drawn transform: out(y, x) = in(y - dy, flip ? W-1-(x - dx) : x - dx),
// fill outside the image and inside the erased rectangle [ey, ey+eh) x [ex, ex+ew).
struct ImageTransform {
  bool flip = false;
  int dx = 0, dy = 0;
  int ey = 0, ex = 0, eh = 0, ew = 0;  // eh == 0: no erasing
};

// Applies t to one sample's patches (L * D values) in place; scratch is resized to (H * W * C).
void transform_sample(const ImageTransform& t, const PatchGeometry& g, float* sample, std::vector<float>& scratch);

// Draws a transform for an image of g's size.
ImageTransform draw_transform(const Augment& a, const PatchGeometry& g, Rng& rng);

// The generator of example `index` in training epoch `epoch`.
Rng augment_rng(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace qkv::train
