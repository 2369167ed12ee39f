// One image's way from file bytes to patch rows:
//   decode_image  bytes -> 8-bit, 1 (gray) or 3 (BGR) channels
//   prepare_image -> the requested channels in RGB/gray order, fitted to the target size
//   extract_patches -> [num_patches, Ph*Pw*C] values, each patch flattened in
//                      (row, column, channel) order, patches in row-major grid order.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "patchify/options.h"

namespace qkv::patchify {

// OpenCV flags used for every decode (here and in the benchmark's bare
// decode): 8-bit, gray stays gray, colour becomes BGR, alpha dropped, EXIF
// orientation ignored (as PIL.Image.open does).
int decode_flags();

// The image formats qkv reads, and the one bytes start like (null: none of
// them). Files of other formats are refused before OpenCV sees them.
inline constexpr const char* kImageFormats =
    "PNG, JPEG, BMP, PNM/PAM/PFM, TIFF, WebP, Sun raster, Radiance HDR, JPEG 2000, OpenEXR";
const char* image_format(const std::vector<uint8_t>& bytes);

// The width and height an image's header claims (PNG, JPEG, BMP, PNM, Sun
// raster, WebP; false for the others or an unreadable header). decode_image
// refuses more than kMaxImagePixels before OpenCV allocates anything.
bool image_size(const std::vector<uint8_t>& bytes, uint64_t& width, uint64_t& height);
inline constexpr uint64_t kMaxImagePixels = uint64_t{1} << 26;

// Throws DataError "NAME: cannot decode image ..." on corrupt or unsupported data.
cv::Mat decode_image(const std::vector<uint8_t>& bytes, const std::string& name);

// The patch grid (formats/patches.h, where the patches reader needs it without OpenCV).
using formats::Grid;
using formats::grid_fits;
using formats::grid_round_up;
using formats::make_grid;
using formats::patch_pixel_index;

// Image size after preparation for an input of size `in` (only depends on
// options: --size, or the input's own size, rounded up to the grid with --fit pad).
Size2 prepared_size(const Options& o, Size2 in);

// Decoded image -> (H, W, C) uint8, C = channels (1 or 3, RGB order; BGR with
// keep_bgr, for extract_patches(..., bgr = true), which swaps on the way:
// float32 saves a pass; uint8 swaps in a reused per-thread buffer), of size
// prepared_size(o, in). Rows may be strided (a view into a sheet).
cv::Mat prepare_image(const cv::Mat& decoded, const Options& o, int channels, bool keep_bgr = false);

// Per-channel lookup table for float output: lut[c * 256 + v] = (v / 255 - mean[c]) / std[c].
std::vector<float> make_lut(const std::vector<double>& mean, const std::vector<double>& stdev);

// Writes the patches of img (prepared, grid.image-sized) to out:
// grid.num_patches() rows of Ph*Pw*C values, always in RGB order (bgr: img is
// in OpenCV's BGR order and is swapped on the way). uint8 copies pixels; float
// maps them through lut.
void extract_patches(const cv::Mat& img, const Grid& grid, uint8_t* out, bool bgr = false);
void extract_patches(const cv::Mat& img, const Grid& grid, const std::vector<float>& lut, float* out,
                     bool bgr = false);

// The inverse: patches -> (H, W, C) uint8 image (RGB order). Floats are
// mapped back with mean/std and rounded; overlapping patches are averaged.
// patches holds grid.num_patches() * Ph * Pw * C values.
cv::Mat assemble_image(const uint8_t* patches, const Grid& grid, int channels);
cv::Mat assemble_image(const float* patches, const Grid& grid, int channels, const std::vector<double>& mean,
                       const std::vector<double>& stdev);

}  // namespace qkv::patchify
