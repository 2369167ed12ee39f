// qkv-patchify's pipeline against OpenCV alone, over the same image files,
// threads and flags, in one run:
//   decode:   read file + cv::imdecode (+ cv::resize when --size), nothing kept
//   patchify: collect + read + decode (+ resize) + cut + normalize, streamed
//             into the HDF5 file as qkv-patchify does (temp file + rename;
//             no fsync unless QKV_BENCH_DURABLE=1)
//   decode + write: the decode above while one more thread write()s as many
//             bytes as patchify wrote, 1 MiB at a time from a small buffer,
//             into a file beside the output (then removed): the floor of any
//             tool that decodes these images and stores that many bytes
// Prints images/s of each, the overhead ratio patchify/decode - 1 (target:
// at most 25%) and how much of it the bare write of the same bytes takes.
// (On a VM the kernel's copy into the page cache is slow when the guest's
// free memory has been handed back to the host, as after any pause of a
// second or more: here 0.6-1 GB/s instead of 6. Both patchify and
// decode + write are run in that state: after a decode pass or a 2 s pause.)
// Each runs `reps` times (at least 8 when a decode pass takes under 0.5 s),
// interleaved, after one warm-up pass (page cache); best time of each kept.
//
//   patchify_bench DIR [--size N] [--fit F] [--interp I] [--patch P] [--dtype float32|uint8]
//                  [--normalize N] [--threads T] [--reps R] [--out FILE]
//
// It also makes the photo set it is run on: COUNT ImageNet-like images cut
// from a few large photos (random crops of 20-100% of the area, aspect ratio
// 3:4 to 4:3, random flip, longer side 300-500 px), into an ImageFolder tree
// OUT/<photo name>/NNNNN.<format> (JPEG quality 90 or PNG). Deterministic:
// the same photos and seed give the same files.
//
//   patchify_bench make-crops PHOTO... --out DIR --count N --format jpg|png [--seed S]
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "io/provenance.h"
#include "patchify/patchify.h"

namespace pf = qkv::patchify;
using qkv::now_s;

namespace {

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
      // prepare_image keeping OpenCV's BGR order is cv::resize (+ a ROI for
      // --fit crop, cv::copyMakeBorder for pad) with the tool's interpolation.
      if (!o.size.empty()) m = pf::prepare_image(m, o, m.channels(), /*keep_bgr=*/true);
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

// write() of `bytes` bytes into a new file at path, then removed; no fsync, as in full().
void bare_write(const std::string& path, long long bytes) {
  static std::vector<char> buf = [] {
    std::vector<char> b(size_t{6} << 20);  // about the size of patchify's ring of batches
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i * 131 + (i >> 12));
    return b;
  }();
  const size_t piece = size_t{1} << 20;
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  for (long long done = 0, k = 0; done < bytes; ++k) {
    const size_t n = static_cast<size_t>(std::min<long long>(piece, bytes - done));
    if (::write(fd, buf.data() + (k % 6) * piece, n) != static_cast<ssize_t>(n)) {
      std::perror(path.c_str());
      std::exit(1);
    }
    done += static_cast<long long>(n);
  }
  ::close(fd);
  ::unlink(path.c_str());
}

// Seconds spent in each stage of the best full run.
struct Stages {
  double collect = 0, patchify = 0, commit = 0;
};

// As qkv-patchify does it: rows streamed to the file while decoding goes on;
// no fsync (QKV_BENCH_DURABLE=1: with one, to see its cost).
void full(const std::string& dir, const pf::Options& o, const std::string& out, Stages& st) {
  double t0 = now_s();
  pf::SampleSet set = pf::collect_samples({dir}, pf::SourceOptions{});
  double t1 = now_s();
  qkv::io::H5StreamOut h5(out, pf::kPatchesKind);
  h5.set_durable(std::getenv("QKV_BENCH_DURABLE") != nullptr);
  pf::patchify_to(set, o, h5);
  double t2 = now_s();
  h5.commit();
  double t3 = now_s();
  st = {t1 - t0, t2 - t1, t3 - t2};
}

// Uniform in [0, 1) from the raw 32-bit draws, so the set is the same with any standard library.
double uniform(std::mt19937& rng) { return rng() / 4294967296.0; }

int make_crops(int argc, char** argv) {
  std::vector<std::string> photos;
  std::string out, format = "jpg";
  int64_t count = 0;
  uint32_t seed = 1;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) photos.push_back(k);
    else if (i + 1 >= argc) return std::fprintf(stderr, "%s needs a value\n", k.c_str()), 2;
    else if (k == "--out") out = argv[++i];
    else if (k == "--count") count = std::atoll(argv[++i]);
    else if (k == "--format") format = argv[++i];
    else if (k == "--seed") seed = static_cast<uint32_t>(std::atoll(argv[++i]));
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  if (photos.empty() || out.empty() || count <= 0 || (format != "jpg" && format != "png")) {
    std::fprintf(stderr, "usage: patchify_bench make-crops PHOTO... --out DIR --count N --format jpg|png [--seed S]\n");
    return 2;
  }
  std::vector<cv::Mat> images;
  std::vector<std::string> names;
  for (const auto& p : photos) {
    cv::Mat m = cv::imread(p, cv::IMREAD_COLOR);
    if (m.empty()) return std::fprintf(stderr, "%s: cannot read\n", p.c_str()), 1;
    images.push_back(m);
    names.push_back(std::filesystem::path(p).stem().string());
  }
  for (const auto& n : names) std::filesystem::create_directories(out + "/" + n);
  const std::vector<int> params = format == "jpg" ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, 90} : std::vector<int>{};
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const size_t k = static_cast<size_t>(rng() % images.size());
    const cv::Mat& src = images[k];
    // torchvision RandomResizedCrop's sampling: area fraction, then log-uniform aspect ratio.
    cv::Rect r(0, 0, src.cols, src.rows);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = src.rows * src.cols * (0.2 + 0.8 * uniform(rng));
      const double ratio = std::exp(std::log(3.0 / 4) + (std::log(4.0 / 3) - std::log(3.0 / 4)) * uniform(rng));
      const int w = static_cast<int>(std::lround(std::sqrt(area * ratio)));
      const int h = static_cast<int>(std::lround(std::sqrt(area / ratio)));
      if (w < 1 || h < 1 || w > src.cols || h > src.rows) continue;
      r = cv::Rect(static_cast<int>(uniform(rng) * (src.cols - w + 1)), static_cast<int>(uniform(rng) * (src.rows - h + 1)),
                   w, h);
      break;
    }
    const double longer = 300 + 200 * uniform(rng);
    const double s = longer / std::max(r.width, r.height);
    cv::Size to(std::max(1, static_cast<int>(std::lround(r.width * s))), std::max(1, static_cast<int>(std::lround(r.height * s))));
    cv::Mat img;
    cv::resize(src(r), img, to, 0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    if (rng() & 1) cv::flip(img, img, 1);
    char file[32];
    std::snprintf(file, sizeof file, "/%05lld.", static_cast<long long>(i));
    const std::string path = out + "/" + names[k] + file + format;
    if (!cv::imwrite(path, img, params)) return std::fprintf(stderr, "%s: cannot write\n", path.c_str()), 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "make-crops") return make_crops(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--size N] [--fit F] [--interp I] [--patch P] [--dtype float32|uint8] "
                         "[--normalize N] [--threads T] [--reps R] [--out FILE]\n", argv[0]);
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
    else if (k == "--fit") o.fit = pf::parse_fit(v);
    else if (k == "--interp") o.interp = pf::parse_interp(v);
    else if (k == "--normalize") o.normalize = pf::parse_normalize(v);
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
    double t_warm = now_s();
    bare_decode(set, o, o.threads);  // warm the page cache
    t_warm = now_s() - t_warm;
    if (t_warm < 0.5) reps = std::max(reps, 8);  // short runs are the noisiest on a shared machine
    double t_dec = 1e30, t_full = 1e30, t_write = 1e30;
    long long bytes = 0;
    Stages best, st;
    for (int r = 0; r < reps; ++r) {  // interleaved, so drift on a shared machine hits all
      double t0 = now_s();
      bare_decode(set, o, o.threads);
      double t1 = now_s();
      full(dir, o, out, st);
      double t2 = now_s();
      if (r == 0) bytes = qkv::io::file_size(out);
      std::remove(out.c_str());
      std::this_thread::sleep_for(std::chrono::seconds(2));  // its pages go cold again, as for full()
      double t4 = now_s();
      std::thread writer(bare_write, out + ".write-alone", bytes);
      bare_decode(set, o, o.threads);
      writer.join();
      double t5 = now_s();
      std::this_thread::sleep_for(std::chrono::seconds(2));
      t_dec = std::min(t_dec, t1 - t0);
      if (t2 - t1 < t_full) best = st;
      t_full = std::min(t_full, t2 - t1);
      t_write = std::min(t_write, t5 - t4);
    }
    std::remove(out.c_str());
    std::printf("%-44s %6.0f images  %s, %d threads\n", dir.c_str(), n,
                o.size.empty() ? "no resize" : ("--size " + pf::size_str(o.size) + " --fit " + pf::fit_name(o.fit)).c_str(),
                o.threads);
    std::printf("  opencv decode%s           %8.3f s  %9.0f images/s\n", o.size.empty() ? "         " : " + resize",
                t_dec, n / t_dec);
    std::printf("  qkv-patchify (to %-7s) %8.3f s  %9.0f images/s  %.0f MB written (--patch %s, --normalize %s)\n",
                qkv::dtype_name(o.dtype), t_full, n / t_full, bytes / 1e6, pf::size_str(o.patch).c_str(),
                pf::normalize_name(o.normalize));
    std::printf("    stages: list files %.3f s, decode+patch+write %.3f s, commit%s %.3f s\n", best.collect,
                best.patchify, std::getenv("QKV_BENCH_DURABLE") ? " (fsync)" : "", best.commit);
    std::printf("  opencv decode%s + write() %8.3f s  %9.0f images/s  same bytes, one more thread\n",
                o.size.empty() ? "         " : " + resize", t_write, n / t_write);
    std::printf("  overhead of patching + writing: %+.1f%% (target <= +25%%); the bare write of the same bytes "
                "alone: %+.1f%%, qkv-patchify over decode + write: %+.1f%%\n",
                100 * (t_full / t_dec - 1), 100 * (t_write / t_dec - 1), 100 * (t_full / t_write - 1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchify_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
