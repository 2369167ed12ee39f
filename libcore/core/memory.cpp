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

// Big buffers come straight from mmap, 2 MiB aligned: through malloc they may
// land in the brk heap (glibc raises its mmap threshold after a big free),
// where the advice took effect in qkv-model but not in qkv-train (measured:
// 5k of qkv-train --eval-only's page faults were in these buffers).
namespace {
size_t big_size(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

void* allocate_big(size_t bytes) {
  if (bytes < kBigBuffer) return ::operator new(bytes);
  const size_t n = big_size(bytes), span = n + kHugePage;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t base = reinterpret_cast<uintptr_t>(m);
  const uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (start > base) munmap(m, start - base);                        // the unaligned head
  const uintptr_t end = start + n, stop = base + span;
  if (stop > end) munmap(reinterpret_cast<void*>(end), stop - end);  // and tail
  void* p = reinterpret_cast<void*>(start);
  madvise(p, n, MADV_HUGEPAGE);
  return p;
}

void free_big(void* p, size_t bytes) {
  if (bytes < kBigBuffer) ::operator delete(p);
  else munmap(p, big_size(bytes));
}

}  // namespace qkv
