#include "patchify/patchify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "core/error.h"
#include "core/progress.h"
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

// One run over a sample set: plan() decodes the first readable sample (which
// fixes channels, size and grid), run() decodes, fits and cuts the rest on
// opt.threads workers and hands the kept images' rows, in sample order, to a
// sink on the calling thread, batch by batch, while the workers go on
// decoding; finish() fills labels, sources and meta of the kept samples and
// notes the inputs for provenance.
class Run {
 public:
  // rows: n kept images' (n, L, D) values, contiguous; called in order.
  using Sink = std::function<void(const uint8_t* rows, int64_t n)>;

  Run(const SampleSet& set, const Options& opt) : set_(set), opt_(opt) { plan(); }
  int64_t rows_per_image_bytes() const { return row_bytes_; }
  int64_t L() const { return L_; }
  int64_t D() const { return D_; }
  int64_t size() const { return N_; }
  void run(int64_t batch, const Sink& sink);
  void finish(PatchSet& out);  // everything but out.patches

 private:
  void plan();
  void process(int64_t i, Decoded d, uint8_t* dst);
  const SampleSet& set_;
  const Options& opt_;
  int64_t N_ = 0, first_ = 0, L_ = 0, D_ = 0;
  size_t row_bytes_ = 0;
  bool hash_ = false;
  std::vector<std::string> digests_, bad_;  // per sample: sha256 for provenance, skip-bad message
  Decoded d0_;
  Size2 in0_;
  int channels_ = 0;
  Grid grid_;
  std::vector<double> mean_, std_;
  std::vector<float> lut_;
  std::unique_ptr<Progress> progress_;
};

void Run::plan() {
  validate(opt_);
  N_ = static_cast<int64_t>(set_.samples.size());
  QKV_CHECK(N_ > 0, "no samples");
  hash_ = io::provenance::enabled();
  digests_.assign(set_.samples.size(), "");
  bad_.assign(set_.samples.size(), "");
  for (; first_ < N_; ++first_) {
    try {
      d0_ = load(set_.samples[first_], hash_);
      digests_[first_] = d0_.sha256;
      break;
    } catch (const DataError& e) {
      if (!opt_.skip_bad) throw;
      spdlog::warn("{} (skipped)", e.what());
      bad_[first_] = e.what();
    }
  }
  if (first_ == N_) throw DataError("no input image could be read (" + std::to_string(N_) + " skipped)");
  const Sample& s0 = set_.samples[first_];
  channels_ = opt_.channels == Channels::gray ? 1 : opt_.channels == Channels::rgb ? 3 : d0_.image.channels();
  in0_ = {d0_.image.rows, d0_.image.cols};
  Size2 out_size = prepared_size(opt_, in0_);
  Size2 stride = opt_.effective_stride();
  grid_ = make_grid(out_size, opt_.patch, stride, !opt_.size.empty(), s0.source);
  normalization_values(opt_, channels_, mean_, std_);
  lut_ = make_lut(mean_, std_);
  L_ = grid_.num_patches();
  D_ = int64_t{opt_.patch.h} * opt_.patch.w * channels_;
  row_bytes_ = static_cast<size_t>(L_ * D_) * dtype_size(opt_.dtype);
  spdlog::info("{} {} sample(s) -> {}x{}x{} images, {} patches of {}x{}x{} each{}", N_, set_.kind, out_size.h,
               out_size.w, channels_, L_, opt_.patch.h, opt_.patch.w, channels_,
               stride != opt_.patch ? " (stride " + size_str(stride) + ")" : "");
}

// Fits and cuts one decoded image into dst, its (L, D) row.
void Run::process(int64_t i, Decoded d, uint8_t* dst) {
  const Sample& s = set_.samples[i];
  Size2 in{d.image.rows, d.image.cols};
  if (opt_.size.empty() && in != in0_)
    throw SizeMismatch(s.source + ": image is " + size_str(in) + " (HxW) but the first image, " +
                       set_.samples[first_].source + ", is " + size_str(in0_) +
                       ": give --size HxW (with --fit squash, crop or pad) to bring them to one size");
  cv::Mat img;
  try {
    img = prepare_image(d.image, opt_, channels_, /*keep_bgr=*/true);
  } catch (const cv::Exception& e) {
    throw DataError(s.source + ": " + e.msg);
  }
  const bool bgr = channels_ == 3;  // prepare_image kept OpenCV's order; extraction swaps to RGB
  if (opt_.dtype == DType::u8) extract_patches(img, grid_, dst, bgr);
  else extract_patches(img, grid_, lut_, reinterpret_cast<float*>(dst), bgr);
}

// Image i is cut straight into its row of batch i / B, in a ring of R batch
// buffers; a worker waits while its batch's buffer still holds one not yet
// handed to the sink. The calling thread hands batches over in order (bad
// rows squeezed out first), so decoding goes on while the sink writes, and
// memory stays R * B rows whatever the number of images.
void Run::run(int64_t B, const Sink& sink) {
  B = std::max<int64_t>(1, B);
  const int workers = std::max(1, std::min<int>(opt_.threads, static_cast<int>(std::min<int64_t>(N_, 256))));
  const int64_t nbatch = (N_ + B - 1) / B, R = std::min<int64_t>(nbatch, 2 * workers + 2);
  // Left uninitialised (every row is written before it is read) and reused:
  // a few MiB that stay in cache, no page faults after the first batches.
  std::vector<std::unique_ptr<uint8_t[]>> ring(static_cast<size_t>(R));
  for (auto& r : ring) r.reset(new uint8_t[static_cast<size_t>(B) * row_bytes_]);
  std::vector<int64_t> filled(static_cast<size_t>(R), 0);  // images of the slot's batch done
  int64_t handed = 0;                                       // batches given to the sink
  std::mutex mu;
  std::condition_variable slot_free, batch_done;
  std::atomic<int64_t> next{0};
  std::atomic<bool> abort{false};
  int64_t err_index = N_;
  std::string err_msg;
  bool err_usage = false;
  auto fail = [&](int64_t i, const std::string& msg, bool usage) {
    std::lock_guard<std::mutex> lock(mu);
    if (i < err_index) {
      err_index = i;
      err_msg = msg;
      err_usage = usage;
    }
    abort = true;
    batch_done.notify_all();
    slot_free.notify_all();
  };
  auto batch_size = [&](int64_t b) { return std::min(B, N_ - b * B); };

  auto work = [&] {
    for (;;) {
      if (abort) return;
      const int64_t i = next.fetch_add(1);
      if (i >= N_) return;
      const int64_t b = i / B;
      const size_t slot = static_cast<size_t>(b % R);
      {
        std::unique_lock<std::mutex> lock(mu);
        slot_free.wait(lock, [&] { return abort || b < handed + R; });
        if (abort) return;
      }
      uint8_t* dst = ring[slot].get() + static_cast<size_t>(i % B) * row_bytes_;
      try {
        if (i == first_) process(i, std::move(d0_), dst);
        else if (i > first_) {  // before first_: already known bad
          Decoded d = load(set_.samples[i], hash_);
          digests_[i] = d.sha256;
          process(i, std::move(d), dst);
        }
      } catch (const SizeMismatch& e) {
        fail(i, e.what(), false);
      } catch (const DataError& e) {
        if (!opt_.skip_bad) fail(i, e.what(), false);
        else bad_[i] = e.what();
      } catch (const UsageError& e) {
        fail(i, e.what(), true);
      } catch (const std::bad_alloc&) {
        fail(i, set_.samples[i].source + ": out of memory", false);
      } catch (const std::exception& e) {
        fail(i, set_.samples[i].source + ": " + e.what(), false);
      }
      std::lock_guard<std::mutex> lock(mu);
      if (++filled[slot] == batch_size(b)) batch_done.notify_all();
    }
  };

  CvThreadsGuard cv_guard(workers);
  progress_ = std::make_unique<Progress>("patchify", N_, "img");
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) pool.emplace_back(work);
  std::exception_ptr sink_error;
  for (int64_t b = 0; b < nbatch; ++b) {
    const size_t slot = static_cast<size_t>(b % R);
    {
      std::unique_lock<std::mutex> lock(mu);
      batch_done.wait(lock, [&] { return abort || filled[slot] == batch_size(b); });
      if (abort) break;
    }
    // Squeeze out the bad rows (rare: --skip-bad), keeping order.
    uint8_t* base = ring[slot].get();
    int64_t kept = 0;
    for (int64_t k = 0; k < batch_size(b); ++k) {
      if (!bad_[static_cast<size_t>(b * B + k)].empty()) continue;
      if (kept != k) std::memmove(base + kept * row_bytes_, base + k * row_bytes_, row_bytes_);
      ++kept;
    }
    try {
      if (kept) sink(base, kept);
    } catch (...) {
      sink_error = std::current_exception();
      fail(-1, "", false);
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      filled[slot] = 0;
      handed = b + 1;
    }
    slot_free.notify_all();
    if (opt_.progress) progress_->update(std::min(N_, (b + 1) * B));
  }
  for (auto& t : pool) t.join();
  if (sink_error) std::rethrow_exception(sink_error);
  if (abort) {
    if (err_usage) throw UsageError(err_msg);
    throw DataError(err_msg);
  }
}

void Run::finish(PatchSet& out) {
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < N_; ++i) {
    if (bad_[i].empty()) keep.push_back(i);
    else {
      if (i > first_) spdlog::warn("{} (skipped)", bad_[i]);
      out.meta.skipped_sources.push_back(set_.samples[i].source);
    }
  }
  out.meta.skipped = N_ - static_cast<int64_t>(keep.size());
  if (out.meta.skipped) spdlog::warn("{} of {} input(s) skipped as unreadable (--skip-bad)", out.meta.skipped, N_);
  const int64_t M = static_cast<int64_t>(keep.size());
  if (set_.labelled) {
    out.labels = Tensor({M}, DType::i32);  // (N,)
    for (int64_t k = 0; k < M; ++k) out.labels.data<int32_t>()[k] = set_.samples[keep[k]].label;
    out.meta.class_names = set_.class_names;
  }
  for (int64_t k = 0; k < M; ++k) out.sources.push_back(set_.samples[keep[k]].source);
  out.positions = grid_positions(grid_);
  out.meta.grid = grid_;
  out.meta.channels = channels_;
  out.meta.normalize = normalize_name(opt_.normalize);
  out.meta.mean = mean_;
  out.meta.std = std_;
  out.meta.fit = opt_.size.empty() && opt_.fit != Fit::pad ? "none" : fit_name(opt_.fit);
  out.meta.interp = interp_name(opt_.interp);
  if (opt_.progress && progress_) progress_->finish("(" + std::to_string(M) + " images)");

  // Provenance: directly given files one by one; a folder or list as one input
  // digested by its sha256sum-style listing.
  if (hash_) {
    for (const auto& g : set_.groups) {
      std::vector<std::string> rel, sha;
      for (size_t i = g.first; i < g.first + g.count; ++i) {
        rel.push_back(rel_to(set_.samples[i].path, g.base));
        sha.push_back(digests_[i].empty() ? std::string(64, '-') : digests_[i]);
      }
      io::provenance::note_input(g.name, tree_digest(rel, sha));
    }
    if (set_.groups.empty())
      for (int64_t i = 0; i < N_; ++i)
        if (!set_.samples[i].path.empty() && !digests_[i].empty())
          io::provenance::note_input(set_.samples[i].path, digests_[i]);
  }
}

// Rows of about 1 MiB a batch (and a chunk of the streamed /patches): small
// enough that the ring stays in cache, large enough for one write() a batch.
int64_t batch_rows(size_t row_bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>((size_t{1} << 20) / std::max<size_t>(1, row_bytes)));
}

// Everything of a patches file but /patches itself.
template <class Out>
void write_rest(Out& out, const PatchSet& p) {
  const auto& m = p.meta;
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

}  // namespace

PatchSet patchify(const SampleSet& set, const Options& opt) {
  Run run(set, opt);
  const int64_t N = run.size(), L = run.L(), D = run.D();
  // The whole output is held in memory: refuse up front what cannot fit
  // rather than die half way (patchify_to streams instead).
  const double need = static_cast<double>(N) * L * D * dtype_size(opt.dtype);
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  if (ram > 0 && 2 * need > ram) {
    char gb[64];
    std::snprintf(gb, sizeof gb, "%.1f GB, too much for this machine's %.1f GB", need / 1e9, ram / 1e9);
    throw DataError(set.samples.front().source + ": the output would hold " + std::to_string(N) + " images x " +
                    std::to_string(L) + " patches x " + std::to_string(D) + " values = " + gb +
                    " of memory: use --limit, a larger --stride or --patch, a smaller --size or --dtype uint8");
  }
  PatchSet out;
  out.patches = Tensor({N, L, D}, opt.dtype);  // (N, L, D)
  const size_t row_bytes = run.rows_per_image_bytes();
  int64_t at = 0;
  run.run(batch_rows(row_bytes), [&](const uint8_t* rows, int64_t n) {
    std::memcpy(static_cast<uint8_t*>(out.patches.raw()) + static_cast<size_t>(at) * row_bytes, rows,
                static_cast<size_t>(n) * row_bytes);
    at += n;
  });
  if (at < N) out.patches = out.patches.slice(0, at).clone();
  run.finish(out);
  return out;
}

PatchSet patchify_to(const SampleSet& set, const Options& opt, io::H5StreamOut& out, int compress,
                     int preview_count) {
  Run run(set, opt);
  const int64_t N = run.size(), L = run.L(), D = run.D();
  const size_t row_bytes = run.rows_per_image_bytes();
  const int64_t B = batch_rows(row_bytes);
  const int col = out.add_array("patches", opt.dtype, {L, D}, static_cast<size_t>(B), compress);
  // The preview's images, spread over the set as preview_sheet spreads them.
  const int64_t n_prev = std::min<int64_t>(std::max(0, preview_count), N);
  std::vector<int64_t> want;
  for (int64_t k = 0; k < n_prev; ++k) want.push_back(preview_pick(N, n_prev, k));
  PatchSet kept;
  std::vector<uint8_t> prev_rows;
  int64_t at = 0;
  size_t w = 0;
  run.run(B, [&](const uint8_t* rows, int64_t n) {
    out.append(col, rows, static_cast<size_t>(n));
    for (; w < want.size() && want[w] < at + n; ++w) {
      const uint8_t* r = rows + static_cast<size_t>(want[w] - at) * row_bytes;
      prev_rows.insert(prev_rows.end(), r, r + row_bytes);
      kept.index.push_back(want[w]);
    }
    at += n;
  });
  run.finish(kept);
  write_rest(out, kept);
  kept.patches = Tensor({static_cast<int64_t>(kept.index.size()), L, D}, opt.dtype);  // (n_prev, L, D)
  if (!prev_rows.empty()) std::memcpy(kept.patches.raw(), prev_rows.data(), prev_rows.size());
  return kept;
}

void write_patches(io::H5Out& out, const PatchSet& p, int compress) {
  out.write("patches", p.patches, compress);
  write_rest(out, p);
}

PatchSet read_patches(const io::H5In& in) {
  formats::PatchesReader r(in);
  if (!r.has_meta()) throw DataError(in.path() + ": missing attribute image_height (the geometry qkv-patchify writes)");
  PatchSet p;
  p.meta = r.meta();
  p.patches = r.read_stored(0, r.size());  // (N, L, D)
  p.positions = grid_positions(p.meta.grid);
  if (r.labelled()) p.labels = Tensor::from(r.labels(), {r.size()});
  p.sources = r.sources();
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
