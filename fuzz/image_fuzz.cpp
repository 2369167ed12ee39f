// Image loading (qkv-patchify): decode_image (OpenCV's imdecode: PNG, JPEG,
// BMP, PNM, TIFF, WebP), then prepare_image (fit, channels) and
// extract_patches, uint8 and float, as qkv-patchify cuts every image.
#include "formats/patches.h"
#include "fuzz_support.h"
#include "patchify/image.h"

using namespace qkv;
using namespace qkv::patchify;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::run([&] {
    cv::Mat img = decode_image(fuzz::bytes_of(data, size), "fuzz.png");
    for (int variant = 0; variant < 2; ++variant) {
      Options o;
      o.patch = {4, 4};
      o.size = {8, 8};
      o.fit = variant ? Fit::pad : Fit::squash;
      int channels = variant ? 3 : 1;
      cv::Mat prepared = prepare_image(img, o, channels);
      formats::Grid g = formats::make_grid({prepared.rows, prepared.cols}, o.patch, o.effective_stride(), true, "fuzz");
      std::vector<uint8_t> u8(static_cast<size_t>(g.num_patches() * o.patch.h * o.patch.w * channels));
      extract_patches(prepared, g, u8.data());
      std::vector<float> f32(u8.size());
      extract_patches(prepared, g, make_lut(std::vector<double>(channels, 0.5), std::vector<double>(channels, 0.25)), f32.data());
    }
  });
  return 0;
}
