#include "io/h5_global_heap.h"

#include <cstring>

namespace qkv::io {
namespace {

uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// Little-endian unsigned integer of n bytes (n <= 8).
uint64_t decode(const uint8_t* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i > 0; --i) v = (v << 8) | p[i - 1];
  return v;
}

// The superblock's "size of lengths" (2, 4 or 8), or 0 when there is no
// superblock qkv can read (libhdf5 then refuses the file itself). The
// superblock is at byte 0, 512, 1024, 2048, ...
unsigned size_of_lengths(const uint8_t* data, size_t size) {
  static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t off = 0; off + 16 <= size; off = off ? off * 2 : 512) {
    if (std::memcmp(data + off, sig, 8) != 0) continue;
    const uint8_t version = data[off + 8];
    const unsigned L = version <= 1 ? data[off + 14] : data[off + 10];
    return L == 2 || L == 4 || L == 8 ? L : 0;
  }
  return 0;
}

// What is wrong with the collection at `at` ("" if nothing); its size in *span.
HeapProblem collection_problem(const uint8_t* data, size_t size, size_t at, unsigned L, uint64_t* span) {
  const std::string where = "global heap collection at byte " + std::to_string(at) + ": ";
  const uint64_t header = align8(8 + L), object_header = align8(8 + L);
  if (size - at < 8 + uint64_t{L}) return {where + "its header is cut off by the end of the file", true};
  const uint64_t n = decode(data + at + 8, L);
  *span = n;
  if (n < header) return {where + "claims " + std::to_string(n) + " bytes, less than its header"};
  if (n > size - at)
    return {where + "claims " + std::to_string(n) + " bytes, past the end of the " + std::to_string(size) +
                "-byte file",
            true};
  // libhdf5's walk: objects until the end; a tail too small for an object
  // header is free space.
  const uint8_t* base = data + at;
  uint64_t p = header;
  while (p < n) {
    if (n - p < object_header) break;
    const unsigned idx = static_cast<unsigned>(decode(base + p, 2));
    const uint64_t len = decode(base + p + 8, L);
    const uint64_t room = n - p;  // from this object's first byte to the collection's end
    if (idx == 0) {
      // Free space: its size counts from its first byte; 0 would loop forever.
      if (len < object_header || len > room)
        return {where + "free space of " + std::to_string(len) + " bytes where " + std::to_string(room) + " remain"};
      p += len;
    } else {
      if (len > room - object_header || align8(len) > room - object_header)
        return {where + "object " + std::to_string(idx) + " claims " + std::to_string(len) + " bytes, " +
                std::to_string(room - object_header) + " remain"};
      p += object_header + align8(len);
    }
  }
  return {};
}

}  // namespace

HeapProblem global_heap_problem(const uint8_t* data, size_t size) {
  const unsigned L = size_of_lengths(data, size);
  if (L == 0) return {};
  static const uint8_t magic[8] = {'G', 'C', 'O', 'L', 1, 0, 0, 0};
  size_t from = 0;
  for (;;) {
    const void* hit = from + 8 <= size ? memmem(data + from, size - from, magic, 8) : nullptr;
    if (!hit) return {};
    const size_t at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - data);
    uint64_t span = 0;
    HeapProblem problem = collection_problem(data, size, at, L, &span);
    if (!problem.what.empty()) return problem;
    from = at + static_cast<size_t>(span);  // its objects' bytes are data, not collections
  }
}

}  // namespace qkv::io
