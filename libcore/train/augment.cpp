#include "train/augment.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace qkv::train {

Augment parse_augment(const std::string& spec) {
  Augment a;
  if (spec.empty() || spec == "none") return a;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::string key = item.substr(0, item.find('=')), val;
    bool has_val = item.find('=') != std::string::npos;
    if (has_val) val = item.substr(item.find('=') + 1);
    auto bad = [&](const std::string& why) {
      return UsageError("--augment: '" + item + "': " + why + " (items: flip, shift=N, erase=P)");
    };
    char* end = nullptr;
    if (key == "flip" && !has_val) {
      a.flip = true;
    } else if (key == "shift" && has_val) {
      long v = std::strtol(val.c_str(), &end, 10);
      if (val.empty() || *end || v < 0 || v > 1024) throw bad("shift needs a whole number of pixels in [0, 1024]");
      a.shift = static_cast<int>(v);
    } else if (key == "erase" && has_val) {
      double v = std::strtod(val.c_str(), &end);
      if (val.empty() || *end || !(v >= 0 && v <= 1)) throw bad("erase needs a probability in [0, 1]");
      a.erase = v;
    } else {
      throw bad("unknown item");
    }
  }
  return a;
}

std::string str(const Augment& a) {
  std::string s;
  auto add = [&](const std::string& item) { s += (s.empty() ? "" : ",") + item; };
  if (a.flip) add("flip");
  if (a.shift > 0) add("shift=" + std::to_string(a.shift));
  if (a.erase > 0) {
    std::ostringstream o;
    o << a.erase;
    add("erase=" + o.str());
  }
  return s.empty() ? "none" : s;
}

PatchGeometry::PatchGeometry(const formats::Grid& g, int c, std::vector<float> fill_value)
    : grid(g), channels(c), fill(std::move(fill_value)), pixel_of(formats::patch_pixel_index(g, c)) {
  QKV_CHECK(static_cast<int>(fill.size()) == channels, "fill value per channel");
}

void transform_sample(const ImageTransform& t, const PatchGeometry& g, float* sample, std::vector<float>& scratch) {
  const int H = g.grid.image.h, W = g.grid.image.w, C = g.channels;
  const int64_t n = g.sample_size(), HWC = int64_t{H} * W * C;
  // Unpatchify: pixels between patches (stride > patch) stay fill; overlaps hold equal values.
  scratch.resize(2 * HWC);
  float* img = scratch.data();  // (H, W, C)
  float* out = img + HWC;       // (H, W, C)
  for (int64_t i = 0; i < HWC; ++i) img[i] = g.fill[i % C];
  for (int64_t j = 0; j < n; ++j) img[g.pixel_of[j]] = sample[j];
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const int sy = y - t.dy, ux = x - t.dx, sx = t.flip ? W - 1 - ux : ux;
      const bool erased = y >= t.ey && y < t.ey + t.eh && x >= t.ex && x < t.ex + t.ew;
      float* o = out + (int64_t{y} * W + x) * C;
      if (erased || sy < 0 || sy >= H || ux < 0 || ux >= W)
        for (int c = 0; c < C; ++c) o[c] = g.fill[c];
      else
        for (int c = 0; c < C; ++c) o[c] = img[(int64_t{sy} * W + sx) * C + c];
    }
  // Re-cut.
  for (int64_t j = 0; j < n; ++j) sample[j] = out[g.pixel_of[j]];
}

ImageTransform draw_transform(const Augment& a, const PatchGeometry& g, Rng& rng) {
  const int H = g.grid.image.h, W = g.grid.image.w;
  ImageTransform t;
  if (a.flip) t.flip = rng.uniform() < 0.5f;
  if (a.shift > 0) {
    t.dx = static_cast<int>(rng.below(2 * a.shift + 1)) - a.shift;
    t.dy = static_cast<int>(rng.below(2 * a.shift + 1)) - a.shift;
  }
  if (a.erase > 0 && rng.uniform() < a.erase) {
    // torchvision RandomErasing: area 2%..33% of the image, log-uniform aspect 0.3..3.3, up to 10 tries.
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = H * W * (0.02 + rng.uniform() * (1.0 / 3 - 0.02));
      const double ratio = std::exp(std::log(0.3) + rng.uniform() * (std::log(3.3) - std::log(0.3)));
      const int h = static_cast<int>(std::lround(std::sqrt(area * ratio)));
      const int w = static_cast<int>(std::lround(std::sqrt(area / ratio)));
      if (h < 1 || w < 1 || h >= H || w >= W) continue;
      t.eh = h;
      t.ew = w;
      t.ey = static_cast<int>(rng.below(H - h + 1));
      t.ex = static_cast<int>(rng.below(W - w + 1));
      break;
    }
  }
  return t;
}

Rng augment_rng(uint64_t seed, int64_t epoch, int64_t index) {
  // Distinct odd multipliers keep (seed, epoch, index) triples apart; Rng's splitmix seeding mixes the rest.
  return Rng(seed * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(epoch) * 0xC2B2AE3D27D4EB4Full ^
             static_cast<uint64_t>(index) * 0x165667B19E3779F9ull ^ 0xA11A5EEDull);
}

}  // namespace qkv::train
