// Looking at patches: images rebuilt from a patches file, and a preview sheet
// of a few images with their patch grid drawn over them.
//
//   auto written = unpatchify_to_folder(p, "out/", UnpatchifyOptions{});  // out/00000.png, ...
//   write_image("preview.png", preview_sheet(p, 8));
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "patchify/patchify.h"

namespace qkv::patchify {

struct UnpatchifyOptions {
  std::string format = "png";  // png | jpg | bmp | ppm | tif | webp (lossless formats give exact pixels)
  int64_t first = 0;           // only the first N images (0 = all)
  bool by_class = false;       // ImageFolder layout: OUT/<class name>/<index>.png (needs labels)
};

// Writes one image per sample, each atomically; names are the zero-padded
// sample index (with by_class, inside a folder per class name). Creates
// outdir. Returns the paths written, in sample order.
std::vector<std::string> unpatchify_to_folder(const PatchSet& p, const std::string& outdir,
                                              const UnpatchifyOptions& opt, bool progress = true);

// `count` images spread evenly over the set (0, N/count, ...), enlarged (nearest neighbour) to at least ~128
// pixels, with the patch grid drawn on them and each image's index and label
// written below it. BGR, for write_image().
cv::Mat preview_sheet(const PatchSet& p, int count);

// Encodes by the path's extension (.png, .jpg, ...) and writes atomically.
// img: gray or RGB order (as image_of() gives) unless is_bgr. durable = false:
// no fsync (see io::write_atomically).
void write_image(const std::string& path, const cv::Mat& img, bool is_bgr = false, bool durable = true);

// Bytes of an encoded image (for writing after other outputs succeeded).
std::vector<uint8_t> encode_image(const std::string& path, const cv::Mat& img, bool is_bgr = false);

// A class name made safe as a file name ("T-shirt/top" -> "T-shirt_top").
std::string safe_file_name(const std::string& name);

}  // namespace qkv::patchify
