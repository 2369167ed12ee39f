#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "io/file_io.h"

namespace qkv::train {
namespace {

// "Nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over span.
double nice_step(double span, int n) {
  double raw = span / std::max(1, n);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string tick_label(double v, double step) {
  char b[32];
  if (std::fabs(v) >= 1e5 || step >= 1) std::snprintf(b, sizeof b, "%.6g", v);
  else {
    int dec = std::max(0, static_cast<int>(-std::floor(std::log10(step))));
    std::snprintf(b, sizeof b, "%.*f", dec, v);
  }
  return b;
}

}  // namespace

std::vector<unsigned char> render_curves(const std::vector<Curve>& curves, const std::string& x_label,
                                         const std::string& y_label, const std::string& title, int width,
                                         int height) {
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 80, right = 20, top = 40, bottom = 60;
  cv::Rect area(left, top, width - left - right, height - top - bottom);
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& c : curves)
    for (size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
      if (!std::isfinite(c.x[i]) || !std::isfinite(c.y[i])) continue;
      x0 = std::min(x0, c.x[i]); x1 = std::max(x1, c.x[i]);
      y0 = std::min(y0, c.y[i]); y1 = std::max(y1, c.y[i]);
    }
  if (!std::isfinite(x0)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (x1 - x0 < 1e-12) { x0 -= 0.5; x1 += 0.5; }
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  double pad = 0.05 * (y1 - y0);
  y0 -= pad; y1 += pad;
  auto px = [&](double x) { return area.x + static_cast<int>(std::lround((x - x0) / (x1 - x0) * area.width)); };
  auto py = [&](double y) {
    return area.y + area.height - static_cast<int>(std::lround((y - y0) / (y1 - y0) * area.height));
  };
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar black(0, 0, 0), grid(225, 225, 225);
  // Grid, ticks and their labels.
  double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
  for (double v = std::ceil(x0 / xs) * xs; v <= x1 + 1e-9 * xs; v += xs) {
    cv::line(img, {px(v), area.y}, {px(v), area.y + area.height}, grid, 1);
    std::string t = tick_label(v, xs);
    int base = 0;
    cv::Size sz = cv::getTextSize(t, font, 0.4, 1, &base);
    cv::putText(img, t, {px(v) - sz.width / 2, area.y + area.height + 18}, font, 0.4, black, 1, cv::LINE_AA);
  }
  for (double v = std::ceil(y0 / ys) * ys; v <= y1 + 1e-9 * ys; v += ys) {
    cv::line(img, {area.x, py(v)}, {area.x + area.width, py(v)}, grid, 1);
    std::string t = tick_label(v, ys);
    int base = 0;
    cv::Size sz = cv::getTextSize(t, font, 0.4, 1, &base);
    cv::putText(img, t, {area.x - sz.width - 6, py(v) + 4}, font, 0.4, black, 1, cv::LINE_AA);
  }
  cv::rectangle(img, area, black, 1);
  // Axis labels and title.
  int base = 0;
  cv::Size sz = cv::getTextSize(x_label, font, 0.5, 1, &base);
  cv::putText(img, x_label, {area.x + area.width / 2 - sz.width / 2, height - 18}, font, 0.5, black, 1, cv::LINE_AA);
  cv::putText(img, y_label, {8, top - 12}, font, 0.5, black, 1, cv::LINE_AA);
  sz = cv::getTextSize(title, font, 0.55, 1, &base);
  cv::putText(img, title, {width / 2 - sz.width / 2, 24}, font, 0.55, black, 1, cv::LINE_AA);
  // Curves (BGR colors: blue, orange, green, red, purple).
  const cv::Scalar colors[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}, {189, 103, 148}};
  for (size_t k = 0; k < curves.size(); ++k) {
    const Curve& c = curves[k];
    cv::Scalar col = colors[k % 5];
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < c.x.size() && i < c.y.size(); ++i)
      if (std::isfinite(c.x[i]) && std::isfinite(c.y[i])) pts.emplace_back(px(c.x[i]), py(c.y[i]));
    for (size_t i = 1; i < pts.size(); ++i) cv::line(img, pts[i - 1], pts[i], col, 2, cv::LINE_AA);
    if (pts.size() <= 60)
      for (const auto& p : pts) cv::circle(img, p, 3, col, cv::FILLED, cv::LINE_AA);
    // Legend entry.
    int ly = area.y + 16 + 18 * static_cast<int>(k);
    cv::line(img, {area.x + area.width - 110, ly - 4}, {area.x + area.width - 85, ly - 4}, col, 2, cv::LINE_AA);
    cv::putText(img, c.name, {area.x + area.width - 78, ly}, font, 0.45, black, 1, cv::LINE_AA);
  }
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", img, png)) throw DataError("plot: PNG encoding failed");
  return png;
}

void plot_curves(const std::string& path, const std::vector<Curve>& curves, const std::string& x_label,
                 const std::string& y_label, const std::string& title) {
  std::vector<unsigned char> png = render_curves(curves, x_label, y_label, title);
  io::write_atomically(path, png.data(), png.size());
}

}  // namespace qkv::train
