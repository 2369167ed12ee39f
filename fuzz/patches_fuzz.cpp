// formats::PatchesReader (qkv-train vit, qkv-model forward, qkv-attend) and
// patchify::read_patches + the images unpatchify draws from them.
#include "formats/patches.h"
#include "fuzz_support.h"
#include "patchify/patchify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkv::fuzz::run([&] {
    qkv::io::H5In in(qkv::fuzz::bytes_of(data, size), "fuzz.h5");
    qkv::formats::PatchesReader r(in);
    (void)r.read(0, r.size());
    (void)r.read_stored(0, r.size());
    if (r.has_meta()) (void)r.black();
    qkv::patchify::PatchSet p = qkv::patchify::read_patches(in);
    for (int64_t i = 0; i < std::min<int64_t>(p.size(), 2); ++i) (void)qkv::patchify::image_of(p, i);
  });
  return 0;
}
