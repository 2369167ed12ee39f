#include "patchify/sources.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/file_io.h"
#include "io/provenance.h"
#include "io/sha256.h"
#include "patchify/idx.h"
#include "patchify/image.h"

namespace qkv::patchify {
namespace fs = std::filesystem;
namespace {

std::string lower_ext(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool is_list_file(const std::string& path) {
  std::string e = lower_ext(path);
  return e == ".txt" || e == ".lst" || e == ".list" || e == ".csv" || e == ".tsv";
}

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Image files under dir, sorted by path; recursive or only the top level.
std::vector<std::string> images_in(const std::string& dir, bool recursive) {
  std::vector<std::string> out;
  std::error_code ec;
  auto add = [&](const fs::directory_entry& e) {
    if (hidden(e.path())) return;
    std::error_code ec2;
    if (!e.is_regular_file(ec2)) return;
    if (has_image_extension(e.path().string())) out.push_back(e.path().string());
    else spdlog::debug("{}: not an image file name, skipped", e.path().string());
  };
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
    if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
      if (hidden(it->path()) && it->is_directory()) {
        it.disable_recursion_pending();
        continue;
      }
      add(*it);
    }
  } else {
    fs::directory_iterator it(dir, ec), end;
    if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
      add(*it);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> numeric_names(int64_t n) {
  std::vector<std::string> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(std::to_string(i));
  return v;
}

bool parse_label_int(const std::string& s, int32_t& v) {
  if (s.empty() || s.size() > 9) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  v = std::stoi(s);
  return true;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

void collect_folder(const std::string& dir, SampleSet& set) {
  std::vector<std::string> classes;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
  size_t top_files = 0;
  for (; it != end; it.increment(ec)) {
    if (ec) throw DataError(dir + ": cannot read folder: " + ec.message());
    if (hidden(it->path())) continue;
    std::error_code ec2;
    if (it->is_directory(ec2)) classes.push_back(it->path().filename().string());
    else if (has_image_extension(it->path().string())) ++top_files;
  }
  std::sort(classes.begin(), classes.end());
  InputGroup g{dir, dir.back() == '/' ? dir : dir + "/", 0, 0};
  if (classes.empty()) {
    set.kind = "folder";
    for (const auto& p : images_in(dir, false)) set.samples.push_back(Sample{p, {}, p, -1});
    if (set.samples.empty())
      throw DataError(dir + ": no images in the folder (looked for PNG, JPEG, BMP, PNM, TIFF, WebP files, "
                            "and for class subfolders)");
  } else {
    set.kind = "folder";
    set.labelled = true;
    set.class_names = classes;
    if (top_files)
      spdlog::warn("{}: {} image(s) beside the class folders are ignored (ImageFolder layout: one subfolder per class)",
                   dir, top_files);
    for (size_t c = 0; c < classes.size(); ++c) {
      std::string sub = join(dir, classes[c]);
      auto files = images_in(sub, true);
      if (files.empty())
        throw DataError(sub + ": class folder has no images (ImageFolder layout: every subfolder of " + dir +
                        " is a class; remove it or add images)");
      for (const auto& p : files) set.samples.push_back(Sample{p, {}, p, static_cast<int32_t>(c)});
    }
  }
  g.count = set.samples.size();
  set.groups.push_back(g);
}

void collect_list(const std::string& list, SampleSet& set) {
  auto bytes = io::read_all(list, 1ull << 32);
  io::provenance::note_input(list, io::sha256_hex(bytes.data(), bytes.size()));
  std::string dir = fs::path(list).parent_path().string();
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  std::string line;
  int64_t lineno = 0;
  struct Entry {
    std::string path, label;
    int64_t line;
  };
  std::vector<Entry> entries;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::string path = t, label;
    size_t cut = t.find('\t') != std::string::npos ? t.find_last_of('\t')
                 : t.find(',') != std::string::npos ? t.find_last_of(',')
                                                    : std::string::npos;
    if (cut == std::string::npos) {
      // "path" or "path label": a line naming an existing file is a path (it may contain spaces).
      std::string whole = t[0] == '/' ? t : join(dir, t);
      size_t sp = t.find_last_of(' ');
      if (sp != std::string::npos && io::file_size(whole) < 0) cut = sp;
    }
    if (cut != std::string::npos) {
      path = trim(t.substr(0, cut));
      label = trim(t.substr(cut + 1));
    }
    if (entries.empty() && (label == "label" || label == "class") && io::file_size(join(dir, path)) < 0)
      continue;  // a CSV header line
    if (path.empty()) throw DataError(list + ":" + std::to_string(lineno) + ": no image path");
    entries.push_back({path, label, lineno});
  }
  if (entries.empty()) throw DataError(list + ": the list names no images");
  size_t with_label = 0, numeric = 0;
  int32_t v;
  for (const auto& e : entries) {
    if (!e.label.empty()) ++with_label;
    if (!e.label.empty() && parse_label_int(e.label, v)) ++numeric;
  }
  if (with_label && with_label != entries.size()) {
    for (const auto& e : entries)
      if (e.label.empty())
        throw DataError(list + ":" + std::to_string(e.line) + ": no label, but other lines have one");
  }
  bool names = with_label && numeric != entries.size();
  if (names && numeric) {
    for (const auto& e : entries)
      if (parse_label_int(e.label, v))
        throw DataError(list + ":" + std::to_string(e.line) + ": label '" + e.label +
                        "' is a number, but other labels are class names");
  }
  std::map<std::string, int32_t> ids;
  if (names) {
    std::set<std::string> uniq;
    for (const auto& e : entries) uniq.insert(e.label);
    for (const auto& n : uniq) {
      ids[n] = static_cast<int32_t>(set.class_names.size());
      set.class_names.push_back(n);
    }
  }
  set.kind = "list";
  set.labelled = with_label > 0;
  InputGroup g{list, dir.empty() ? "" : dir + "/", set.samples.size(), 0};
  int32_t max_label = -1;
  for (const auto& e : entries) {
    std::string p = e.path[0] == '/' ? e.path : join(dir, e.path);
    int32_t label = -1;
    if (names) {
      label = ids[e.label];
    } else if (with_label) {
      parse_label_int(e.label, label);
      if (label < 0)
        throw DataError(list + ":" + std::to_string(e.line) + ": label " + e.label + " is negative");
      max_label = std::max(max_label, label);
    }
    set.samples.push_back(Sample{p, {}, p, label});
  }
  if (with_label && !names) set.class_names = numeric_names(max_label + 1);
  g.count = set.samples.size() - g.first;
  set.groups.push_back(g);
}

void collect_idx(const std::string& path, const SourceOptions& opt, SampleSet& set) {
  IdxArray images = read_idx(path);
  io::provenance::note_input(path, io::sha256_file(path));
  if (images.dims.size() != 3)
    throw DataError(path + ": IDX images must have 3 dimensions (count, rows, columns), this one has " +
                    std::to_string(images.dims.size()));
  int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  if (n == 0) throw DataError(path + ": the IDX file holds no images");
  if (h == 0 || w == 0) throw DataError(path + ": IDX images of size 0");
  std::string labels_path = opt.labels_path.empty() ? matching_idx_labels(path) : opt.labels_path;
  std::vector<uint8_t> labels;
  if (!labels_path.empty()) {
    IdxArray l = read_idx(labels_path);
    io::provenance::note_input(labels_path, io::sha256_file(labels_path));
    if (l.dims.size() != 1)
      throw DataError(labels_path + ": IDX labels must have 1 dimension, this one has " + std::to_string(l.dims.size()));
    if (l.dims[0] != n)
      throw DataError(labels_path + ": " + std::to_string(l.dims[0]) + " labels for " + std::to_string(n) +
                      " images in " + path);
    labels = std::move(l.data);
    spdlog::info("{}: labels from {}", path, labels_path);
  } else {
    spdlog::warn("{}: no matching labels file (*-labels-idx1-ubyte[.gz]) found: samples are unlabelled; "
                 "give --labels FILE", path);
  }
  // One matrix holds every image stacked vertically; each sample is a view of its rows.
  cv::Mat all(static_cast<int>(n * h), static_cast<int>(w), CV_8UC1);
  std::copy(images.data.begin(), images.data.end(), all.data);
  images.data = {};
  std::string base = fs::path(path).filename().string();
  int32_t max_label = -1;
  for (int64_t i = 0; i < n; ++i) {
    int32_t label = labels.empty() ? -1 : labels[i];
    max_label = std::max(max_label, label);
    set.samples.push_back(Sample{"", all.rowRange(static_cast<int>(i * h), static_cast<int>((i + 1) * h)),
                                 path + "[" + std::to_string(i) + "]", label});
  }
  set.kind = "idx";
  set.labelled = !labels.empty();
  if (set.labelled) set.class_names = numeric_names(max_label + 1);
}

void collect_grid(const std::string& path, const SourceOptions& opt, SampleSet& set) {
  auto bytes = io::read_all(path);
  io::provenance::note_input(path, io::sha256_hex(bytes.data(), bytes.size()));
  cv::Mat sheet = decode_image(bytes, path);
  int R = opt.grid.h, C = opt.grid.w;
  if (sheet.rows % R || sheet.cols % C)
    throw DataError(path + ": a " + std::to_string(sheet.cols) + "x" + std::to_string(sheet.rows) +
                    " (width x height) sheet does not split into --grid " + size_str(opt.grid) +
                    " (rows x columns) equal cells");
  int ch = sheet.rows / R, cw = sheet.cols / C;
  const auto& gl = opt.grid_labels;
  if (gl.mode == GridLabels::rows && R % gl.block)
    spdlog::warn("{}: {} cell rows are not a multiple of --grid-labels rows:{}: the last label has fewer rows",
                 path, R, gl.block);
  if (gl.mode == GridLabels::cols && C % gl.block)
    spdlog::warn("{}: {} cell columns are not a multiple of --grid-labels cols:{}: the last label has fewer columns",
                 path, C, gl.block);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      int32_t label = gl.mode == GridLabels::rows ? r / gl.block : gl.mode == GridLabels::cols ? c / gl.block : -1;
      set.samples.push_back(Sample{"", sheet(cv::Rect(c * cw, r * ch, cw, ch)),
                                   path + "[row=" + std::to_string(r) + ",col=" + std::to_string(c) + "]", label});
    }
  if (gl.mode != GridLabels::none) {
    int blocks = gl.mode == GridLabels::rows ? (R + gl.block - 1) / gl.block : (C + gl.block - 1) / gl.block;
    set.labelled = true;
    set.class_names = numeric_names(blocks);
  }
  set.kind = "grid";
}

}  // namespace

bool has_image_extension(const std::string& path) {
  static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".jpe", ".jp2", ".bmp", ".dib",
                                             ".pgm", ".ppm", ".pbm", ".pnm", ".pxm", ".pfm", ".tif",
                                             ".tiff", ".webp", ".sr",  ".ras", ".exr", ".hdr", ".pic"};
  return exts.count(lower_ext(path)) > 0;
}

std::string tree_digest(const std::vector<std::string>& rel_paths, const std::vector<std::string>& file_sha256) {
  io::Sha256 h;
  for (size_t i = 0; i < rel_paths.size(); ++i) {
    std::string line = file_sha256[i] + "  " + rel_paths[i] + "\n";
    h.update(line.data(), line.size());
  }
  return h.hex();
}

namespace {
// Keeps samples [begin, end): the groups and directly given files shrink with them.
void keep_samples(SampleSet& set, size_t begin, size_t end) {
  set.samples.erase(set.samples.begin() + static_cast<std::ptrdiff_t>(end), set.samples.end());
  set.samples.erase(set.samples.begin(), set.samples.begin() + static_cast<std::ptrdiff_t>(begin));
  for (auto& g : set.groups) {
    size_t a = std::clamp(g.first, begin, end), b = std::clamp(g.first + g.count, begin, end);
    g.first = a - begin;
    g.count = b - a;
  }
  if (!set.direct_files.empty()) {  // one per sample, in order
    set.direct_files.resize(std::min(set.direct_files.size(), end));
    set.direct_files.erase(set.direct_files.begin(),
                           set.direct_files.begin() + static_cast<std::ptrdiff_t>(std::min(begin, set.direct_files.size())));
  }
}
}  // namespace

SampleSet collect_samples(const std::vector<std::string>& inputs, const SourceOptions& opt, formats::Shard* shard) {
  if (inputs.empty()) throw UsageError("no input: give image files, a folder, a list file or an IDX file");
  SampleSet set;
  size_t dirs = 0, lists = 0, idx = 0, files = 0;
  for (const auto& in : inputs) {
    if (in == "-") throw UsageError("images cannot come from stdin: give files, a folder, a list or an IDX file");
    if (is_dir(in)) ++dirs;
    else if (looks_like_idx(in)) ++idx;
    else if (is_list_file(in)) ++lists;
    else ++files;
  }
  bool single = dirs + lists + idx > 0;
  if (single && inputs.size() > 1)
    throw UsageError("give one folder, one list or one IDX file per run (or any number of image files); got " +
                     std::to_string(inputs.size()) + " inputs");
  if (!opt.grid.empty() && single)
    throw UsageError("--grid cuts image files (sheets) into cells; it does not apply to a folder, list or IDX file");
  if (opt.grid.empty() && opt.grid_labels.mode != GridLabels::none)
    throw UsageError("--grid-labels needs --grid");
  if (!opt.labels_path.empty() && !idx) throw UsageError("--labels is for IDX image files");

  if (dirs) collect_folder(inputs[0], set);
  else if (lists) collect_list(inputs[0], set);
  else if (idx) collect_idx(inputs[0], opt, set);
  else if (!opt.grid.empty()) {
    for (const auto& f : inputs) collect_grid(f, opt, set);
  } else {
    set.kind = "files";
    for (const auto& f : inputs) {
      set.samples.push_back(Sample{f, {}, f, -1});
      set.direct_files.push_back(f);
    }
  }
  if (set.samples.empty()) throw DataError(inputs[0] + ": no images");

  if (!opt.class_names.empty()) {
    if (!set.labelled) throw UsageError("--class-names: the input has no labels");
    if (set.kind == "folder" || (set.kind == "list" && !set.class_names.empty() &&
                                 set.class_names != numeric_names(static_cast<int64_t>(set.class_names.size())))) {
      throw UsageError("--class-names: the class names come from the " + set.kind + " itself");
    }
    if (opt.class_names.size() < set.class_names.size())
      throw UsageError("--class-names: " + std::to_string(opt.class_names.size()) + " names for " +
                       std::to_string(set.class_names.size()) + " classes");
    set.class_names = opt.class_names;
  }

  if (opt.limit > 0 && static_cast<size_t>(opt.limit) < set.samples.size()) keep_samples(set, 0, static_cast<size_t>(opt.limit));
  if (!opt.shard.empty()) {
    formats::Shard s = formats::parse_shard(opt.shard);
    s.cover(static_cast<int64_t>(set.samples.size()));
    keep_samples(set, static_cast<size_t>(s.begin), static_cast<size_t>(s.end));
    if (shard) *shard = s;
  }
  return set;
}

}  // namespace qkv::patchify
