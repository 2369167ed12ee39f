// Training-image augmentation on patches (train/augment.h): each transform
// checked exactly against hand-made patch tensors, the overlapping-grid RGB
// case against OpenCV, the random draws for range and determinism, and the
// batches PatchExamples makes with it.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include <set>

#include "core/error.h"
#include "patchify/image.h"
#include "train/augment.h"
#include "train/examples.h"

using namespace qkv;
using namespace qkv::train;

namespace {

// A 4x4 gray image of 2x2 patches (stride 2); pixel (y, x) holds y * 4 + x, black is -1.
PatchGeometry geometry_4x4() {
  patchify::Grid g = patchify::make_grid({4, 4}, {2, 2}, {2, 2}, false, "test");
  return PatchGeometry(g, 1, {-1.f});
}

// Patches of that image: 4 patches x 4 values, row-major within each patch.
std::vector<float> patches_4x4() { return {0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}; }

std::vector<float> apply(const ImageTransform& t, std::vector<float> x, const PatchGeometry& g) {
  std::vector<float> scratch;
  transform_sample(t, g, x.data(), scratch);
  return x;
}

}  // namespace

TEST(TrainAugment, PatchPixelIndexOfAGrid) {
  PatchGeometry g = geometry_4x4();
  std::vector<int64_t> want = {0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15};
  EXPECT_EQ(g.pixel_of, want);
}

TEST(TrainAugment, FlipShiftAndEraseOfAKnownPatchTensor) {
  PatchGeometry g = geometry_4x4();
  ImageTransform none;
  EXPECT_EQ(apply(none, patches_4x4(), g), patches_4x4());
  ImageTransform flip;
  flip.flip = true;  // rows become 3 2 1 0 / 7 6 5 4 / 11 10 9 8 / 15 14 13 12
  EXPECT_EQ(apply(flip, patches_4x4(), g), (std::vector<float>{3, 2, 7, 6, 1, 0, 5, 4, 11, 10, 15, 14, 9, 8, 13, 12}));
  ImageTransform right;
  right.dx = 1;  // rows: -1 0 1 2 / -1 4 5 6 / -1 8 9 10 / -1 12 13 14
  EXPECT_EQ(apply(right, patches_4x4(), g),
            (std::vector<float>{-1, 0, -1, 4, 1, 2, 5, 6, -1, 8, -1, 12, 9, 10, 13, 14}));
  ImageTransform up;
  up.dy = -1;  // rows: 4..7 / 8..11 / 12..15 / black
  EXPECT_EQ(apply(up, patches_4x4(), g),
            (std::vector<float>{4, 5, 8, 9, 6, 7, 10, 11, 12, 13, -1, -1, 14, 15, -1, -1}));
  ImageTransform flip_left;
  flip_left.flip = true;
  flip_left.dx = -2;  // flipped rows shifted left by 2: 1 0 -1 -1 / 5 4 -1 -1 / ...
  EXPECT_EQ(apply(flip_left, patches_4x4(), g),
            (std::vector<float>{1, 0, 5, 4, -1, -1, -1, -1, 9, 8, 13, 12, -1, -1, -1, -1}));
  ImageTransform erase;
  erase.ey = 1, erase.ex = 1, erase.eh = 2, erase.ew = 2;  // the centre 2x2 goes black
  EXPECT_EQ(apply(erase, patches_4x4(), g),
            (std::vector<float>{0, 1, 4, -1, 2, 3, -1, 7, 8, -1, 12, 13, -1, 11, 14, 15}));
  ImageTransform far;
  far.dx = 9;  // everything leaves the image
  EXPECT_EQ(apply(far, patches_4x4(), g), std::vector<float>(16, -1.f));
}

TEST(TrainAugment, OverlappingRgbGridMatchesOpenCvFlipAndShift) {
  // 5x6 RGB image, 3x2 patches with stride 1x2 (rows overlap): transform the
  // image with OpenCV, cut both with patchify's extract_patches, compare.
  patchify::Grid g = patchify::make_grid({5, 6}, {3, 2}, {1, 2}, false, "test");
  cv::Mat img(5, 6, CV_8UC3);
  for (int i = 0; i < 5 * 6 * 3; ++i) img.data[i] = static_cast<uint8_t>(7 * i + 3);
  auto cut = [&](const cv::Mat& m) {
    std::vector<uint8_t> u(static_cast<size_t>(g.num_patches()) * 3 * 2 * 3);
    patchify::extract_patches(m, g, u.data());
    return std::vector<float>(u.begin(), u.end());
  };
  PatchGeometry geo(g, 3, {0.f, 0.f, 0.f});
  cv::Mat flipped, moved = cv::Mat::zeros(5, 6, CV_8UC3);
  cv::flip(img, flipped, 1);
  flipped(cv::Rect(0, 0, 5, 4)).copyTo(moved(cv::Rect(1, 1, 5, 4)));  // then 1 right, 1 down
  ImageTransform t;
  t.flip = true, t.dx = 1, t.dy = 1;
  EXPECT_EQ(apply(t, cut(img), geo), cut(moved));
}

TEST(TrainAugment, DrawsStayInRangeAndDependOnlyOnSeedEpochIndex) {
  PatchGeometry g(patchify::make_grid({28, 28}, {7, 7}, {7, 7}, false, "test"), 1, {0.f});
  Augment a = parse_augment("flip,shift=2,erase=0.5");
  int flips = 0, erased = 0;
  std::set<int> dxs;
  for (int i = 0; i < 2000; ++i) {
    Rng r = augment_rng(1, 3, i);
    ImageTransform t = draw_transform(a, g, r);
    flips += t.flip;
    dxs.insert(t.dx);
    EXPECT_LE(std::abs(t.dy), 2);
    if (t.eh > 0) {
      ++erased;
      EXPECT_GE(t.ey, 0);
      EXPECT_LE(t.ey + t.eh, 28);
      EXPECT_GE(t.ex, 0);
      EXPECT_LE(t.ex + t.ew, 28);
      EXPECT_GE(t.eh * t.ew, 0.02 * 784 * 0.5);
    }
    Rng again = augment_rng(1, 3, i);
    ImageTransform u = draw_transform(a, g, again);
    EXPECT_TRUE(u.flip == t.flip && u.dx == t.dx && u.dy == t.dy && u.ey == t.ey && u.ex == t.ex && u.eh == t.eh &&
                u.ew == t.ew);
  }
  EXPECT_EQ(dxs, (std::set<int>{-2, -1, 0, 1, 2}));
  EXPECT_NEAR(flips, 1000, 120);
  EXPECT_NEAR(erased, 1000, 120);
  Rng e0 = augment_rng(1, 0, 5), e1 = augment_rng(1, 1, 5), s2 = augment_rng(2, 0, 5);
  EXPECT_NE(e0.next_u64(), e1.next_u64());
  EXPECT_NE(augment_rng(1, 0, 5).next_u64(), s2.next_u64());
}

TEST(TrainAugment, ParseAndCanonicalText) {
  EXPECT_FALSE(parse_augment("none").any());
  EXPECT_FALSE(parse_augment("").any());
  EXPECT_EQ(str(parse_augment("none")), "none");
  EXPECT_EQ(str(parse_augment("erase=0.25,flip,shift=2")), "flip,shift=2,erase=0.25");
  EXPECT_EQ(str(parse_augment(str(parse_augment("shift=3")))), "shift=3");
  for (const char* bad : {"flop", "shift", "shift=-1", "shift=1.5", "erase=2", "flip=1", "erase=x", "flip,,shift=1"})
    EXPECT_THROW(parse_augment(bad), UsageError) << bad;
}

TEST(TrainAugment, PatchExamplesAugmentTrainingBatchesBySeedAndEpoch) {
  Patches x;
  x.patches = Tensor({3, 4, 4});  // (N, P, D): three copies of the 4x4 image
  const std::vector<float> img = patches_4x4();
  for (int i = 0; i < 3; ++i) std::copy(img.begin(), img.end(), x.patches.data<float>() + i * 16);
  x.labels = {0, 1, 2};
  x.num_classes = 3;
  x.path = "mem.h5";
  PatchExamples plain(x);
  EXPECT_THROW(plain.set_augment(parse_augment("flip"), 1), DataError);  // no geometry in this file
  x.has_geometry = true;
  x.geometry = geometry_4x4();
  plain.set_augment(parse_augment("none"), 1);
  PatchExamples aug(x);
  aug.set_augment(parse_augment("flip,shift=1"), 7);
  std::vector<int64_t> idx = {0, 1, 2};
  nn::Batch p = plain.batch(idx);
  EXPECT_EQ(std::vector<float>(p.patches.begin(), p.patches.begin() + 16), patches_4x4());
  aug.set_epoch(7, 0);
  nn::Batch a0 = aug.batch(idx), again = aug.batch({2, 1, 0});
  aug.set_epoch(7, 1);
  nn::Batch a1 = aug.batch(idx);
  EXPECT_EQ(a0.labels, p.labels);
  // Each example's image depends on (seed, epoch, index), not on its place in the batch.
  for (int r = 0; r < 3; ++r)
    EXPECT_TRUE(std::equal(a0.patches.begin() + r * 16, a0.patches.begin() + r * 16 + 16,
                           again.patches.begin() + (2 - r) * 16));
  EXPECT_NE(a0.patches, p.patches);
  EXPECT_NE(a0.patches, a1.patches);
}
