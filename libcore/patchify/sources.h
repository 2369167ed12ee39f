// Where qkv-patchify's images come from, turned into one ordered list of samples.
//
//   SampleSet s = collect_samples({"train/"}, SourceOptions{});
//   // ImageFolder: train/cat/*.png, train/dog/*.jpg -> class_names {cat, dog}, labels 0/1
//
// Inputs (the kinds are not mixed in one run):
//   - image files (PNG, JPEG, BMP, PGM/PPM, TIFF, WebP, whatever OpenCV decodes):
//     unlabelled; with --grid each file is a sheet cut into ROWSxCOLS equal cells
//     (row-major), labelled by --grid-labels;
//   - one folder: with subfolders, torchvision's ImageFolder (sorted subfolder
//     names are the classes; images found recursively, sorted by path); without,
//     its images, unlabelled;
//   - one text list (.txt .lst .list .csv .tsv): one image per line, "path" or
//     "path<TAB or space or comma>label"; relative paths are relative to the list's
//     folder; '#' starts a comment. Labels are all integers (ids) or all names
//     (sorted names become the classes);
//   - one IDX images file (*idx3-ubyte[.gz]), labelled by the matching
//     *labels-idx1-ubyte[.gz] beside it (or --labels).
// Files are decoded later, in parallel; sheets and IDX records are held in
// memory and each sample is a view into them.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "formats/shard.h"
#include "patchify/options.h"

namespace qkv::patchify {

struct Sample {
  std::string path;    // image file to decode; "" when image is set
  cv::Mat image;       // already decoded: 8-bit, 1 or 3 channels (BGR, OpenCV's order)
  std::string source;  // what /sources records: the path, "sheet.png[row=3,col=7]", "x-idx3-ubyte.gz[17]"
  int32_t label = -1;  // -1 = unlabelled
};

// How provenance names a set of image files: a folder or list as one input
// whose digest is the SHA-256 of its sha256sum-style listing (see
// tree_digest()), computed from each file's digest as it is decoded.
struct InputGroup {
  std::string name;       // the folder or list path, as given
  std::string base;       // prefix stripped from sample paths in the listing
  size_t first = 0, count = 0;  // samples [first, first + count) belong to it
};

struct SampleSet {
  std::vector<Sample> samples;
  bool labelled = false;
  std::vector<std::string> class_names;  // index = label; empty when unlabelled
  std::vector<InputGroup> groups;         // folders and lists (their image files are hashed while decoded)
  std::vector<std::string> direct_files;  // image files given directly (hashed while decoded)
  std::string kind;                       // "files", "folder", "list", "grid", "idx": for logs
};

// Throws UsageError for a bad combination of inputs, DataError for bad data
// (empty folder, unreadable list, bad IDX, sheet not divisible by the grid).
// IDX files, sheets and lists are noted for provenance here.
// With opt.shard, only the shard's images are kept and *shard (when given)
// receives its range (formats/shard.h).
SampleSet collect_samples(const std::vector<std::string>& inputs, const SourceOptions& opt,
                          formats::Shard* shard = nullptr);

// True for file names OpenCV's image decoders handle (by extension, case-insensitive).
bool has_image_extension(const std::string& path);

// SHA-256 of the text "HEX  relpath\n" over the files in order: what
// `sha256sum FILES | sha256sum` prints when run from base.
std::string tree_digest(const std::vector<std::string>& rel_paths, const std::vector<std::string>& file_sha256);

}  // namespace qkv::patchify
