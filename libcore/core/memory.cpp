#include "core/memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace qkv {

void advise_huge_pages(void* p, size_t n) {
  uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  uintptr_t b = (begin + kHugePage - 1) / kHugePage * kHugePage, e = end / kHugePage * kHugePage;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
}

void* allocate_big(size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);
  const size_t n = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, n);
  if (!p) throw std::bad_alloc();
  advise_huge_pages(p, n);
  return p;
}

void free_big(void* p, size_t bytes) {
  if (bytes < kHugePage) ::operator delete(p);
  else std::free(p);
}

}  // namespace qkv
