#include "core/memory.h"

#include <sys/mman.h>

#include <cstdint>

namespace qkv {

void advise_huge_pages(void* p, size_t n) {
  uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
  uintptr_t b = (begin + kHugePage - 1) / kHugePage * kHugePage, e = end / kHugePage * kHugePage;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
}

}  // namespace qkv
