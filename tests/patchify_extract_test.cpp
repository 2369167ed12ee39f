// Patch extraction, fitting and reassembly against independent nested-loop
// references (libcore/patchify/image.h).
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>

#include "core/error.h"
#include "patchify/image.h"
#include "patchify/options.h"
#include "support/patch_reference.h"

namespace pf = qkv::patchify;

namespace {

struct Case {
  int h, w, c, ph, pw, sh, sw;
};

}  // namespace

TEST(PatchifyExtract, Uint8MatchesNestedLoopsOddSizesGrayRgbAndOverlap) {
  const Case cases[] = {
      {17, 23, 1, 5, 7, 3, 4},  // odd sizes, overlapping (stride < patch), gray
      {17, 23, 3, 5, 7, 3, 4},  // same, RGB
      {15, 21, 3, 5, 7, 5, 7},  // odd sizes, no overlap
      {28, 28, 1, 7, 7, 7, 7},  // MNIST-like
      {9, 9, 3, 9, 9, 9, 9},    // one patch = whole image
      {11, 13, 1, 3, 3, 1, 1},  // stride 1
  };
  unsigned seed = 1;
  for (const auto& k : cases) {
    cv::Mat img = qkv::test::random_pixels(k.h, k.w, k.c, seed++);
    pf::Grid g = pf::make_grid({k.h, k.w}, {k.ph, k.pw}, {k.sh, k.sw}, true, "x");
    ASSERT_EQ(g.rows, (k.h - k.ph) / k.sh + 1);
    ASSERT_EQ(g.cols, (k.w - k.pw) / k.sw + 1);
    std::vector<uint8_t> got(static_cast<size_t>(g.num_patches()) * k.ph * k.pw * k.c);
    pf::extract_patches(img, g, got.data());
    EXPECT_EQ(got, qkv::test::reference_patches(img, k.ph, k.pw, k.sh, k.sw)) << k.h << "x" << k.w << "x" << k.c;

    // The inverse is exact for uint8, with or without overlap.
    cv::Mat back = pf::assemble_image(got.data(), g, k.c);
    EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0) << k.h << "x" << k.w << "x" << k.c;
  }
}

TEST(PatchifyExtract, FloatAppliesPerChannelNormalization) {
  cv::Mat img = qkv::test::random_pixels(13, 19, 3, 7);
  pf::Options o;
  o.normalize = pf::Normalize::imagenet;
  std::vector<double> mean, stdev;
  pf::normalization_values(o, 3, mean, stdev);
  ASSERT_EQ(mean.size(), 3u);
  EXPECT_DOUBLE_EQ(mean[1], 0.456);
  EXPECT_DOUBLE_EQ(stdev[2], 0.225);
  pf::Grid g = pf::make_grid({13, 19}, {3, 5}, {2, 2}, true, "x");
  std::vector<float> got(static_cast<size_t>(g.num_patches()) * 3 * 5 * 3);
  pf::extract_patches(img, g, pf::make_lut(mean, stdev), got.data());
  std::vector<uint8_t> raw = qkv::test::reference_patches(img, 3, 5, 2, 2);
  ASSERT_EQ(raw.size(), got.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    int ch = static_cast<int>(i % 3);
    float want = static_cast<float>((raw[i] / 255.0 - mean[ch]) / stdev[ch]);
    ASSERT_EQ(got[i], want) << i;
  }
  // Float round trip back to pixels is exact too.
  cv::Mat back = pf::assemble_image(got.data(), g, 3, mean, stdev);
  EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0);
}

TEST(PatchifyExtract, BgrInputIsSwappedToRgbOnTheWay) {
  cv::Mat rgb = qkv::test::random_pixels(12, 10, 3, 21), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  pf::Grid g = pf::make_grid({12, 10}, {4, 5}, {2, 5}, true, "x");
  size_t n = static_cast<size_t>(g.num_patches()) * 4 * 5 * 3;
  std::vector<uint8_t> a(n), b(n);
  pf::extract_patches(bgr, g, a.data(), /*bgr=*/true);
  EXPECT_EQ(a, qkv::test::reference_patches(rgb, 4, 5, 2, 5));
  std::vector<float> fa(n), fb(n);
  auto lut = pf::make_lut({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
  pf::extract_patches(bgr, g, lut, fa.data(), true);
  pf::extract_patches(rgb, g, lut, fb.data(), false);
  EXPECT_EQ(fa, fb);
  // prepare_image keeps BGR when asked (and still turns gray into three channels).
  pf::Options o;
  o.patch = {1, 1};
  EXPECT_EQ(cv::norm(pf::prepare_image(bgr, o, 3, true), bgr, cv::NORM_INF), 0);
  cv::Mat g1(2, 2, CV_8UC1, cv::Scalar(5));
  EXPECT_EQ(pf::prepare_image(g1, o, 3, true).channels(), 3);
}

TEST(PatchifyExtract, NormalizationModes) {
  pf::Options o;
  std::vector<double> m, s;
  o.normalize = pf::Normalize::none;
  pf::normalization_values(o, 1, m, s);
  EXPECT_EQ(m, std::vector<double>{0.0});
  EXPECT_DOUBLE_EQ(s[0], 1.0 / 255);
  o.normalize = pf::Normalize::half;
  pf::normalization_values(o, 3, m, s);
  EXPECT_EQ(m, std::vector<double>(3, 0.5));
  EXPECT_EQ(s, std::vector<double>(3, 0.5));
  o.normalize = pf::Normalize::imagenet;  // gray: the channel averages
  pf::normalization_values(o, 1, m, s);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NEAR(m[0], (0.485 + 0.456 + 0.406) / 3, 1e-12);
  o.normalize = pf::Normalize::custom;
  o.mean = {0.1, 0.2};
  o.std = {0.3};
  EXPECT_THROW(pf::normalization_values(o, 3, m, s), qkv::UsageError);
  // none: stored = pixel; unit: pixel / 255.
  std::vector<double> nm{0.0}, ns{1.0 / 255};
  auto lut = pf::make_lut(nm, ns);
  EXPECT_FLOAT_EQ(lut[200], 200.f);
  auto lut2 = pf::make_lut({0.0}, {1.0});
  EXPECT_FLOAT_EQ(lut2[255], 1.f);
}

TEST(PatchifyExtract, GridChecks) {
  EXPECT_TRUE(pf::grid_fits(224, 16, 16));
  EXPECT_FALSE(pf::grid_fits(20, 16, 16));
  EXPECT_TRUE(pf::grid_fits(17, 5, 3));
  EXPECT_EQ(pf::grid_round_up(20, 16, 16), 32);
  EXPECT_EQ(pf::grid_round_up(18, 5, 3), 20);
  EXPECT_EQ(pf::grid_round_up(3, 5, 3), 5);
  try {
    pf::make_grid({20, 20}, {16, 16}, {16, 16}, true, "x");
    FAIL();
  } catch (const qkv::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--fit pad"), std::string::npos) << e.what();
  }
  try {
    pf::make_grid({28, 30}, {7, 7}, {7, 7}, false, "img.png");
    FAIL();
  } catch (const qkv::DataError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("img.png: image width 30", 0), 0u) << e.what();
  }
}

TEST(PatchifyPrepare, ChannelsAreRgbOrderAndGrayIsOpenCvLuma) {
  cv::Mat bgr(2, 2, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10 G=20 R=30
  pf::Options o;
  o.patch = {1, 1};
  cv::Mat rgb = pf::prepare_image(bgr, o, 3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));
  cv::Mat gray = pf::prepare_image(bgr, o, 1);
  EXPECT_EQ(gray.at<uint8_t>(1, 1), static_cast<uint8_t>(std::lround(0.299 * 30 + 0.587 * 20 + 0.114 * 10)));
  cv::Mat g1(3, 3, CV_8UC1, cv::Scalar(77));
  cv::Mat expanded = pf::prepare_image(g1, o, 3);
  EXPECT_EQ(expanded.at<cv::Vec3b>(2, 2), cv::Vec3b(77, 77, 77));
}

TEST(PatchifyPrepare, CropTakesTheCentre) {
  cv::Mat img = qkv::test::random_pixels(10, 14, 1, 3);
  pf::Options o;
  o.size = {10, 10};
  o.fit = pf::Fit::crop;
  o.patch = {5, 5};
  cv::Mat out = pf::prepare_image(img, o, 1);
  ASSERT_EQ(out.rows, 10);
  ASSERT_EQ(out.cols, 10);
  EXPECT_EQ(cv::norm(out, img(cv::Rect(2, 0, 10, 10)), cv::NORM_INF), 0);
  // Odd margin: torchvision's int(round(1.5)) = 2 (half to even), round(0.5) = 0.
  cv::Mat img2 = qkv::test::random_pixels(10, 13, 1, 4);
  cv::Mat out2 = pf::prepare_image(img2, o, 1);
  EXPECT_EQ(cv::norm(out2, img2(cv::Rect(2, 0, 10, 10)), cv::NORM_INF), 0);
  cv::Mat img3 = qkv::test::random_pixels(10, 11, 1, 5);
  cv::Mat out3 = pf::prepare_image(img3, o, 1);
  EXPECT_EQ(cv::norm(out3, img3(cv::Rect(0, 0, 10, 10)), cv::NORM_INF), 0);
}

TEST(PatchifyPrepare, ResizeShorterThenCentreCropLikeTorchvision) {
  // 300x400 -> shorter side 256: 256x341 (int(256*400/300) = 341), centre crop 224.
  cv::Mat img = qkv::test::random_pixels(300, 400, 3, 9);
  pf::Options o;
  o.size = {224, 224};
  o.fit = pf::Fit::crop;
  o.resize_shorter = 256;
  o.interp = pf::Interp::bilinear;
  cv::Mat out = pf::prepare_image(img, o, 3);
  cv::Mat r, rgb;
  cv::resize(img, r, cv::Size(341, 256), 0, 0, cv::INTER_LINEAR);
  cv::cvtColor(r, rgb, cv::COLOR_BGR2RGB);
  // top = round(16) = 16, left = round(58.5) = 58 (half to even)
  EXPECT_EQ(cv::norm(out, rgb(cv::Rect(58, 16, 224, 224)), cv::NORM_INF), 0);
}

TEST(PatchifyPrepare, PadLetterboxesAndRoundsUpToTheGrid) {
  cv::Mat img = qkv::test::random_pixels(10, 14, 1, 11);
  pf::Options o;
  o.size = {14, 14};
  o.fit = pf::Fit::pad;
  o.patch = {7, 7};
  o.pad_value = 9;
  cv::Mat out = pf::prepare_image(img, o, 1);
  ASSERT_EQ(out.rows, 14);
  EXPECT_EQ(cv::norm(out(cv::Rect(0, 2, 14, 10)), img, cv::NORM_INF), 0);
  EXPECT_EQ(out.at<uint8_t>(0, 0), 9);
  EXPECT_EQ(out.at<uint8_t>(13, 13), 9);
  // No --size: 13x13 with 4x4 patches becomes 16x16, the image at the top left.
  pf::Options p;
  p.fit = pf::Fit::pad;
  p.patch = {4, 4};
  cv::Mat img2 = qkv::test::random_pixels(13, 13, 1, 12);
  EXPECT_EQ(pf::prepared_size(p, {13, 13}), (pf::Size2{16, 16}));
  cv::Mat out2 = pf::prepare_image(img2, p, 1);
  ASSERT_EQ(out2.rows, 16);
  EXPECT_EQ(cv::norm(out2(cv::Rect(0, 0, 13, 13)), img2, cv::NORM_INF), 0);
  EXPECT_EQ(cv::countNonZero(out2.row(15)), 0);
}

TEST(PatchifyOptions, ParsingAndValidation) {
  EXPECT_EQ(pf::parse_size("224", "--size"), (pf::Size2{224, 224}));
  EXPECT_EQ(pf::parse_size("20x30", "--size"), (pf::Size2{20, 30}));
  EXPECT_THROW(pf::parse_size("0", "--size"), qkv::UsageError);
  EXPECT_THROW(pf::parse_size("12x", "--size"), qkv::UsageError);
  EXPECT_THROW(pf::parse_size("-3", "--size"), qkv::UsageError);
  EXPECT_THROW(pf::parse_fit("stretch"), qkv::UsageError);
  EXPECT_EQ(pf::parse_grid_labels("rows:5").block, 5);
  EXPECT_THROW(pf::parse_grid_labels("rows:0"), qkv::UsageError);
  EXPECT_EQ(pf::parse_class_names("a,b,c").size(), 3u);
  EXPECT_THROW(pf::parse_class_names("a,,c"), qkv::UsageError);
  pf::Options o;
  o.dtype = qkv::DType::u8;
  EXPECT_THROW(pf::validate(o), qkv::UsageError);  // uint8 needs normalize none
  o.normalize = pf::Normalize::none;
  EXPECT_NO_THROW(pf::validate(o));
  o.stride = {17, 17};  // larger than the patch
  EXPECT_THROW(pf::validate(o), qkv::UsageError);
}
