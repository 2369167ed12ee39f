// SHA-256, for the input digests in provenance records. Written here because
// none of qkv's dependencies exposes a public hash (HDF5's checksums are
// internal, OpenCV has none) and SHA-256 lets a user check a record with the
// standard `sha256sum FILE`. Verified against FIPS 180-4 vectors in tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qkv::io {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
std::string sha256_file(const std::string& path);  // throws DataError naming the file

}  // namespace qkv::io
