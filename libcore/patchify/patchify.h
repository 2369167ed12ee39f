// Images -> ViT patches, and the "patches" file kind (docs/FORMATS.md).
//
//   SampleSet s = collect_samples(inputs, src_opt);
//   io::H5StreamOut out(path, kPatchesKind);
//   PatchSet prev = patchify_to(s, opt, out, 0, 8);  // decode + fit + cut in parallel, streamed to out
//   out.commit();
//
//   PatchSet p = patchify(s, opt);                 // the same, held in memory
//   io::H5Out out(path, kPatchesKind);
//   write_patches(out, p);
//   out.commit();
//
//   io::H5In in("patches.h5");
//   PatchSet q = read_patches(in);                  // whole, as stored (formats::PatchesReader)
//   cv::Mat img = image_of(q, 7);                   // (H, W, C) uint8 RGB: the inverse
//
// Reading a patches file needs no OpenCV: formats/patches.h (libqkvbase).
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"
#include "patchify/image.h"
#include "patchify/options.h"
#include "patchify/sources.h"
#include "tensor/tensor.h"

namespace qkv::patchify {

using formats::grid_positions;
using formats::kPatchesKind;
using formats::PatchMeta;

struct PatchSet {
  Tensor patches;                    // (N, L, D) float32 or uint8; L = rows*cols, D = Ph*Pw*C
  Tensor labels;                     // (N,) int32; undefined when unlabelled
  Tensor positions;                  // (L, 2) int32: grid row, grid column of each patch
  std::vector<std::string> sources;  // (N,) where each image came from
  PatchMeta meta;
  // Empty for a whole set. Else patches holds only some images of the set
  // (patchify_to's preview sample): their indices in it, ascending.
  std::vector<int64_t> index;

  int64_t size() const { return patches.defined() ? patches.dim(0) : 0; }
  bool labelled() const { return labels.defined(); }
};

// Decodes, fits and cuts every sample with opt.threads threads into memory
// (refused up front when it cannot fit); output order is the samples' order. Throws DataError naming the file of the first bad
// sample (or, with opt.skip_bad, leaves bad ones out with a warning each and
// counts them in meta). Notes image files for provenance.
PatchSet patchify(const SampleSet& samples, const Options& opt);

// The same run streamed into out: /patches (N, L, D), chunked, is written
// batch by batch while the workers go on decoding (memory stays a few MiB a
// thread whatever N), then labels, positions, sources and the attributes.
// The caller commits out. Returns labels, sources and meta of the whole set
// with patches of at most preview_count images spread over it (see index),
// for preview_sheet.
PatchSet patchify_to(const SampleSet& samples, const Options& opt, io::H5StreamOut& out, int compress = 0,
                     int preview_count = 0);

// The k-th of `count` images a preview shows out of `total`: spread over the
// set, since the first few are often all one class.
inline int64_t preview_pick(int64_t total, int64_t count, int64_t k) { return total * k / count; }

void write_patches(io::H5Out& out, const PatchSet& p, int compress = 0);
// A whole "patches" file as stored (uint8 stays uint8), read and checked by
// formats::PatchesReader; its geometry attributes are required.
PatchSet read_patches(const io::H5In& in);

// Rebuilds image i: (H, W, C) uint8 in RGB/gray order. Exact for uint8
// patches; floats are mapped back through mean/std and rounded.
cv::Mat image_of(const PatchSet& p, int64_t i);

}  // namespace qkv::patchify
