#include "patchify/options.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "io/file_io.h"

namespace qkv::patchify {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A positive int from the whole of text, or -1.
int parse_positive(const std::string& text) {
  if (text.empty() || text.size() > 9) return -1;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  int v = std::atoi(text.c_str());
  return v > 0 ? v : -1;
}

template <class E>
E parse_enum(const std::string& text, const char* what, std::initializer_list<std::pair<const char*, E>> names) {
  std::string t = lower(text), all;
  for (const auto& [name, value] : names) {
    if (t == name) return value;
    all += all.empty() ? "" : ", ";
    all += name;
  }
  throw UsageError(std::string(what) + ": '" + text + "' is not one of " + all);
}

}  // namespace

Size2 parse_size(const std::string& text, const std::string& what) {
  std::string t = lower(text);
  size_t x = t.find('x');
  Size2 s;
  if (x == std::string::npos) {
    s.h = s.w = parse_positive(t);
  } else {
    s.h = parse_positive(t.substr(0, x));
    s.w = parse_positive(t.substr(x + 1));
  }
  if (s.h <= 0 || s.w <= 0 || s.h > 1000000 || s.w > 1000000)
    throw UsageError(what + ": '" + text + "' is not N or HxW with positive integers (e.g. 224 or 20x30)");
  return s;
}

Fit parse_fit(const std::string& text) {
  return parse_enum<Fit>(text, "--fit", {{"squash", Fit::squash}, {"crop", Fit::crop}, {"pad", Fit::pad}});
}

Interp parse_interp(const std::string& text) {
  return parse_enum<Interp>(text, "--interp",
                            {{"auto", Interp::automatic}, {"area", Interp::area}, {"bilinear", Interp::bilinear},
                             {"bicubic", Interp::bicubic}, {"nearest", Interp::nearest}});
}

Channels parse_channels(const std::string& text) {
  return parse_enum<Channels>(text, "--channels",
                              {{"auto", Channels::automatic}, {"gray", Channels::gray}, {"grey", Channels::gray},
                               {"rgb", Channels::rgb}});
}

Normalize parse_normalize(const std::string& text) {
  return parse_enum<Normalize>(text, "--normalize",
                               {{"none", Normalize::none}, {"unit", Normalize::unit}, {"half", Normalize::half},
                                {"imagenet", Normalize::imagenet}, {"custom", Normalize::custom}});
}

DType parse_dtype(const std::string& text) {
  return parse_enum<DType>(text, "--dtype", {{"float32", DType::f32}, {"uint8", DType::u8}});
}

GridLabels parse_grid_labels(const std::string& text) {
  std::string t = lower(text);
  GridLabels g;
  if (t == "none") return g;
  size_t colon = t.find(':');
  std::string mode = t.substr(0, colon);
  int k = colon == std::string::npos ? -1 : parse_positive(t.substr(colon + 1));
  if ((mode != "rows" && mode != "cols") || k <= 0)
    throw UsageError("--grid-labels: '" + text +
                     "' is not none, rows:K or cols:K (one label per block of K cell rows or columns; "
                     "OpenCV's digits.png: rows:5)");
  g.mode = mode == "rows" ? GridLabels::rows : GridLabels::cols;
  g.block = k;
  return g;
}

std::vector<std::string> parse_class_names(const std::string& text) {
  std::vector<std::string> names;
  if (!text.empty() && text[0] == '@') {
    auto bytes = io::read_all(text.substr(1), 64 << 20);
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) names.push_back(line);
    }
  } else {
    std::string cur;
    for (char c : text) {
      if (c == ',') {
        names.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    names.push_back(cur);
  }
  for (const auto& n : names)
    if (n.empty()) throw UsageError("--class-names: empty class name in '" + text + "'");
  if (names.empty()) throw UsageError("--class-names: no names given");
  return names;
}

const char* fit_name(Fit f) {
  switch (f) {
    case Fit::squash: return "squash";
    case Fit::crop: return "crop";
    case Fit::pad: return "pad";
  }
  return "?";
}

const char* interp_name(Interp i) {
  switch (i) {
    case Interp::automatic: return "auto";
    case Interp::area: return "area";
    case Interp::bilinear: return "bilinear";
    case Interp::bicubic: return "bicubic";
    case Interp::nearest: return "nearest";
  }
  return "?";
}

const char* normalize_name(Normalize n) {
  switch (n) {
    case Normalize::none: return "none";
    case Normalize::unit: return "unit";
    case Normalize::half: return "half";
    case Normalize::imagenet: return "imagenet";
    case Normalize::custom: return "custom";
  }
  return "?";
}

void normalization_values(const Options& o, int channels, std::vector<double>& mean, std::vector<double>& stdev) {
  auto per_channel = [&](std::vector<double> m, std::vector<double> s) {
    if (channels == 1 && m.size() == 3) {  // gray: the channel averages
      m = {(m[0] + m[1] + m[2]) / 3};
      s = {(s[0] + s[1] + s[2]) / 3};
    }
    if (m.size() == 1 && channels == 3) m.assign(3, m[0]);
    if (s.size() == 1 && channels == 3) s.assign(3, s[0]);
    mean = std::move(m);
    stdev = std::move(s);
  };
  switch (o.normalize) {
    case Normalize::none: per_channel({0.0}, {1.0 / 255.0}); break;
    case Normalize::unit: per_channel({0.0}, {1.0}); break;
    case Normalize::half: per_channel({0.5}, {0.5}); break;
    case Normalize::imagenet: per_channel({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}); break;
    case Normalize::custom:
      if (o.mean.size() != 1 && static_cast<int>(o.mean.size()) != channels)
        throw UsageError("--mean: give 1 or " + std::to_string(channels) + " values for " +
                         (channels == 1 ? "gray" : "rgb") + " images, got " + std::to_string(o.mean.size()));
      if (o.std.size() != 1 && static_cast<int>(o.std.size()) != channels)
        throw UsageError("--std: give 1 or " + std::to_string(channels) + " values for " +
                         (channels == 1 ? "gray" : "rgb") + " images, got " + std::to_string(o.std.size()));
      per_channel(o.mean, o.std);
      break;
  }
}

void validate(const Options& o) {
  if (o.patch.empty()) throw UsageError("--patch: must be positive");
  Size2 st = o.effective_stride();
  if (st.h > o.patch.h || st.w > o.patch.w)
    throw UsageError("--stride " + size_str(st) + " is larger than --patch " + size_str(o.patch) +
                     ": pixels between patches would be dropped");
  if (!o.size.empty() && (o.size.h < o.patch.h || o.size.w < o.patch.w))
    throw UsageError("--size " + size_str(o.size) + " is smaller than --patch " + size_str(o.patch));
  if (o.dtype == DType::u8 && o.normalize != Normalize::none)
    throw UsageError(std::string("--dtype uint8 stores raw pixels: it needs --normalize none, not ") +
                     normalize_name(o.normalize));
  if (o.dtype != DType::u8 && o.dtype != DType::f32) throw UsageError("--dtype: float32 or uint8");
  if (o.normalize == Normalize::custom && (o.mean.empty() || o.std.empty()))
    throw UsageError("--normalize custom needs --mean and --std (0..1 scale, one value or one per channel)");
  if (o.normalize != Normalize::custom && (!o.mean.empty() || !o.std.empty()))
    throw UsageError("--mean/--std need --normalize custom");
  for (double s : o.std)
    if (!(s > 0)) throw UsageError("--std: values must be positive");
  if (o.resize_shorter > 0 && o.fit != Fit::crop) throw UsageError("--resize-shorter needs --fit crop");
  if (o.resize_shorter > 0 && o.size.empty()) throw UsageError("--resize-shorter needs --size");
  if (o.resize_shorter > 0 && o.resize_shorter < std::min(o.size.h, o.size.w))
    throw UsageError("--resize-shorter " + std::to_string(o.resize_shorter) + " is smaller than --size " +
                     size_str(o.size) + ": the centre crop would not fit");
  if (o.pad_value < 0 || o.pad_value > 255) throw UsageError("--pad-value: 0..255");
  if (o.limit < 0) throw UsageError("--limit: must be >= 0");
}

}  // namespace qkv::patchify
