#include "patchify/image.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "patchify/codec_messages.h"

namespace qkv::patchify {

int decode_flags() { return cv::IMREAD_ANYCOLOR | cv::IMREAD_IGNORE_ORIENTATION; }

namespace {

bool starts_with(const std::vector<uint8_t>& b, size_t at, const char* magic, size_t n) {
  return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

}  // namespace

const char* image_format(const std::vector<uint8_t>& b) {
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
  if (starts_with(b, 0, "\xff\xd8\xff", 3)) return "JPEG";
  if (starts_with(b, 0, "BM", 2)) return "BMP";
  if (b.size() >= 2 && b[0] == 'P' && ((b[1] >= '1' && b[1] <= '7') || b[1] == 'F' || b[1] == 'f')) return "PNM";
  if (starts_with(b, 0, "II*\0", 4) || starts_with(b, 0, "MM\0*", 4)) return "TIFF";
  if (starts_with(b, 0, "RIFF", 4) && starts_with(b, 8, "WEBP", 4)) return "WebP";
  if (starts_with(b, 0, "\x59\xa6\x6a\x95", 4)) return "Sun raster";
  if (starts_with(b, 0, "#?RGBE", 6) || starts_with(b, 0, "#?RADIANCE", 10)) return "Radiance HDR";
  // OpenCV tries its DICOM decoder ("DICM" at byte 128) before these two.
  const bool dicom = starts_with(b, 128, "DICM", 4);
  if (!dicom && (starts_with(b, 0, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts_with(b, 0, "\xff\x4f\xff\x51", 4)))
    return "JPEG 2000";
  if (!dicom && starts_with(b, 0, "\x76\x2f\x31\x01", 4)) return "OpenEXR";
  return nullptr;
}

namespace {

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]; }
uint32_t be16(const uint8_t* p) { return uint32_t{p[0]} << 8 | p[1]; }

// PNM header: "P5 <w> <h> ..." with comments.
bool pnm_size(const std::vector<uint8_t>& b, uint64_t& w, uint64_t& h) {
  size_t i = 2;
  uint64_t v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    while (i < b.size() && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#')
        while (i < b.size() && b[i] != '\n') ++i;
      else
        ++i;
    }
    if (i >= b.size() || !std::isdigit(b[i])) return false;
    while (i < b.size() && std::isdigit(b[i]) && v[k] < (uint64_t{1} << 40)) v[k] = v[k] * 10 + (b[i++] - '0');
  }
  w = v[0], h = v[1];
  return true;
}

}  // namespace

bool image_size(const std::vector<uint8_t>& b, uint64_t& w, uint64_t& h) {
  const std::string f = image_format(b) ? image_format(b) : "";
  if (f == "PNG" && b.size() >= 24) return w = be32(&b[16]), h = be32(&b[20]), true;  // IHDR
  if (f == "BMP" && b.size() >= 26) {
    w = le32(&b[18]), h = le32(&b[22]);
    w = static_cast<uint32_t>(std::abs(static_cast<int32_t>(w))), h = static_cast<uint32_t>(std::abs(static_cast<int32_t>(h)));
    return true;
  }
  if (f == "Sun raster" && b.size() >= 12) return w = be32(&b[4]), h = be32(&b[8]), true;
  if (f == "PNM" && b[1] != 'F' && b[1] != 'f' && b[1] != '7') return pnm_size(b, w, h);
  if (f == "WebP" && b.size() >= 30) {
    if (std::memcmp(&b[12], "VP8X", 4) == 0)
      return w = 1 + (b[24] | b[25] << 8 | uint32_t{b[26]} << 16), h = 1 + (b[27] | b[28] << 8 | uint32_t{b[29]} << 16), true;
    if (std::memcmp(&b[12], "VP8L", 4) == 0 && b.size() >= 25) {
      const uint32_t bits = le32(&b[21]);
      return w = 1 + (bits & 0x3fff), h = 1 + ((bits >> 14) & 0x3fff), true;
    }
    if (std::memcmp(&b[12], "VP8 ", 4) == 0)  // key frame: 14-bit width and height after the start code
      return w = (b[26] | b[27] << 8) & 0x3fff, h = (b[28] | b[29] << 8) & 0x3fff, true;
    return false;
  }
  if (f == "JPEG") {  // the first start-of-frame marker
    size_t i = 2;
    while (i + 9 < b.size()) {
      if (b[i] != 0xff) return false;
      const uint8_t m = b[i + 1];
      if (m == 0xff) { ++i; continue; }
      if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc)
        return h = be16(&b[i + 5]), w = be16(&b[i + 7]), true;
      i += 2 + be16(&b[i + 2]);
    }
    return false;
  }
  return false;
}

cv::Mat decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.empty()) throw DataError(name + ": cannot decode image: the file is empty");
  // OpenCV picks a decoder by the first bytes, among more formats than qkv
  // reads: Debian's also decodes DICOM through GDCM, whose reader aborts (an
  // assert) on a malformed file (found by fuzz/image_fuzz). So only the
  // formats named below reach OpenCV.
  if (!image_format(bytes))
    throw DataError(name + ": cannot decode image: not a format qkv reads (" + kImageFormats + ")");
  // A small file may claim a huge image; OpenCV would allocate and decode all
  // of it (a 132-byte JPEG claiming 30255x12545 took 8.5 s and 530 MB, found
  // by fuzz/image_fuzz). The size its header claims is checked first.
  uint64_t w = 0, h = 0;
  if (image_size(bytes, w, h) && w * h > kMaxImagePixels)
    throw DataError(name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + " (" +
                    std::to_string(w * h / 1000000) + " Mpixel), more than qkv decodes (" +
                    std::to_string(kMaxImagePixels / 1000000) + " Mpixel, e.g. 8192x8192): downscale it first");
  cv::Mat img;
  clear_codec_message();
  try {
    img = cv::imdecode(cv::_InputArray(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX))),
                       decode_flags());
  } catch (const cv::Exception& e) {
    throw DataError(name + ": cannot decode image: " + e.msg);
  }
  if (img.empty())
    throw DataError(name + ": cannot decode image (corrupt or truncated " + image_format(bytes) +
                    (codec_message().empty() ? "" : ": " + codec_message()) + ")");
  QKV_CHECK(img.depth() == CV_8U && (img.channels() == 1 || img.channels() == 3), name + ": unexpected decode type");
  // A codec that warned but finished (a JPEG's damaged scan, filled in gray): one line, not libjpeg's.
  if (!codec_message().empty()) spdlog::warn("{}: {} (decoded anyway)", name, codec_message());
  return img;
}

Size2 prepared_size(const Options& o, Size2 in) {
  Size2 t = o.size.empty() ? in : o.size;
  if (o.fit == Fit::pad) {
    Size2 st = o.effective_stride();
    t.h = grid_round_up(t.h, o.patch.h, st.h);
    t.w = grid_round_up(t.w, o.patch.w, st.w);
  }
  return t;
}

namespace {

int cv_interp(Interp i, Size2 from, Size2 to) {
  switch (i) {
    case Interp::area: return cv::INTER_AREA;
    case Interp::bilinear: return cv::INTER_LINEAR;
    case Interp::bicubic: return cv::INTER_CUBIC;
    case Interp::nearest: return cv::INTER_NEAREST;
    case Interp::automatic: break;
  }
  return to.h <= from.h && to.w <= from.w ? cv::INTER_AREA : cv::INTER_LINEAR;
}

cv::Mat resized(const cv::Mat& img, Size2 to, Interp interp) {
  Size2 from{img.rows, img.cols};
  if (from == to) return img;
  cv::Mat out;
  cv::resize(img, out, cv::Size(to.w, to.h), 0, 0, cv_interp(interp, from, to));
  return out;
}

int round_pos(double v) { return std::max(1, static_cast<int>(std::lround(v))); }

// Fits img (any size) to target as o.fit says; pad leaves the letterbox border to the caller.
cv::Mat fitted(const cv::Mat& img, Size2 target, const Options& o, int& top, int& left) {
  Size2 in{img.rows, img.cols};
  top = left = 0;
  if (in == target) return img;
  switch (o.fit) {
    case Fit::squash: return resized(img, target, o.interp);
    case Fit::crop: {
      Size2 to;
      if (o.resize_shorter > 0) {
        // torchvision Resize(int): shorter side to the size, longer side int(size * long / short).
        int s = o.resize_shorter;
        if (in.h <= in.w) to = {s, static_cast<int>(static_cast<int64_t>(s) * in.w / in.h)};
        else to = {static_cast<int>(static_cast<int64_t>(s) * in.h / in.w), s};
      } else {
        double s = std::max(static_cast<double>(target.h) / in.h, static_cast<double>(target.w) / in.w);
        to = {round_pos(in.h * s), round_pos(in.w * s)};
      }
      to.h = std::max(to.h, target.h);
      to.w = std::max(to.w, target.w);
      cv::Mat r = resized(img, to, o.interp);
      // torchvision CenterCrop: int(round((h - th) / 2)), Python's round = half to even.
      int y = static_cast<int>(std::nearbyint((to.h - target.h) / 2.0));
      int x = static_cast<int>(std::nearbyint((to.w - target.w) / 2.0));
      return r(cv::Rect(x, y, target.w, target.h));
    }
    case Fit::pad: {
      double s = std::min(static_cast<double>(target.h) / in.h, static_cast<double>(target.w) / in.w);
      Size2 to{std::min(target.h, round_pos(in.h * s)), std::min(target.w, round_pos(in.w * s))};
      top = (target.h - to.h) / 2;
      left = (target.w - to.w) / 2;
      return resized(img, to, o.interp);
    }
  }
  return img;
}

}  // namespace

cv::Mat prepare_image(const cv::Mat& decoded, const Options& o, int channels, bool keep_bgr) {
  Size2 in{decoded.rows, decoded.cols};
  Size2 target = o.size.empty() ? in : o.size;
  Size2 fin = prepared_size(o, in);
  cv::Mat img = decoded;
  // Colour -> gray first (defines the gray values as OpenCV's BGR2GRAY of the
  // decoded pixels); the RGB swap and gray -> RGB commute with resizing, so
  // they run on the (usually smaller) fitted image.
  if (channels == 1 && img.channels() == 3) cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
  int top = 0, left = 0;
  img = fitted(img, target, o, top, left);
  if (channels == 3 && (img.channels() == 1 || !keep_bgr)) {
    cv::Mat c;
    cv::cvtColor(img, c, img.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
    img = c;
  }
  int bottom = fin.h - img.rows - top, right = fin.w - img.cols - left;
  if (top || left || bottom || right)
    cv::copyMakeBorder(img, img, top, bottom, left, right, cv::BORDER_CONSTANT, cv::Scalar::all(o.pad_value));
  QKV_CHECK(img.rows == fin.h && img.cols == fin.w && img.channels() == channels, "prepare_image size");
  return img;
}

std::vector<float> make_lut(const std::vector<double>& mean, const std::vector<double>& stdev) {
  std::vector<float> lut(mean.size() * 256);
  for (size_t c = 0; c < mean.size(); ++c)
    for (int v = 0; v < 256; ++v)
      lut[c * 256 + v] = static_cast<float>((v / 255.0 - mean[c]) / stdev[c]);
  return lut;
}

void extract_patches(const cv::Mat& img, const Grid& g, uint8_t* out, bool bgr) {
  const int C = img.channels(), row_bytes = g.patch.w * C;
  // BGR: OpenCV's vectorised swap of the whole image into a per-thread buffer,
  // then plain copies, is 3x faster than swapping byte by byte while cutting.
  thread_local cv::Mat rgb;
  const cv::Mat* src_img = &img;
  if (bgr && C == 3) {
    cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
    src_img = &rgb;
  }
  for (int gi = 0; gi < g.rows; ++gi)
    for (int gj = 0; gj < g.cols; ++gj)
      for (int r = 0; r < g.patch.h; ++r) {
        const uint8_t* src = src_img->ptr<uint8_t>(gi * g.stride.h + r) + static_cast<size_t>(gj) * g.stride.w * C;
        std::memcpy(out, src, static_cast<size_t>(row_bytes));
        out += row_bytes;
      }
}

void extract_patches(const cv::Mat& img, const Grid& g, const std::vector<float>& lut, float* out, bool bgr) {
  const int C = img.channels(), Pw = g.patch.w;
  QKV_CHECK(lut.size() == static_cast<size_t>(C) * 256, "lut size");
  const float* l0 = lut.data();
  // Output channel c reads input channel in[c]: the R/B swap of a BGR image costs nothing here.
  const int in0 = bgr ? 2 : 0, in2 = bgr ? 0 : 2;
  for (int gi = 0; gi < g.rows; ++gi)
    for (int gj = 0; gj < g.cols; ++gj)
      for (int r = 0; r < g.patch.h; ++r) {
        const uint8_t* src = img.ptr<uint8_t>(gi * g.stride.h + r) + static_cast<size_t>(gj) * g.stride.w * C;
        if (C == 1) {
          for (int k = 0; k < Pw; ++k) out[k] = l0[src[k]];
        } else {
          const float *l1 = l0 + 256, *l2 = l0 + 512;
          for (int k = 0; k < Pw; ++k) {
            out[3 * k] = l0[src[3 * k + in0]];
            out[3 * k + 1] = l1[src[3 * k + 1]];
            out[3 * k + 2] = l2[src[3 * k + in2]];
          }
        }
        out += Pw * C;
      }
}

namespace {

// Sums every patch value (as a 0..255 pixel) into its place and averages overlaps.
template <class T, class ToPixel>
cv::Mat assemble(const T* patches, const Grid& g, int C, ToPixel to_pixel) {
  const int H = g.image.h, W = g.image.w;
  std::vector<float> sum(static_cast<size_t>(H) * W * C, 0.f);
  std::vector<uint16_t> count(static_cast<size_t>(H) * W, 0);
  const std::vector<int64_t> at = patch_pixel_index(g, C);
  for (size_t j = 0; j < at.size(); ++j) {
    sum[at[j]] += to_pixel(patches[j], at[j] % C);
    if (at[j] % C == 0) ++count[at[j] / C];
  }
  cv::Mat img(H, W, CV_8UC(C));
  for (int y = 0; y < H; ++y) {
    uint8_t* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < W; ++x) {
      size_t i = static_cast<size_t>(y) * W + x;
      float n = std::max<float>(1, count[i]);
      for (int c = 0; c < C; ++c)
        row[x * C + c] = static_cast<uint8_t>(std::clamp(std::lround(sum[i * C + c] / n), 0L, 255L));
    }
  }
  return img;
}

}  // namespace

cv::Mat assemble_image(const uint8_t* patches, const Grid& g, int channels) {
  return assemble(patches, g, channels, [](uint8_t v, int) { return static_cast<float>(v); });
}

cv::Mat assemble_image(const float* patches, const Grid& g, int channels, const std::vector<double>& mean,
                       const std::vector<double>& stdev) {
  std::vector<float> a(channels), b(channels);  // pixel = v * a[c] + b[c]
  for (int c = 0; c < channels; ++c) {
    a[c] = static_cast<float>(stdev[c] * 255.0);
    b[c] = static_cast<float>(mean[c] * 255.0);
  }
  return assemble(patches, g, channels, [&](float v, int c) { return v * a[c] + b[c]; });
}

}  // namespace qkv::patchify
