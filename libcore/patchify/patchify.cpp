#include "patchify/patchify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "cli/tool.h"
#include "core/error.h"
#include "io/file_io.h"
#include "io/provenance.h"
#include "io/sha256.h"

namespace qkv::patchify {
namespace {

// An image whose size differs from the first one's: a usage problem, never skipped.
struct SizeMismatch : DataError {
  using DataError::DataError;
};

struct Decoded {
  cv::Mat image;
  std::string sha256;  // of the file's bytes, for provenance ("" for in-memory samples or when off)
};

Decoded load(const Sample& s, bool hash) {
  Decoded d;
  if (s.path.empty()) {
    d.image = s.image;
    return d;
  }
  std::vector<uint8_t> bytes = io::read_all(s.path, uint64_t{1} << 31);
  if (hash) d.sha256 = io::sha256_hex(bytes.data(), bytes.size());
  d.image = decode_image(bytes, s.path);
  return d;
}

std::string rel_to(const std::string& path, const std::string& base) {
  return !base.empty() && path.compare(0, base.size(), base) == 0 ? path.substr(base.size()) : path;
}

// Restores OpenCV's own thread count when our workers are done.
struct CvThreadsGuard {
  int saved;
  explicit CvThreadsGuard(int workers) : saved(cv::getNumThreads()) {
    if (workers > 1) cv::setNumThreads(1);  // we parallelise over images; no nested pools
  }
  ~CvThreadsGuard() { cv::setNumThreads(saved); }
};

}  // namespace

Tensor grid_positions(const Grid& g) {
  Tensor pos({static_cast<int64_t>(g.num_patches()), 2}, DType::i32);  // (L, 2)
  int32_t* p = pos.data<int32_t>();
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      *p++ = r;
      *p++ = c;
    }
  return pos;
}

PatchSet patchify(const SampleSet& set, const Options& opt) {
  validate(opt);
  const int64_t N = static_cast<int64_t>(set.samples.size());
  QKV_CHECK(N > 0, "no samples");
  const bool hash = io::provenance::enabled();
  std::vector<std::string> digests(set.samples.size());  // per sample, for provenance
  std::vector<std::string> bad(set.samples.size());       // skip-bad messages

  // The first readable sample fixes the channels (auto) and, without --size, the image size.
  int64_t first = 0;
  Decoded d0;
  for (; first < N; ++first) {
    try {
      d0 = load(set.samples[first], hash);
      digests[first] = d0.sha256;
      break;
    } catch (const DataError& e) {
      if (!opt.skip_bad) throw;
      spdlog::warn("{} (skipped)", e.what());
      bad[first] = e.what();
    }
  }
  if (first == N) throw DataError("no input image could be read (" + std::to_string(N) + " skipped)");
  const Sample& s0 = set.samples[first];
  int channels = opt.channels == Channels::gray ? 1
                 : opt.channels == Channels::rgb ? 3
                                                 : d0.image.channels();
  Size2 in0{d0.image.rows, d0.image.cols};
  Size2 out_size = prepared_size(opt, in0);
  Size2 stride = opt.effective_stride();
  Grid grid = make_grid(out_size, opt.patch, stride, !opt.size.empty(), s0.source);
  std::vector<double> mean, stdev;
  normalization_values(opt, channels, mean, stdev);
  std::vector<float> lut = make_lut(mean, stdev);
  const int64_t L = grid.num_patches(), D = int64_t{opt.patch.h} * opt.patch.w * channels;
  spdlog::info("{} {} sample(s) -> {}x{}x{} images, {} patches of {}x{}x{} each{}", N, set.kind, out_size.h,
               out_size.w, channels, L, opt.patch.h, opt.patch.w, channels,
               stride != opt.patch ? " (stride " + size_str(stride) + ")" : "");

  // The whole output is held in memory (and once more while the HDF5 image is
  // built): refuse up front what cannot fit rather than die half way.
  const double need = static_cast<double>(N) * L * D * dtype_size(opt.dtype);
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  if (ram > 0 && 2 * need > ram) {
    char gb[64];
    std::snprintf(gb, sizeof gb, "%.1f GB, too much for this machine's %.1f GB", need / 1e9, ram / 1e9);
    throw DataError(s0.source + ": the output would hold " + std::to_string(N) + " images x " + std::to_string(L) +
                    " patches x " + std::to_string(D) + " values = " + gb +
                    " of memory: use --limit, a larger --stride or --patch, a smaller --size or --dtype uint8");
  }

  PatchSet out;
  out.patches = Tensor({N, L, D}, opt.dtype);  // (N, L, D)
  const size_t row_bytes = static_cast<size_t>(L * D) * dtype_size(opt.dtype);

  auto process = [&](int64_t i, Decoded d) {
    const Sample& s = set.samples[i];
    Size2 in{d.image.rows, d.image.cols};
    if (opt.size.empty() && in != in0)
      throw SizeMismatch(s.source + ": image is " + size_str(in) + " (HxW) but the first image, " + s0.source +
                         ", is " + size_str(in0) + ": give --size HxW (with --fit squash, crop or pad) to bring "
                         "them to one size");
    cv::Mat img;
    try {
      img = prepare_image(d.image, opt, channels, /*keep_bgr=*/true);
    } catch (const cv::Exception& e) {
      throw DataError(s.source + ": " + e.msg);
    }
    uint8_t* dst = static_cast<uint8_t*>(out.patches.raw()) + static_cast<size_t>(i) * row_bytes;
    const bool bgr = channels == 3;  // prepare_image kept OpenCV's order; extraction swaps to RGB
    if (opt.dtype == DType::u8) extract_patches(img, grid, dst, bgr);
    else extract_patches(img, grid, lut, reinterpret_cast<float*>(dst), bgr);
  };

  std::atomic<int64_t> next{first + 1}, done{1};
  std::atomic<bool> abort{false};
  std::mutex err_mu;
  int64_t err_index = N;
  std::string err_msg;
  bool err_usage = false;
  auto fail = [&](int64_t i, const std::string& msg, bool usage) {
    std::lock_guard<std::mutex> lock(err_mu);
    if (i < err_index) {
      err_index = i;
      err_msg = msg;
      err_usage = usage;
    }
    abort = true;
  };
  process(first, std::move(d0));

  int workers = std::max(1, std::min<int>(opt.threads, static_cast<int>(std::min<int64_t>(N, 256))));
  CvThreadsGuard cv_guard(workers);
  cli::Progress progress("patchify", N, "img");
  auto work = [&](bool report) {
    for (;;) {
      if (abort) return;
      int64_t i = next.fetch_add(1);
      if (i >= N) return;
      try {
        Decoded d = load(set.samples[i], hash);
        digests[i] = d.sha256;
        process(i, std::move(d));
      } catch (const SizeMismatch& e) {
        fail(i, e.what(), false);
      } catch (const DataError& e) {
        if (!opt.skip_bad) fail(i, e.what(), false);
        else bad[i] = e.what();
      } catch (const UsageError& e) {
        fail(i, e.what(), true);
      } catch (const std::bad_alloc&) {
        fail(i, set.samples[i].source + ": out of memory", false);
      } catch (const std::exception& e) {
        fail(i, set.samples[i].source + ": " + e.what(), false);
      }
      int64_t n = ++done;
      if (report && opt.progress) progress.update(n);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work, false);
  work(true);
  for (auto& t : pool) t.join();
  if (abort) {
    if (err_usage) throw UsageError(err_msg);
    throw DataError(err_msg);
  }

  // Leave out the bad samples (keeping order), then labels, sources, meta.
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < N; ++i) {
    if (bad[i].empty()) keep.push_back(i);
    else {
      if (i > first) spdlog::warn("{} (skipped)", bad[i]);
      out.meta.skipped_sources.push_back(set.samples[i].source);
    }
  }
  out.meta.skipped = static_cast<int64_t>(N - static_cast<int64_t>(keep.size()));
  if (out.meta.skipped) {
    uint8_t* base = static_cast<uint8_t*>(out.patches.raw());
    for (size_t k = 0; k < keep.size(); ++k)
      if (keep[k] != static_cast<int64_t>(k))
        std::memmove(base + k * row_bytes, base + static_cast<size_t>(keep[k]) * row_bytes, row_bytes);
    out.patches = out.patches.slice(0, static_cast<int64_t>(keep.size())).clone();
    spdlog::warn("{} of {} input(s) skipped as unreadable (--skip-bad)", out.meta.skipped, N);
  }
  const int64_t M = static_cast<int64_t>(keep.size());
  if (set.labelled) {
    out.labels = Tensor({M}, DType::i32);  // (N,)
    for (int64_t k = 0; k < M; ++k) out.labels.data<int32_t>()[k] = set.samples[keep[k]].label;
    out.meta.class_names = set.class_names;
  }
  for (int64_t k = 0; k < M; ++k) out.sources.push_back(set.samples[keep[k]].source);
  out.positions = grid_positions(grid);
  out.meta.grid = grid;
  out.meta.channels = channels;
  out.meta.normalize = normalize_name(opt.normalize);
  out.meta.mean = mean;
  out.meta.std = stdev;
  out.meta.fit = opt.size.empty() && opt.fit != Fit::pad ? "none" : fit_name(opt.fit);
  out.meta.interp = interp_name(opt.interp);
  if (opt.progress) progress.finish("(" + std::to_string(M) + " images)");

  // Provenance: directly given files one by one; a folder or list as one input
  // digested by its sha256sum-style listing.
  if (hash) {
    for (const auto& g : set.groups) {
      std::vector<std::string> rel, sha;
      for (size_t i = g.first; i < g.first + g.count; ++i) {
        rel.push_back(rel_to(set.samples[i].path, g.base));
        sha.push_back(digests[i].empty() ? std::string(64, '-') : digests[i]);
      }
      io::provenance::note_input(g.name, tree_digest(rel, sha));
    }
    if (set.groups.empty())
      for (int64_t i = 0; i < N; ++i)
        if (!set.samples[i].path.empty() && !digests[i].empty())
          io::provenance::note_input(set.samples[i].path, digests[i]);
  }
  return out;
}

void write_patches(io::H5Out& out, const PatchSet& p, int compress) {
  const auto& m = p.meta;
  out.write("patches", p.patches, compress);
  if (p.labelled()) out.write("labels", p.labels);
  out.write("positions", p.positions);
  out.write_strings("sources", p.sources);
  auto a = [&](const std::string& name, const io::AttrValue& v) { out.set_attr("/", name, v); };
  a("image_height", int64_t{m.grid.image.h});
  a("image_width", int64_t{m.grid.image.w});
  a("patch_height", int64_t{m.grid.patch.h});
  a("patch_width", int64_t{m.grid.patch.w});
  a("stride_height", int64_t{m.grid.stride.h});
  a("stride_width", int64_t{m.grid.stride.w});
  a("grid_rows", int64_t{m.grid.rows});
  a("grid_cols", int64_t{m.grid.cols});
  a("channels", int64_t{m.channels});
  a("channel_order", std::string(m.channels == 1 ? "gray" : "rgb"));
  a("patch_layout", std::string("row,column,channel"));
  a("normalize", m.normalize);
  a("mean", m.mean);
  a("std", m.std);
  if (!m.fit.empty()) a("fit", m.fit);
  if (!m.interp.empty()) a("interp", m.interp);
  if (p.labelled()) {
    a("num_classes", static_cast<int64_t>(m.class_names.size()));
    a("class_names", m.class_names);
  }
  a("skipped", m.skipped);
  if (!m.skipped_sources.empty()) a("skipped_sources", m.skipped_sources);
}

PatchMeta read_patch_meta(const io::H5In& in) {
  const std::string& f = in.path();
  PatchMeta m;
  auto int_attr = [&](const char* name, int64_t lo, int64_t hi) {
    int64_t v = in.attr_int("/", name);
    if (v < lo || v > hi)
      throw DataError(f + ": attribute " + name + " = " + std::to_string(v) + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int>(v);
  };
  const Size2 image{int_attr("image_height", 1, 1 << 20), int_attr("image_width", 1, 1 << 20)};
  const Size2 patch{int_attr("patch_height", 1, 1 << 20), int_attr("patch_width", 1, 1 << 20)};
  const Size2 stride{int_attr("stride_height", 1, 1 << 20), int_attr("stride_width", 1, 1 << 20)};
  m.channels = int_attr("channels", 1, 3);
  if (m.channels == 2) throw DataError(f + ": attribute channels = 2 (1 or 3 expected)");
  m.grid = make_grid(image, patch, stride, false, f);
  m.normalize = in.attr_string("/", "normalize");
  m.mean = in.attr_doubles("/", "mean");
  m.std = in.attr_doubles("/", "std");
  if (static_cast<int>(m.mean.size()) != m.channels || static_cast<int>(m.std.size()) != m.channels)
    throw DataError(f + ": attributes mean and std need one value per channel (" + std::to_string(m.channels) + ")");
  for (double s : m.std)
    if (!(s > 0)) throw DataError(f + ": attribute std has a value <= 0");
  if (in.has_attr("/", "fit")) m.fit = in.attr_string("/", "fit");
  if (in.has_attr("/", "interp")) m.interp = in.attr_string("/", "interp");
  if (in.has_attr("/", "skipped")) m.skipped = in.attr_int("/", "skipped");
  return m;
}

PatchSet read_patches(const io::H5In& in) {
  in.expect_kind(kPatchesKind);
  const std::string& f = in.path();
  PatchSet p;
  auto& m = p.meta;
  m = read_patch_meta(in);
  const Size2 patch = m.grid.patch;
  Shape shape = in.shape("patches");
  const int64_t L = m.grid.num_patches(), D = int64_t{patch.h} * patch.w * m.channels;
  if (shape.size() != 3 || shape[1] != L || shape[2] != D)
    throw DataError(f + ": /patches is " + shape_str(shape) + ", the attributes say [N, " + std::to_string(L) + ", " +
                    std::to_string(D) + "]");
  // uint8 stays uint8; anything else is read as float32.
  hid_t ds = H5Dopen2(in.handle(), "patches", H5P_DEFAULT);
  bool is_u8 = false;
  if (ds >= 0) {
    hid_t t = H5Dget_type(ds);
    is_u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Tget_sign(t) == H5T_SGN_NONE;
    H5Tclose(t);
    H5Dclose(ds);
  }
  p.patches = in.read("patches", is_u8 ? DType::u8 : DType::f32, 3);
  const int64_t N = shape[0];
  p.positions = in.read("positions", DType::i32, 2);
  Tensor expect = grid_positions(m.grid);
  if (p.positions.shape() != expect.shape() ||
      !std::equal(expect.data<int32_t>(), expect.data<int32_t>() + expect.numel(), p.positions.data<int32_t>()))
    throw DataError(f + ": /positions does not match the row-major " + std::to_string(m.grid.rows) + "x" +
                    std::to_string(m.grid.cols) + " patch grid");
  if (in.has("labels")) {
    p.labels = in.read("labels", DType::i32, 1);
    if (p.labels.dim(0) != N)
      throw DataError(f + ": /labels has " + std::to_string(p.labels.dim(0)) + " entries for " + std::to_string(N) +
                      " images");
    if (in.has_attr("/", "class_names")) m.class_names = in.attr_strings("/", "class_names");
  }
  if (in.has("sources")) {
    p.sources = in.read_strings("sources");
    if (static_cast<int64_t>(p.sources.size()) != N)
      throw DataError(f + ": /sources has " + std::to_string(p.sources.size()) + " entries for " + std::to_string(N) +
                      " images");
  }
  return p;
}

cv::Mat image_of(const PatchSet& p, int64_t i) {
  QKV_CHECK(i >= 0 && i < p.size(), "image index");
  const auto& m = p.meta;
  const size_t per = static_cast<size_t>(p.patches.dim(1) * p.patches.dim(2));
  if (p.patches.dtype() == DType::u8) return assemble_image(p.patches.data<uint8_t>() + i * per, m.grid, m.channels);
  return assemble_image(p.patches.data<float>() + i * per, m.grid, m.channels, m.mean, m.std);
}

}  // namespace qkv::patchify
