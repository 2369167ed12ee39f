// IDX files (MNIST format), plain and gzip, with untrusted headers; and the
// real data sets in one command each (skipped when absent).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <sstream>

#include "core/error.h"
#include "io/h5.h"
#include "patchify/idx.h"
#include "patchify/patchify.h"
#include "support/test_support.h"

namespace pf = qkv::patchify;
using qkv::test::run;
using qkv::test::TempDir;

namespace {

std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
}

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = std::string("\0\0\x08", 3) + static_cast<char>(dims.size());
  for (uint32_t d : dims) s += be32(d);
  return s + payload;
}

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7) & 0xff);
  return s;
}

void gzip(const std::string& path) { ASSERT_EQ(run("gzip -f " + path).exit_code, 0); }

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST(PatchifyIdx, ReadsPlainAndGzipAndFindsTheLabels) {
  TempDir d;
  std::string px = pattern(5 * 4 * 6, 1);
  qkv::test::write_file(d.file("toy-images-idx3-ubyte"), idx_bytes({5, 4, 6}, px));
  qkv::test::write_file(d.file("toy-labels-idx1-ubyte"), idx_bytes({5}, std::string("\3\1\4\1\5", 5)));
  pf::IdxArray a = pf::read_idx(d.file("toy-images-idx3-ubyte"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{5, 4, 6}));
  EXPECT_EQ(std::string(a.data.begin(), a.data.end()), px);
  EXPECT_EQ(pf::matching_idx_labels(d.file("toy-images-idx3-ubyte")), d.file("toy-labels-idx1-ubyte"));
  gzip(d.file("toy-images-idx3-ubyte"));
  gzip(d.file("toy-labels-idx1-ubyte"));
  pf::IdxArray g = pf::read_idx(d.file("toy-images-idx3-ubyte.gz"));
  EXPECT_EQ(std::string(g.data.begin(), g.data.end()), px);
  EXPECT_EQ(pf::matching_idx_labels(d.file("toy-images-idx3-ubyte.gz")), d.file("toy-labels-idx1-ubyte.gz"));
  EXPECT_TRUE(pf::looks_like_idx("t10k-images.idx3-ubyte"));
  EXPECT_FALSE(pf::looks_like_idx("photo.png"));

  auto r = run("qkv-patchify " + d.file("toy-images-idx3-ubyte.gz") + " --patch 2x3 --dtype uint8 -o " +
               d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("o.h5"));
  pf::PatchSet p = pf::read_patches(in);
  ASSERT_EQ(p.patches.shape(), (qkv::Shape{5, 4, 6}));
  EXPECT_EQ(std::vector<int32_t>(p.labels.data<int32_t>(), p.labels.data<int32_t>() + 5),
            (std::vector<int32_t>{3, 1, 4, 1, 5}));
  EXPECT_EQ(in.attr_int("/", "num_classes"), 6);
  // Image 2, patch (1, 1) = rows 2-3, columns 3-5.
  const uint8_t* patch = p.patches.data<uint8_t>() + (2 * 4 + 3) * 6;
  for (int r2 = 0; r2 < 2; ++r2)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(patch[r2 * 3 + c], static_cast<uint8_t>(px[2 * 24 + (2 + r2) * 6 + 3 + c]));
  EXPECT_EQ(p.sources[2], d.file("toy-images-idx3-ubyte.gz") + "[2]");
}

TEST(PatchifyIdx, UntrustedHeadersAreCheckedBeforeAllocating) {
  TempDir d;
  // Claims 4 billion images of 65535x65535: must be one clear error, not an allocation.
  std::string liar = idx_bytes({0xffffffffu, 0xffff, 0xffff}, pattern(100, 2));
  for (bool gz : {false, true}) {
    std::string f = d.file("liar-images-idx3-ubyte");
    qkv::test::write_file(f, liar);
    if (gz) {
      gzip(f);
      f += ".gz";
    }
    try {
      pf::read_idx(f);
      FAIL() << f;
    } catch (const qkv::DataError& e) {
      EXPECT_TRUE(contains(e.what(), "liar-images-idx3-ubyte")) << e.what();
    }
  }
  // Claims fewer values than the file holds, or more.
  qkv::test::write_file(d.file("a-idx3-ubyte"), idx_bytes({2, 2, 2}, pattern(9, 1)));
  EXPECT_THROW(pf::read_idx(d.file("a-idx3-ubyte")), qkv::DataError);
  qkv::test::write_file(d.file("b-idx3-ubyte"), idx_bytes({2, 2, 2}, pattern(7, 1)));
  gzip(d.file("b-idx3-ubyte"));
  try {
    pf::read_idx(d.file("b-idx3-ubyte.gz"));
    FAIL();
  } catch (const qkv::DataError& e) {
    EXPECT_TRUE(contains(e.what(), "header says 2x2x2 = 8 values, the decompressed file holds 7")) << e.what();
  }
  // Bad magic, unsupported type, truncated gzip.
  qkv::test::write_file(d.file("c-idx3-ubyte"), "\x01\x02\x08\x03" + be32(1) + be32(1) + be32(1) + "x");
  EXPECT_THROW(pf::read_idx(d.file("c-idx3-ubyte")), qkv::DataError);
  qkv::test::write_file(d.file("e-idx3-ubyte"), std::string("\0\0\x0d\x01", 4) + be32(1) + "abcd");
  try {
    pf::read_idx(d.file("e-idx3-ubyte"));
    FAIL();
  } catch (const qkv::DataError& e) {
    EXPECT_TRUE(contains(e.what(), "0x0d is not supported")) << e.what();
  }
  qkv::test::write_file(d.file("t-idx3-ubyte"), idx_bytes({50, 20, 20}, pattern(20000, 3)));
  gzip(d.file("t-idx3-ubyte"));
  std::string gzb = qkv::test::read_file(d.file("t-idx3-ubyte.gz"));
  qkv::test::write_file(d.file("t-idx3-ubyte.gz"), gzb.substr(0, gzb.size() / 2));
  EXPECT_THROW(pf::read_idx(d.file("t-idx3-ubyte.gz")), qkv::DataError);

  // Through the tool: label count mismatch names the labels file; nothing written.
  qkv::test::write_file(d.file("m-images-idx3-ubyte"), idx_bytes({3, 2, 2}, pattern(12, 1)));
  qkv::test::write_file(d.file("m-labels-idx1-ubyte"), idx_bytes({2}, "\1\2"));
  auto r = run("qkv-patchify " + d.file("m-images-idx3-ubyte") + " --patch 2 -o " + d.file("o.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "m-labels-idx1-ubyte: 2 labels for 3 images")) << r.err;
  EXPECT_FALSE(qkv::test::exists(d.file("o.h5")));
}

TEST(PatchifyIdx, FashionMnistTrainAndTestInOneCommandEach) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!qkv::test::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " absent (Debian package dataset-fashion-mnist)";
  TempDir d;
  for (auto [name, n] : {std::pair<std::string, int64_t>{"train", 60000}, {"t10k", 10000}}) {
    std::string img = dir + "/" + name + "-images-idx3-ubyte.gz";
    auto r = run("qkv-patchify " + img + " --patch 7 --dtype uint8 -q -o " + d.file(name + ".h5"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    qkv::io::H5In in(d.file(name + ".h5"));
    pf::PatchSet p = pf::read_patches(in);
    EXPECT_EQ(p.patches.shape(), (qkv::Shape{n, 16, 49}));
    ASSERT_TRUE(p.labelled());
    EXPECT_EQ(in.attr_int("/", "num_classes"), 10);
    // Each class 6000 / 1000 times; the last image equals the raw decompressed bytes.
    std::vector<int64_t> count(10, 0);
    for (int64_t i = 0; i < n; ++i) ++count[p.labels.data<int32_t>()[i]];
    for (int64_t c : count) EXPECT_EQ(c, n / 10);
    auto raw = run("gzip -dc " + img + " | tail -c 784 | od -An -v -tu1");
    ASSERT_EQ(raw.exit_code, 0);
    cv::Mat last = pf::image_of(p, n - 1);
    std::istringstream vals(raw.out);
    for (int k = 0; k < 784; ++k) {
      int v;
      vals >> v;
      ASSERT_EQ(last.data[k], v) << k;
    }
  }
}

TEST(PatchifyIdx, MnistTestSetFromSharedData) {
  std::string img = qkv::test::shared_data("mnist/t10k-images-idx3-ubyte.gz");
  if (img.empty()) GTEST_SKIP() << "../shared/data/mnist/t10k-images-idx3-ubyte.gz absent";
  TempDir d;
  auto r = run("qkv-patchify " + img + " --patch 14 -q -o " + d.file("m.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("m.h5"));
  pf::PatchSet p = pf::read_patches(in);
  EXPECT_EQ(p.patches.shape(), (qkv::Shape{10000, 4, 196}));
  EXPECT_EQ(p.labels.data<int32_t>()[0], 7);  // the first MNIST test digit is a 7
  EXPECT_EQ(p.labels.data<int32_t>()[1], 2);
  EXPECT_FLOAT_EQ(p.patches.data<float>()[0], 0.f);
}

TEST(PatchifyIdx, OpenCvDigitsSheetGives5000LabelledSamples) {
  std::string png = qkv::test::source_path("data/digits.png");
  if (!qkv::test::exists(png)) GTEST_SKIP() << png << " absent: run scripts/data/get-digits.sh";
  TempDir d;
  auto r = run("qkv-patchify " + png + " --grid 50x100 --grid-labels rows:5 --patch 10 --dtype uint8 -o " +
               d.file("d.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("d.h5"));
  pf::PatchSet p = pf::read_patches(in);
  EXPECT_EQ(p.patches.shape(), (qkv::Shape{5000, 4, 100}));
  std::vector<int64_t> count(10, 0);
  for (int64_t i = 0; i < 5000; ++i) {
    int32_t l = p.labels.data<int32_t>()[i];
    ASSERT_EQ(l, i / 500) << i;  // 5 rows of 100 cells per digit
    ++count[l];
  }
  // Cell 0 equals the sheet's top-left 20x20 pixels.
  cv::Mat sheet = cv::imread(png, cv::IMREAD_GRAYSCALE);
  cv::Mat cell0 = pf::image_of(p, 0);
  EXPECT_EQ(cv::norm(cell0, sheet(cv::Rect(0, 0, 20, 20)), cv::NORM_INF), 0);
  cv::Mat cell_last = pf::image_of(p, 4999);
  EXPECT_EQ(cv::norm(cell_last, sheet(cv::Rect(1980, 980, 20, 20)), cv::NORM_INF), 0);
}
