// qkv-patchify run as a user would: image files in every lossless format,
// folders, lists, grids, errors, pipes, unpatchify and preview.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <random>

#include "io/h5.h"
#include "patchify/patchify.h"
#include "support/patch_reference.h"
#include "support/test_support.h"

namespace pf = qkv::patchify;
using qkv::test::run;
using qkv::test::TempDir;

namespace {

// Random pixels in RGB order (what the patches must hold) and as OpenCV's BGR for imwrite.
struct Img {
  cv::Mat rgb, bgr;
};

Img random_img(int h, int w, int c, unsigned seed) {
  Img im;
  im.rgb = qkv::test::random_pixels(h, w, c, seed);
  if (c == 3) cv::cvtColor(im.rgb, im.bgr, cv::COLOR_RGB2BGR);
  else im.bgr = im.rgb;
  return im;
}

void save(const std::string& path, const cv::Mat& bgr) {
  std::vector<int> params;
  if (path.size() > 5 && path.substr(path.size() - 5) == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 101};
  ASSERT_TRUE(cv::imwrite(path, bgr, params)) << path;
}

std::vector<uint8_t> row_u8(const pf::PatchSet& p, int64_t i) {
  size_t per = static_cast<size_t>(p.patches.dim(1) * p.patches.dim(2));
  const uint8_t* d = p.patches.data<uint8_t>() + i * per;
  return std::vector<uint8_t>(d, d + per);
}

std::vector<int32_t> labels_of(const pf::PatchSet& p) {
  return std::vector<int32_t>(p.labels.data<int32_t>(), p.labels.data<int32_t>() + p.labels.numel());
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST(PatchifyTool, LosslessFormatsGiveExactPatchesGrayRgbOddSizesAndOverlap) {
  TempDir d;
  Img rgb = random_img(17, 23, 3, 1), gray = random_img(17, 23, 1, 2);
  for (std::string ext : {"png", "bmp", "ppm", "tiff", "webp"}) {
    std::string f = d.file("rgb." + ext);
    save(f, rgb.bgr);
    auto r = run("qkv-patchify " + f + " --patch 5x7 --stride 3x4 --dtype uint8 -o " + d.file("o.h5"));
    ASSERT_EQ(r.exit_code, 0) << ext << ": " << r.err;
    qkv::io::H5In in(d.file("o.h5"));
    pf::PatchSet p = pf::read_patches(in);
    ASSERT_EQ(p.size(), 1);
    EXPECT_EQ(p.patches.shape(), (qkv::Shape{1, 5 * 5, 5 * 7 * 3})) << ext;
    EXPECT_EQ(row_u8(p, 0), qkv::test::reference_patches(rgb.rgb, 5, 7, 3, 4)) << ext;
    EXPECT_EQ(in.attr_int("/", "stride_height"), 3);
    EXPECT_EQ(in.attr_int("/", "stride_width"), 4);
    EXPECT_EQ(in.attr_string("/", "normalize"), "none");
    EXPECT_FALSE(in.has("labels"));
  }
  for (std::string ext : {"png", "pgm", "tiff"}) {
    std::string f = d.file("gray." + ext);
    save(f, gray.bgr);
    auto r = run("qkv-patchify " + f + " --patch 5x7 --stride 3x4 --dtype uint8 -o " + d.file("g.h5"));
    ASSERT_EQ(r.exit_code, 0) << ext << ": " << r.err;
    qkv::io::H5In in(d.file("g.h5"));
    pf::PatchSet p = pf::read_patches(in);
    EXPECT_EQ(in.attr_int("/", "channels"), 1);
    EXPECT_EQ(row_u8(p, 0), qkv::test::reference_patches(gray.rgb, 5, 7, 3, 4)) << ext;
  }
  // Gray input, --channels rgb: each value three times.
  auto r = run("qkv-patchify " + d.file("gray.png") + " --patch 17x23 --channels rgb --dtype uint8 -o " +
               d.file("g3.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("g3.h5"));
  auto v = row_u8(pf::read_patches(in), 0);
  ASSERT_EQ(v.size(), 17u * 23 * 3);
  EXPECT_EQ(v[3 * 40 + 0], gray.rgb.at<uint8_t>(40 / 23, 40 % 23));
  EXPECT_EQ(v[3 * 40 + 2], gray.rgb.at<uint8_t>(40 / 23, 40 % 23));
}

TEST(PatchifyTool, FloatOutputIsNormalizedAndRecordsMeanStd) {
  TempDir d;
  Img im = random_img(8, 8, 3, 5);
  save(d.file("a.png"), im.bgr);
  auto r = run("qkv-patchify " + d.file("a.png") + " --patch 4 --normalize imagenet -o " + d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("o.h5"));
  EXPECT_EQ(in.attr_doubles("/", "mean"), (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(in.attr_doubles("/", "std"), (std::vector<double>{0.229, 0.224, 0.225}));
  pf::PatchSet p = pf::read_patches(in);
  ASSERT_EQ(p.patches.dtype(), qkv::DType::f32);
  auto ref = qkv::test::reference_patches(im.rgb, 4, 4, 4, 4);
  const double mean[] = {0.485, 0.456, 0.406}, stdv[] = {0.229, 0.224, 0.225};
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(p.patches.data<float>()[i], (ref[i] / 255.0 - mean[i % 3]) / stdv[i % 3], 1e-6) << i;
  EXPECT_EQ(p.positions.shape(), (qkv::Shape{4, 2}));
  EXPECT_EQ(p.positions.data<int32_t>()[2 * 3], 1);      // patch 3 = grid row 1
  EXPECT_EQ(p.positions.data<int32_t>()[2 * 3 + 1], 1);  // column 1
}

TEST(PatchifyTool, ImageFolderGivesSortedClassesAndLabels) {
  TempDir d;
  std::string root = d.file("train");
  for (std::string cls : {"zebra", "ant", "cat"}) {
    std::filesystem::create_directories(root + "/" + cls + "/sub");
    for (int k = 0; k < 2; ++k) save(root + "/" + cls + "/" + std::to_string(k) + ".png", random_img(8, 8, 3, k).bgr);
  }
  save(root + "/cat/sub/z.png", random_img(8, 8, 3, 9).bgr);  // found recursively
  qkv::test::write_file(root + "/cat/notes.txt", "not an image");
  auto r = run("qkv-patchify " + root + " --patch 4 --dtype uint8 -o " + d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("o.h5"));
  pf::PatchSet p = pf::read_patches(in);
  EXPECT_EQ(in.attr_strings("/", "class_names"), (std::vector<std::string>{"ant", "cat", "zebra"}));
  EXPECT_EQ(in.attr_int("/", "num_classes"), 3);
  EXPECT_EQ(labels_of(p), (std::vector<int32_t>{0, 0, 1, 1, 1, 2, 2}));
  EXPECT_EQ(p.sources[4], root + "/cat/sub/z.png");
  EXPECT_EQ(row_u8(p, 4), qkv::test::reference_patches(random_img(8, 8, 3, 9).rgb, 4, 4, 4, 4));
  EXPECT_EQ(p.sources.size(), 7u);
}

TEST(PatchifyTool, ListFileWithNamedAndNumericLabels) {
  TempDir d;
  std::filesystem::create_directories(d.file("imgs"));
  for (int k = 0; k < 3; ++k) save(d.file("imgs/" + std::to_string(k) + ".png"), random_img(6, 6, 1, k).bgr);
  save(d.file("imgs/with space.png"), random_img(6, 6, 1, 7).bgr);
  qkv::test::write_file(d.file("named.txt"),
                        "# path label\nimgs/2.png\tdog\nimgs/0.png cat\n\nimgs/with space.png\tcat\n");
  auto r = run("qkv-patchify " + d.file("named.txt") + " --patch 3 --dtype uint8 -o " + d.file("n.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("n.h5"));
  pf::PatchSet p = pf::read_patches(in);
  EXPECT_EQ(in.attr_strings("/", "class_names"), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(labels_of(p), (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(row_u8(p, 0), qkv::test::reference_patches(random_img(6, 6, 1, 2).rgb, 3, 3, 3, 3));

  qkv::test::write_file(d.file("num.csv"), "path,label\nimgs/1.png,4\nimgs/0.png,2\n");
  r = run("qkv-patchify " + d.file("num.csv") + " --patch 3 -o " + d.file("c.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in2(d.file("c.h5"));
  EXPECT_EQ(labels_of(pf::read_patches(in2)), (std::vector<int32_t>{4, 2}));
  EXPECT_EQ(in2.attr_int("/", "num_classes"), 5);

  qkv::test::write_file(d.file("mixed.txt"), "imgs/1.png 4\nimgs/0.png\n");
  r = run("qkv-patchify " + d.file("mixed.txt") + " --patch 3 -o " + d.file("m.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "mixed.txt:2: no label")) << r.err;
  EXPECT_FALSE(qkv::test::exists(d.file("m.h5")));
}

TEST(PatchifyTool, GridCutsASheetWithRowBlockLabels) {
  TempDir d;
  // A 6-row x 4-column sheet of 5x3 cells (height 30, width 12); labels per 2 rows.
  Img sheet = random_img(30, 12, 1, 3);
  save(d.file("sheet.png"), sheet.bgr);
  auto r = run("qkv-patchify " + d.file("sheet.png") +
               " --grid 6x4 --grid-labels rows:2 --patch 5x3 --dtype uint8 -o " + d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("o.h5"));
  pf::PatchSet p = pf::read_patches(in);
  ASSERT_EQ(p.size(), 24);
  EXPECT_EQ(in.attr_int("/", "num_classes"), 3);
  EXPECT_EQ(labels_of(p)[7], 0);   // row 1
  EXPECT_EQ(labels_of(p)[8], 1);   // row 2
  EXPECT_EQ(labels_of(p)[23], 2);  // row 5
  cv::Mat cell = sheet.rgb(cv::Rect(3 * 2, 5 * 3, 3, 5)).clone();  // row 3, col 2 = sample 14
  EXPECT_EQ(row_u8(p, 14), qkv::test::reference_patches(cell, 5, 3, 5, 3));
  EXPECT_TRUE(contains(p.sources[14], "[row=3,col=2]")) << p.sources[14];

  r = run("qkv-patchify " + d.file("sheet.png") + " --grid 7x4 --patch 5x3 -o " + d.file("bad.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "sheet.png")) << r.err;
}

// libpng and libjpeg print their complaints to stderr from inside OpenCV;
// qkv keeps them (patchify/codec_messages.h) for its own one line.
TEST(PatchifyTool, BrokenImagesGiveOneLineWithTheCodecsReason) {
  TempDir d;
  save(d.file("good.png"), random_img(8, 8, 3, 1).bgr);
  save(d.file("good.jpg"), random_img(16, 16, 3, 2).bgr);
  const std::string png = qkv::test::read_file(d.file("good.png")), jpg = qkv::test::read_file(d.file("good.jpg"));
  qkv::test::write_file(d.file("cut.png"), png.substr(0, png.size() / 2));
  std::string crc = png;
  crc[png.find("IDAT") + 6] ^= 0x40;  // a byte of the compressed data: the chunk's CRC no longer matches
  qkv::test::write_file(d.file("crc.png"), crc);
  std::string damaged = jpg;
  const size_t scan = jpg.find("\xff\xda");  // start of scan: entropy-coded data up to the end marker
  damaged[scan + (jpg.size() - scan) / 2] = 0;
  qkv::test::write_file(d.file("damaged.jpg"), damaged);
  const std::string out = d.file("o.h5");
  auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  for (auto [file, says] : {std::pair<const char*, const char*>{"cut.png", "(corrupt or truncated PNG: "},
                            {"crc.png", "(corrupt or truncated PNG: IDAT: CRC error)"}}) {
    auto r = run("qkv-patchify -q " + d.file(file) + " --patch 4 -o " + out);
    EXPECT_EQ(r.exit_code, 1) << file;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_TRUE(contains(r.err, std::string(file) + ": cannot decode image " + says)) << r.err;
    EXPECT_FALSE(contains(r.err, "libpng")) << r.err;
    EXPECT_FALSE(qkv::test::exists(out));
  }
  // A JPEG libjpeg repairs: decoded, with one warning line naming the file.
  auto r = run("qkv-patchify " + d.file("damaged.jpg") + " --patch 4 -o " + out + " 2>&1 >/dev/null | grep -v ': info: ' >&2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_TRUE(contains(r.err, "damaged.jpg: Corrupt JPEG data: ")) << r.err;
  EXPECT_TRUE(contains(r.err, " (decoded anyway)")) << r.err;
}

TEST(PatchifyTool, BadInputsAreClearErrorsAndWriteNothing) {
  TempDir d;
  save(d.file("good.png"), random_img(8, 8, 3, 1).bgr);
  std::string png = qkv::test::read_file(d.file("good.png"));
  qkv::test::write_file(d.file("corrupt.png"), png.substr(0, png.size() / 3));
  qkv::test::write_file(d.file("text.jpg"), "this is not a jpeg");
  std::string out = d.file("o.h5");

  auto r = run("qkv-patchify " + d.file("good.png") + " " + d.file("corrupt.png") + " --patch 4 -o " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "corrupt.png: cannot decode image")) << r.err;
  EXPECT_FALSE(qkv::test::exists(out));

  // "DICM" at byte 128 (found by fuzz/image_fuzz): Debian's OpenCV hands such bytes to GDCM, whose
  // reader aborts on this file. Formats qkv does not name never reach OpenCV.
  qkv::test::run("gunzip -c " + qkv::test::source_path("tests/data/fuzz/image-gdcm-assert.png.gz") + " > " +
                 d.file("scan.png"));
  r = run("qkv-patchify " + d.file("scan.png") + " --patch 4 -o " + out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "scan.png: cannot decode image: not a format qkv reads (PNG, JPEG")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(qkv::test::exists(out));

  // 132 bytes of JPEG claiming 30255x12545 (found by fuzz/image_fuzz: OpenCV allocated and decoded all of it,
  // 8.5 s and 530 MB); and a PNG whose header claims 20000x20000.
  qkv::test::run("gunzip -c " + qkv::test::source_path("tests/data/fuzz/image-jpeg-30255x12545.jpg.gz") + " > " +
                 d.file("huge.jpg"));
  std::string huge_png = png;
  for (int k : {16, 20}) huge_png.replace(k, 4, std::string("\x00\x00\x4e\x20", 4));  // IHDR width, height
  qkv::test::write_file(d.file("huge.png"), huge_png);
  for (const char* f : {"huge.jpg", "huge.png"}) {
    r = run("/usr/bin/time -f 'rss_kb=%M' qkv-patchify " + d.file(f) + " --patch 4 -o " + out);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, std::string(f) + ": image is ")) << r.err;
    EXPECT_TRUE(contains(r.err, "more than qkv decodes")) << r.err;
    const size_t at = r.err.find("rss_kb=");
    ASSERT_NE(at, std::string::npos) << r.err;
    EXPECT_LT(std::stol(r.err.substr(at + 7)), 200000) << "the claimed size was allocated: " << r.err;
    EXPECT_FALSE(qkv::test::exists(out));
  }

  r = run("qkv-patchify " + d.file("good.png") + " " + d.file("missing.png") + " --patch 4 -o " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "missing.png: cannot open")) << r.err;

  // --skip-bad: warnings, the good one kept, the count in the attributes.
  r = run("qkv-patchify " + d.file("corrupt.png") + " " + d.file("good.png") + " " + d.file("text.jpg") +
          " --patch 4 --skip-bad -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "text.jpg")) << r.err;
  {
    qkv::io::H5In in(out);
    pf::PatchSet p = pf::read_patches(in);
    EXPECT_EQ(p.size(), 1);
    EXPECT_EQ(p.sources[0], d.file("good.png"));
    EXPECT_EQ(in.attr_int("/", "skipped"), 2);
    EXPECT_EQ(in.attr_strings("/", "skipped_sources").size(), 2u);
  }
  std::remove(out.c_str());

  // Size not divisible by the patch: an error naming the fix.
  r = run("qkv-patchify " + d.file("good.png") + " --patch 3 -o " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "good.png: image height 8 does not split into patches of 3")) << r.err;
  EXPECT_TRUE(contains(r.err, "--fit pad")) << r.err;
  r = run("qkv-patchify " + d.file("good.png") + " --size 10 --patch 4 -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(qkv::test::exists(out));
  r = run("qkv-patchify " + d.file("good.png") + " --patch 3 --fit pad --dtype uint8 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    qkv::io::H5In in(out);
    EXPECT_EQ(in.attr_int("/", "image_height"), 9);
  }

  // Different sizes without --size.
  save(d.file("big.png"), random_img(12, 8, 3, 1).bgr);
  r = run("qkv-patchify " + d.file("good.png") + " " + d.file("big.png") + " --patch 4 -o " + d.file("x.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "big.png: image is 12x8")) << r.err;
  EXPECT_FALSE(qkv::test::exists(d.file("x.h5")));

  // Empty folder; a class folder without images.
  std::filesystem::create_directories(d.file("empty"));
  r = run("qkv-patchify " + d.file("empty") + " -o " + d.file("x.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "empty: no images")) << r.err;
  std::filesystem::create_directories(d.file("cls/a"));
  std::filesystem::create_directories(d.file("cls/b"));
  save(d.file("cls/a/1.png"), random_img(8, 8, 3, 1).bgr);
  r = run("qkv-patchify " + d.file("cls") + " -o " + d.file("x.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "cls/b: class folder has no images")) << r.err;

  // Usage errors.
  r = run("qkv-patchify " + d.file("good.png") + " --dtype uint8 --normalize unit -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  r = run("qkv-patchify --patch 4 -o " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "no input")) << r.err;
}

TEST(PatchifyTool, PipesIntoInspectAndIsDeterministicAcrossThreads) {
  TempDir d;
  std::filesystem::create_directories(d.file("f/a"));
  std::filesystem::create_directories(d.file("f/b"));
  for (int k = 0; k < 24; ++k)
    save(d.file(std::string("f/") + (k % 2 ? "a/" : "b/") + std::to_string(k) + (k % 3 ? ".png" : ".jpg")),
         random_img(20, 24, 3, k).bgr);
  auto r = run("qkv-patchify " + d.file("f") + " --size 16 --patch 8 | qkv-inspect -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "qkv_format: patches")) << r.out;
  EXPECT_TRUE(contains(r.out, "[24, 4, 192]")) << r.out;
  r = run("qkv-patchify " + d.file("f") + " --size 16 --patch 8 --threads 1 --no-provenance -o " + d.file("1.h5") +
          " && qkv-patchify " + d.file("f") + " --size 16 --patch 8 --threads 3 --no-provenance -o " +
          d.file("3.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(qkv::test::read_file(d.file("1.h5")), qkv::test::read_file(d.file("3.h5")));
  // Provenance names the folder once, with a digest of its sha256sum listing.
  r = run("qkv-patchify " + d.file("f") + " --size 16 --patch 8 -o " + d.file("p.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("p.h5"));
  ASSERT_FALSE(in.provenance().empty());
  EXPECT_EQ(in.provenance().back().inputs, (std::vector<std::string>{d.file("f")}));
  auto sums = run("cd " + d.file("f") + " && find . -type f | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum | "
                  "sha256sum | cut -d' ' -f1");
  ASSERT_EQ(sums.exit_code, 0);
  EXPECT_EQ(in.provenance().back().input_sha256[0] + "\n", sums.out);
}

TEST(PatchifyTool, UnpatchifyRebuildsTheImagesExactly) {
  TempDir d;
  std::vector<Img> imgs;
  std::filesystem::create_directories(d.file("in/x"));
  std::filesystem::create_directories(d.file("in/y"));
  for (int k = 0; k < 3; ++k) {
    imgs.push_back(random_img(15, 21, 3, 100 + k));
    save(d.file("in/" + std::string(k < 2 ? "x" : "y") + "/" + std::to_string(k) + ".png"), imgs.back().bgr);
  }
  // uint8 without overlap, float unit, and uint8 with overlap: all exact.
  for (std::string extra : {"--patch 5x7 --dtype uint8", "--patch 5x7 --normalize unit",
                            "--normalize half --stride 2x3 --patch 5x6", "--dtype uint8 --stride 2 --patch 3"}) {
    std::string cmd = "qkv-patchify " + d.file("in") + " " + extra + " -o " + d.file("p.h5") +
                      " && qkv-patchify unpatchify " + d.file("p.h5") + " -o " + d.file("out") +
                      " --by-class --preview " + d.file("prev.png");
    auto r = run(cmd);
    ASSERT_EQ(r.exit_code, 0) << extra << ": " << r.err;
    for (int k = 0; k < 3; ++k) {
      std::string f = d.file(std::string("out/") + (k < 2 ? "x" : "y") + "/0000" + std::to_string(k) + ".png");
      cv::Mat back = cv::imread(f, cv::IMREAD_UNCHANGED);
      ASSERT_FALSE(back.empty()) << f;
      EXPECT_EQ(cv::norm(back, imgs[k].bgr, cv::NORM_INF), 0) << extra << " " << f;
    }
    cv::Mat prev = cv::imread(d.file("prev.png"));
    EXPECT_FALSE(prev.empty());
    std::filesystem::remove_all(d.file("out"));
  }
  auto r = run("qkv-patchify unpatchify " + d.file("nope.h5") + " -o " + d.file("out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "nope.h5")) << r.err;
}

TEST(PatchifyTool, PreviewDrawsTheGrid) {
  TempDir d;
  save(d.file("a.png"), cv::Mat(32, 32, CV_8UC3, cv::Scalar(0, 0, 0)));
  auto r = run("qkv-patchify " + d.file("a.png") + " --patch 8 --preview " + d.file("prev.png") + " -o " +
               d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  cv::Mat prev = cv::imread(d.file("prev.png"));
  ASSERT_FALSE(prev.empty());
  EXPECT_GE(prev.cols, 128);  // 32 px enlarged 4x
  // The black image now has coloured grid lines on it.
  cv::Mat tile = prev(cv::Rect(6, 6, 128, 128)), gray;
  cv::cvtColor(tile, gray, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(gray), 128 * 4);
  EXPECT_LT(cv::countNonZero(gray), 128 * 128 / 4);
  r = run("qkv-patchify " + d.file("a.png") + " --patch 8 --preview " + d.file("prev.xyz") + " -o " + d.file("q.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(qkv::test::exists(d.file("q.h5")));
}

TEST(PatchifyTool, LimitClassNamesCropAndStdinRefusal) {
  TempDir d;
  std::filesystem::create_directories(d.file("imgs"));
  for (int k = 0; k < 5; ++k) save(d.file("imgs/" + std::to_string(k) + ".png"), random_img(10, 14, 3, k).bgr);
  qkv::test::write_file(d.file("l.txt"), "imgs/0.png 1\nimgs/1.png 0\nimgs/2.png 1\nimgs/3.png 0\nimgs/4.png 1\n");
  auto r = run("qkv-patchify " + d.file("l.txt") + " --limit 3 --class-names no,yes --size 10 --fit crop --patch 5 "
               "--dtype uint8 -o " + d.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(d.file("o.h5"));
  pf::PatchSet p = pf::read_patches(in);
  EXPECT_EQ(p.size(), 3);
  EXPECT_EQ(in.attr_strings("/", "class_names"), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(in.attr_string("/", "fit"), "crop");
  // The centre 10x10 of a 10x14 image: columns 2..11, no resampling.
  cv::Mat centre = random_img(10, 14, 3, 2).rgb(cv::Rect(2, 0, 10, 10)).clone();
  EXPECT_EQ(row_u8(p, 2), qkv::test::reference_patches(centre, 5, 5, 5, 5));

  r = run("qkv-patchify " + d.file("l.txt") + " --class-names only_one -o " + d.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "1 names for 2 classes")) << r.err;
  r = run("qkv-patchify - -o " + d.file("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "stdin")) << r.err;
  EXPECT_FALSE(qkv::test::exists(d.file("x.h5")));
}

// unpatchify --format ppm / pgm: PPM holds colour, so a gray file's images are written with R = G = B; PGM
// holds gray, so colour images are refused with one clear line (not OpenCV's message and its newline).
TEST(PatchifyTool, UnpatchifyPortableFormatsGrayAndColour) {
  TempDir d;
  std::filesystem::create_directories(d.file("gray/a"));
  std::filesystem::create_directories(d.file("rgb/a"));
  const Img g = random_img(8, 12, 1, 7), c = random_img(8, 12, 3, 8);
  save(d.file("gray/a/0.png"), g.bgr);
  save(d.file("rgb/a/0.png"), c.bgr);
  ASSERT_EQ(run("qkv-patchify " + d.file("gray") + " --patch 4 --dtype uint8 -o " + d.file("g.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-patchify " + d.file("rgb") + " --patch 4 --dtype uint8 -o " + d.file("c.h5")).exit_code, 0);
  auto r = run("qkv-patchify unpatchify " + d.file("g.h5") + " --format ppm -o " + d.file("gp"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const cv::Mat back = cv::imread(d.file("gp/00000.ppm"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(back.channels(), 3);
  cv::Mat gray3;
  cv::cvtColor(g.bgr, gray3, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(cv::norm(back, gray3, cv::NORM_INF), 0);
  r = run("qkv-patchify unpatchify " + d.file("g.h5") + " --format pgm -o " + d.file("gg"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cv::norm(cv::imread(d.file("gg/00000.pgm"), cv::IMREAD_UNCHANGED), g.bgr, cv::NORM_INF), 0);
  r = run("qkv-patchify unpatchify " + d.file("c.h5") + " --format pgm -o " + d.file("cg"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "00000.pgm: PGM holds gray images, this one has 3 channels")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(contains(r.err, "\\x0a")) << r.err;
}
