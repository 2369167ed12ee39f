// Test-side references for libcore/patchify, written independently of it:
// random pixels and ViT patches cut by plain nested loops.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <random>
#include <vector>

namespace qkv::test {

// h x w x c random uint8 pixels (same seed, same pixels).
inline cv::Mat random_pixels(int h, int w, int c, unsigned seed) {
  cv::Mat m(h, w, CV_8UC(c));
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w * c; ++x) m.ptr<uint8_t>(y)[x] = static_cast<uint8_t>(rng() & 0xff);
  return m;
}

// Patch (gi, gj) covers rows gi*sh .. gi*sh+ph-1 and columns gj*sw .. gj*sw+pw-1,
// flattened in (row, column, channel) order; patches in row-major grid order.
inline std::vector<uint8_t> reference_patches(const cv::Mat& img, int ph, int pw, int sh, int sw) {
  int C = img.channels(), rows = (img.rows - ph) / sh + 1, cols = (img.cols - pw) / sw + 1;
  std::vector<uint8_t> out;
  for (int gi = 0; gi < rows; ++gi)
    for (int gj = 0; gj < cols; ++gj)
      for (int r = 0; r < ph; ++r)
        for (int c = 0; c < pw; ++c)
          for (int ch = 0; ch < C; ++ch) out.push_back(img.at<uint8_t>(gi * sh + r, (gj * sw + c) * C + ch));
  return out;
}

}  // namespace qkv::test
