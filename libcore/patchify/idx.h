// IDX files (LeCun's MNIST format, also Fashion-MNIST, EMNIST, KMNIST),
// plain or gzip-compressed (*.gz, read with zlib: OpenCV has no gzip reader).
//
//   IdxArray a = read_idx("t10k-images-idx3-ubyte.gz");   // dims {10000, 28, 28}
//   const uint8_t* img7 = a.data.data() + 7 * 28 * 28;
//
// Layout: magic 0x00 0x00 <type> <ndim>, then ndim big-endian uint32 sizes,
// then the values row-major. Only type 0x08 (unsigned byte) is accepted, as
// every image and label file of those data sets uses it. The header is
// untrusted: the product of the sizes is checked against the file (or the
// decompressed stream, read incrementally) before anything that size is
// allocated, so a corrupt header is one clear error, never a huge allocation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv::patchify {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Throws DataError naming the file: bad magic, unsupported type, size mismatch, truncated gzip.
IdxArray read_idx(const std::string& path);

// Parses IDX bytes already in memory (name is used in messages).
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name);

// True when the file name looks like an IDX file: "...idx3-ubyte", "...idx1-ubyte.gz", "....idx3-ubyte".
bool looks_like_idx(const std::string& path);

// The labels file matching an images file by MNIST's naming
// ("t10k-images-idx3-ubyte.gz" -> "t10k-labels-idx1-ubyte.gz", with or without
// .gz), or "" when none exists.
std::string matching_idx_labels(const std::string& images_path);

}  // namespace qkv::patchify
