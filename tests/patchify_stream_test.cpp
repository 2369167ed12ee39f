// patchify_to: the streamed "patches" file holds exactly what the in-memory
// patchify() gives, over several batches (chunks), with bad samples squeezed
// out in order (--skip-bad), and a failure half way leaves no file.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "io/h5.h"
#include "patchify/patchify.h"
#include "patchify/render.h"
#include "support/test_support.h"

namespace pf = qkv::patchify;
using qkv::test::TempDir;

namespace {

// n in-memory 64x64 BGR images (49 KB float rows: ~85 to a 4 MiB batch), with
// unreadable files at the given positions.
pf::SampleSet make_set(int n, const std::vector<int>& bad_at, const std::string& dir) {
  pf::SampleSet s;
  s.kind = "files";
  s.labelled = true;
  s.class_names = {"a", "b", "c"};
  cv::RNG rng(7);
  for (int i = 0; i < n; ++i) {
    pf::Sample x;
    x.label = i % 3;
    if (std::find(bad_at.begin(), bad_at.end(), i) != bad_at.end()) {
      x.path = dir + "/bad" + std::to_string(i) + ".png";
      qkv::test::write_file(x.path, "not a png");
    } else {
      x.image = cv::Mat(64, 64, CV_8UC3);
      rng.fill(x.image, cv::RNG::UNIFORM, 0, 256);
    }
    x.source = x.path.empty() ? "mem[" + std::to_string(i) + "]" : x.path;
    s.samples.push_back(x);
  }
  return s;
}

pf::Options options(bool skip_bad) {
  pf::Options o;
  o.patch = {8, 8};
  o.threads = 3;
  o.progress = false;
  o.skip_bad = skip_bad;
  return o;
}

}  // namespace

TEST(PatchifyStream, SameAsInMemoryAcrossBatchesWithSkippedSamples) {
  TempDir dir;
  pf::SampleSet set = make_set(400, {0, 84, 85, 170, 399}, dir.path());
  pf::Options o = options(true);
  pf::PatchSet mem = pf::patchify(set, o);
  ASSERT_EQ(mem.size(), 395);
  pf::PatchSet prev;
  {
    qkv::io::H5StreamOut out(dir.file("s.h5"), pf::kPatchesKind);
    prev = pf::patchify_to(set, o, out, 0, 8);
    out.commit();
  }
  qkv::io::H5In in(dir.file("s.h5"));
  pf::PatchSet got = pf::read_patches(in);
  ASSERT_EQ(got.patches.shape(), mem.patches.shape());
  EXPECT_TRUE(std::equal(mem.patches.data<float>(), mem.patches.data<float>() + mem.patches.numel(),
                         got.patches.data<float>()));
  EXPECT_EQ(got.sources, mem.sources);
  EXPECT_EQ(got.meta.skipped, 5);
  EXPECT_EQ(in.attr_strings("/", "skipped_sources").size(), 5u);
  ASSERT_EQ(got.labels.numel(), 395);
  EXPECT_EQ(got.labels.data<int32_t>()[84], mem.labels.data<int32_t>()[84]);
  // The preview sample: 8 rows spread over the set, each the row of its index.
  ASSERT_EQ(prev.index.size(), 8u);
  const int64_t per = mem.patches.dim(1) * mem.patches.dim(2);
  for (size_t k = 0; k < prev.index.size(); ++k)
    EXPECT_TRUE(std::equal(prev.patches.data<float>() + k * per, prev.patches.data<float>() + (k + 1) * per,
                           mem.patches.data<float>() + prev.index[k] * per))
        << k;
  cv::Mat sheet = pf::preview_sheet(prev, 8);
  EXPECT_FALSE(sheet.empty());
}

TEST(PatchifyStream, BadSampleHalfWayLeavesNoFile) {
  TempDir dir;
  pf::SampleSet set = make_set(300, {250}, dir.path());
  try {
    qkv::io::H5StreamOut out(dir.file("s.h5"), pf::kPatchesKind);
    pf::patchify_to(set, options(false), out);
    out.commit();
    FAIL() << "no error";
  } catch (const qkv::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad250.png"), std::string::npos) << e.what();
  }
  for (const auto& e : dir.entries()) EXPECT_EQ(e.rfind("s.h5", 0), std::string::npos) << e;
}
