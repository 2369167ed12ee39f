#include "patchify/render.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "io/file_io.h"

namespace qkv::patchify {
namespace fs = std::filesystem;

std::string safe_file_name(const std::string& name) {
  std::string s;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    s += (std::isalnum(u) || c == '-' || c == '_' || c == '.' || u >= 0x80) ? c : '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

std::vector<uint8_t> encode_image(const std::string& path, const cv::Mat& img, bool is_bgr) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext.empty()) throw UsageError(path + ": no file extension to choose the image format (.png, .jpg, ...)");
  cv::Mat bgr = img;
  if (img.channels() == 3 && !is_bgr) cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
  // PPM holds colour only (a gray image is written with R = G = B); PGM gray only.
  if (ext == ".ppm" && bgr.channels() == 1) cv::cvtColor(bgr, bgr, cv::COLOR_GRAY2BGR);
  if (ext == ".pgm" && bgr.channels() != 1)
    throw UsageError(path + ": PGM holds gray images, this one has " + std::to_string(bgr.channels()) +
                     " channels (use ppm or png)");
  std::vector<uint8_t> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, bytes);
  } catch (const cv::Exception& e) {
    throw UsageError(path + ": cannot encode as " + ext + ": " + e.err);  // err: the description alone, no newline
  }
  if (!ok) throw UsageError(path + ": cannot encode as " + ext);
  return bytes;
}

void write_image(const std::string& path, const cv::Mat& img, bool is_bgr, bool durable) {
  io::write_atomically(path, encode_image(path, img, is_bgr), durable);
}

std::vector<std::string> unpatchify_to_folder(const PatchSet& p, const std::string& outdir,
                                              const UnpatchifyOptions& opt, bool progress) {
  if (opt.by_class && !p.labelled()) throw UsageError("--by-class: the patches file has no labels");
  std::string fmt = opt.format;
  for (auto& c : fmt) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::vector<std::string> formats = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm", "pnm", "tif", "tiff",
                                                   "webp"};
  if (std::find(formats.begin(), formats.end(), fmt) == formats.end())
    throw UsageError("--format: '" + opt.format + "' is not one of png, jpg, bmp, ppm, pgm, tif, webp");
  int64_t n = opt.first > 0 ? std::min(opt.first, p.size()) : p.size();
  int width = std::max<int>(5, static_cast<int>(std::to_string(std::max<int64_t>(0, p.size() - 1)).size()));
  std::error_code ec;
  fs::create_directories(outdir, ec);
  if (ec) throw DataError(outdir + ": cannot create folder: " + ec.message());
  std::vector<std::string> written;
  Progress bar("unpatchify", n, "img");
  for (int64_t i = 0; i < n; ++i) {
    std::string dir = outdir;
    if (opt.by_class) {
      int32_t label = p.labels.data<int32_t>()[i];
      std::string cls = label >= 0 && label < static_cast<int32_t>(p.meta.class_names.size())
                            ? p.meta.class_names[label]
                            : std::to_string(label);
      dir = (fs::path(outdir) / safe_file_name(cls)).string();
      fs::create_directories(dir, ec);
      if (ec) throw DataError(dir + ": cannot create folder: " + ec.message());
    }
    std::string idx = std::to_string(i);
    std::string name = std::string(width > static_cast<int>(idx.size()) ? width - idx.size() : 0, '0') + idx;
    std::string path = (fs::path(dir) / (name + "." + fmt)).string();
    write_image(path, image_of(p, i), false, false);  // one sync for the folder below, not one per image
    written.push_back(path);
    if (progress) bar.update(i + 1);
  }
  io::sync_filesystem(outdir);
  if (progress) bar.finish("(" + std::to_string(n) + " images in " + outdir + ")");
  return written;
}

cv::Mat preview_sheet(const PatchSet& p, int count) {
  int n = static_cast<int>(std::min<int64_t>(std::max(1, count), p.size()));
  QKV_CHECK(n > 0, "preview of an empty patch set");
  const Grid& g = p.meta.grid;
  const int H = g.image.h, W = g.image.w;
  const int scale = std::max(1, (128 + std::max(H, W) - 1) / std::max(H, W));
  const int tw = W * scale, th = H * scale, text_h = 18, gap = 6;
  const int max_per_row = std::min(n, std::max(1, 1024 / (tw + gap)));
  const int rows = (n + max_per_row - 1) / max_per_row;
  const int per_row = (n + rows - 1) / rows;  // balanced rows: 8 images at most 7 wide -> 4 + 4
  cv::Mat sheet(gap + rows * (th + text_h + gap), gap + per_row * (tw + gap), CV_8UC3, cv::Scalar(40, 40, 40));
  const cv::Scalar line_a(0, 215, 255), line_b(255, 160, 0);  // BGR: amber patch starts, blue patch ends
  for (int k = 0; k < n; ++k) {
    // A sample of a set (patchify_to's) already holds the spread: all of it is drawn.
    const int64_t row = p.index.empty() ? preview_pick(p.size(), n, k) : k;
    const int64_t idx = p.index.empty() ? row : p.index[static_cast<size_t>(row)];
    cv::Mat img = image_of(p, row), bgr, big;
    cv::cvtColor(img, bgr, img.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
    cv::resize(bgr, big, cv::Size(tw, th), 0, 0, cv::INTER_NEAREST);
    // Patch outlines: every patch's left/top edge; with overlap, also its right/bottom edge.
    cv::Mat lines = big.clone();
    for (int c = 0; c < g.cols; ++c) {
      int x0 = c * g.stride.w * scale, x1 = (c * g.stride.w + g.patch.w) * scale - 1;
      cv::line(lines, {x0, 0}, {x0, th - 1}, line_a, 1);
      if (g.stride != g.patch || c == g.cols - 1) cv::line(lines, {x1, 0}, {x1, th - 1}, line_b, 1);
    }
    for (int r = 0; r < g.rows; ++r) {
      int y0 = r * g.stride.h * scale, y1 = (r * g.stride.h + g.patch.h) * scale - 1;
      cv::line(lines, {0, y0}, {tw - 1, y0}, line_a, 1);
      if (g.stride != g.patch || r == g.rows - 1) cv::line(lines, {0, y1}, {tw - 1, y1}, line_b, 1);
    }
    cv::addWeighted(big, 0.35, lines, 0.65, 0, big);
    int x = gap + (k % per_row) * (tw + gap), y = gap + (k / per_row) * (th + text_h + gap);
    big.copyTo(sheet(cv::Rect(x, y, tw, th)));
    std::string caption = "#" + std::to_string(idx);
    if (p.labelled()) {
      int32_t label = p.labels.data<int32_t>()[idx];
      caption += " " + (label >= 0 && label < static_cast<int32_t>(p.meta.class_names.size())
                            ? p.meta.class_names[label]
                            : std::to_string(label));
    }
    double fs = 0.4;
    int base = 0;
    while (fs > 0.25 && cv::getTextSize(caption, cv::FONT_HERSHEY_SIMPLEX, fs, 1, &base).width > tw) fs -= 0.05;
    cv::putText(sheet, caption, {x, y + th + 13}, cv::FONT_HERSHEY_SIMPLEX, fs, cv::Scalar(230, 230, 230), 1,
                cv::LINE_AA);
  }
  return sheet;
}

}  // namespace qkv::patchify
