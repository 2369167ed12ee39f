// A byte-level check of an HDF5 file's global heap, before libhdf5 reads it.
//
// Variable-length strings (qkv_format, /provenance, tokenizer pieces, class
// names) live in global heap collections ("GCOL" blocks). libhdf5 1.10.8
// parses a collection's object list trusting each object's size
// (H5HG__cache_heap_deserialize checks it only with assert(), compiled out in
// Debian's build), and H5HG_read then copies that many bytes out of the
// collection: a corrupt size is a read of up to 2^64 bytes past it. Whether
// that crashes depends on what lies beyond, so the forked probe
// (h5_probe.h) can survive a read that kills the parent a moment later (found
// by the mutation fuzzer: a size of 11,993,092 in a 4,096-byte collection
// read fine in the child and crashed qkv-tokenize decode). This check is
// deterministic: it walks every collection's object list the way libhdf5
// will, in this process, without libhdf5.
//
// Format (HDF5 file format spec, "Global Heap"): "GCOL", version 1, 3 zero
// bytes, collection size (L bytes, L = the superblock's size of lengths);
// then objects from byte align8(8 + L): heap object index (2 bytes),
// reference count (2), 4 reserved, object size (L), data padded to 8 bytes.
// Index 0 is the free space, whose size counts from its own first byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace qkv::io {

struct HeapProblem {
  std::string what;        // "" when every collection is well formed
  bool truncated = false;  // a collection runs past the end of the file
};

// What is wrong with the file's global heap ("global heap collection at byte
// 2048: object 3 claims 11993092 bytes, 4008 remain"). A block counts as a
// collection when it starts with "GCOL", version 1 and three zero bytes;
// blocks inside a collection already checked are its data, not collections.
// (Raw data holding those 8 bytes outside any collection, then sizes that do
// not add up, would be refused too: 2^-64 per 8 bytes of random data.)
HeapProblem global_heap_problem(const uint8_t* data, size_t size);

}  // namespace qkv::io
