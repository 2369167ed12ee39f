// Options of qkv-patchify and their parsing from command-line text, so the
// tool's main() only binds strings (and the tests parse the same way).
//
//   Options o;
//   o.size = parse_size("224", "--size");          // {224, 224}
//   o.patch = parse_size("16", "--patch");         // {16, 16}
//   o.fit = parse_fit("crop");
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/patches.h"
#include "tensor/tensor.h"

namespace qkv::patchify {

// Sizes and the patch grid are facts of the patches file (formats/patches.h).
using formats::Size2;
using formats::size_str;

// How an image of another size reaches --size HxW.
//   squash: resize to HxW, aspect ratio not kept (Hugging Face ViTImageProcessor).
//   crop:   scale so the image covers HxW (or its shorter side to --resize-shorter,
//           like torchvision's Resize(256)), then cut HxW from the centre.
//   pad:    scale so the image fits inside HxW, centre it on a pad_value canvas;
//           also rounds a size the patch grid does not divide up to one it does
//           (extra rows/columns at the bottom/right, like timm's dynamic_img_pad).
enum class Fit { squash, crop, pad };
// auto: area when shrinking (no aliasing), bilinear when enlarging.
enum class Interp { automatic, area, bilinear, bicubic, nearest };
// automatic: gray when the first image is single-channel, else rgb.
enum class Channels { automatic, gray, rgb };
// Stored value = (pixel / 255 - mean[c]) / std[c] for every mode:
//   none: mean 0, std 1/255 (raw 0..255);  unit: mean 0, std 1 (0..1);
//   half: mean = std = 0.5 (-1..1, HF ViT);  imagenet: torchvision's ImageNet mean/std;
//   custom: --mean/--std.
enum class Normalize { none, unit, half, imagenet, custom };

// Labels of --grid cells: none, or one label per block of k rows (or columns),
// counting from 0: digits.png is --grid 50x100 --grid-labels rows:5.
struct GridLabels {
  enum Mode { none, rows, cols } mode = none;
  int block = 1;
};

struct Options {
  Size2 size;                // --size; empty = keep each image's own size
  Fit fit = Fit::squash;
  int resize_shorter = 0;    // --resize-shorter (crop only): shorter side first goes to this
  Interp interp = Interp::automatic;
  Size2 patch{16, 16};
  Size2 stride;              // empty = patch (no overlap)
  Channels channels = Channels::automatic;
  Normalize normalize = Normalize::unit;
  std::vector<double> mean, std;  // --normalize custom: one value, or one per channel
  DType dtype = DType::f32;  // f32 or u8 (u8 needs normalize none)
  int pad_value = 0;         // canvas value of --fit pad (0..255)
  int threads = 1;
  bool skip_bad = false;
  int64_t limit = 0;         // 0 = all samples
  bool progress = true;

  Size2 effective_stride() const { return stride.empty() ? patch : stride; }
};

struct SourceOptions {
  Size2 grid;                    // --grid ROWSxCOLS; empty = off
  GridLabels grid_labels;
  std::string labels_path;       // --labels: IDX labels file (default: found beside the images)
  std::vector<std::string> class_names;  // --class-names; empty = derived
  int64_t limit = 0;
  std::string shard;             // --shard K/N: images [begin, end) of the K-th of N ranges (after --limit); "" = all
};

// "224" -> 224x224, "20x30" -> 20x30; what names the option in errors (UsageError).
Size2 parse_size(const std::string& text, const std::string& what);
Fit parse_fit(const std::string& text);
Interp parse_interp(const std::string& text);
Channels parse_channels(const std::string& text);
Normalize parse_normalize(const std::string& text);
DType parse_dtype(const std::string& text);  // float32 | uint8
GridLabels parse_grid_labels(const std::string& text);  // none | rows:K | cols:K
// "a,b,c" (or @FILE with one name per line) -> names.
std::vector<std::string> parse_class_names(const std::string& text);

const char* fit_name(Fit f);
const char* interp_name(Interp i);
const char* normalize_name(Normalize n);

// Per-channel mean and std on the 0..1 scale for n channels (1 or 3); checks
// custom values (count, std > 0). Gray with imagenet uses the channel averages.
void normalization_values(const Options& o, int channels, std::vector<double>& mean, std::vector<double>& stdev);

// Checks the combination of options (UsageError): patch/stride positive,
// uint8 needs normalize none, custom needs --mean/--std, ...
void validate(const Options& o);

}  // namespace qkv::patchify
