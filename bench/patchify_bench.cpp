// qkv-patchify's pipeline against OpenCV alone, over the same image files,
// threads and flags, in one run:
//   decode:   read file + cv::imdecode (+ cv::resize when --size), nothing kept
//   patchify: collect + read + decode (+ resize) + cut + normalize, streamed
//             into the HDF5 file as qkv-patchify does (temp file + rename;
//             no fsync unless QKV_BENCH_DURABLE=1)
// Prints images/s of each and the overhead ratio patchify/decode - 1
// (target: at most 25%). Each is run `reps` times after one warm-up pass
// (page cache), best time kept.
//
//   patchify_bench DIR [--size N] [--patch P] [--dtype float32|uint8] [--threads T] [--reps R] [--out FILE]
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "io/file_io.h"
#include "io/h5.h"
#include "io/provenance.h"
#include "patchify/patchify.h"

namespace pf = qkv::patchify;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// OpenCV alone: the same files, flags, interpolation and thread count as qkv-patchify.
void bare_decode(const pf::SampleSet& set, const pf::Options& o, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<int64_t> pixels{0};
  int saved = cv::getNumThreads();
  if (threads > 1) cv::setNumThreads(1);
  auto work = [&] {
    for (size_t i; (i = next++) < set.samples.size();) {
      auto bytes = qkv::io::read_all(set.samples[i].path);
      cv::Mat m = cv::imdecode(bytes, pf::decode_flags());
      if (m.empty()) {
        std::fprintf(stderr, "%s: cannot decode\n", set.samples[i].path.c_str());
        std::exit(1);
      }
      if (!o.size.empty() && (m.rows != o.size.h || m.cols != o.size.w)) {
        cv::Mat r;
        int interp = o.interp == pf::Interp::bilinear ? cv::INTER_LINEAR
                     : o.interp == pf::Interp::bicubic ? cv::INTER_CUBIC
                     : (o.size.h <= m.rows && o.size.w <= m.cols) ? cv::INTER_AREA
                                                                  : cv::INTER_LINEAR;
        cv::resize(m, r, cv::Size(o.size.w, o.size.h), 0, 0, interp);
        m = r;
      }
      pixels += m.rows * m.cols;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  cv::setNumThreads(saved);
  if (pixels.load() == 0) std::exit(1);
}

// Seconds spent in each stage of the best full run.
struct Stages {
  double collect = 0, patchify = 0, commit = 0;
};

// As qkv-patchify does it: rows streamed to the file while decoding goes on;
// no fsync (QKV_BENCH_DURABLE=1: with one, to see its cost).
void full(const std::string& dir, const pf::Options& o, const std::string& out, Stages& st) {
  double t0 = now();
  pf::SampleSet set = pf::collect_samples({dir}, pf::SourceOptions{});
  double t1 = now();
  qkv::io::H5StreamOut h5(out, pf::kPatchesKind);
  h5.set_durable(std::getenv("QKV_BENCH_DURABLE") != nullptr);
  pf::patchify_to(set, o, h5);
  double t2 = now();
  h5.commit();
  double t3 = now();
  st = {t1 - t0, t2 - t1, t3 - t2};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--size N] [--patch P] [--dtype float32|uint8] [--threads T] [--reps R] "
                         "[--out FILE]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1], out = "/tmp/qkv-patchify-bench.h5";
  pf::Options o;
  o.progress = false;
  o.patch = {8, 8};
  int reps = 3;
  o.threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--size") o.size = pf::parse_size(v, k);
    else if (k == "--patch") o.patch = pf::parse_size(v, k);
    else if (k == "--dtype") o.dtype = pf::parse_dtype(v);
    else if (k == "--threads") o.threads = std::atoi(v.c_str());
    else if (k == "--reps") reps = std::atoi(v.c_str());
    else if (k == "--out") out = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.dtype == qkv::DType::u8) o.normalize = pf::Normalize::none;
  spdlog::set_level(spdlog::level::warn);
  qkv::io::provenance::begin_run("patchify_bench", argc, argv);  // hashing on, as in a default qkv-patchify run
  if (std::getenv("QKV_BENCH_NO_PROVENANCE")) qkv::io::provenance::set_enabled(false);
  try {
    pf::SampleSet set = pf::collect_samples({dir}, pf::SourceOptions{});
    const double n = static_cast<double>(set.samples.size());
    bare_decode(set, o, o.threads);  // warm the page cache
    double t_dec = 1e30, t_full = 1e30;
    Stages best, st;
    for (int r = 0; r < reps; ++r) {  // interleaved, so drift on a shared machine hits both
      double t0 = now();
      bare_decode(set, o, o.threads);
      double t1 = now();
      full(dir, o, out, st);
      double t2 = now();
      t_dec = std::min(t_dec, t1 - t0);
      if (t2 - t1 < t_full) best = st;
      t_full = std::min(t_full, t2 - t1);
    }
    long long bytes = qkv::io::file_size(out);
    std::remove(out.c_str());
    std::printf("%-44s %6.0f images  %s, %d threads\n", dir.c_str(), n,
                o.size.empty() ? "no resize" : ("resize to " + pf::size_str(o.size)).c_str(), o.threads);
    std::printf("  opencv decode%s        %8.3f s  %9.0f images/s\n", o.size.empty() ? "         " : " + resize",
                t_dec, n / t_dec);
    std::printf("  qkv-patchify (to %s) %8.3f s  %9.0f images/s  %.0f MB written\n", qkv::dtype_name(o.dtype), t_full,
                n / t_full, bytes / 1e6);
    std::printf("    stages: list files %.3f s, decode+patch+write %.3f s, commit%s %.3f s\n", best.collect,
                best.patchify, std::getenv("QKV_BENCH_DURABLE") ? " (fsync)" : "", best.commit);
    std::printf("  overhead of patching + writing: %+.1f%% (target <= +25%%)\n", 100 * (t_full / t_dec - 1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchify_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
