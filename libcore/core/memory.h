// Memory helpers shared by tensors and file images.
#pragma once
#include <cstddef>
#include <vector>

namespace qkv {

// Asks the kernel for transparent huge pages over the 2 MiB-aligned part of
// [p, p + n), so touching a big fresh buffer costs one page fault per 2 MiB
// instead of one per 4 KiB (Debian's THP mode is "madvise": nothing happens
// unless asked). Advice only: small ranges and failures change nothing.
void advise_huge_pages(void* p, size_t n);

constexpr size_t kHugePage = size_t{2} << 20;

// Memory for big, short-lived activation buffers: a request of at least
// kBigBuffer bytes gets 2 MiB-aligned memory, rounded up to whole huge pages,
// advised for transparent huge pages before anything touches it; smaller ones
// come from operator new. On the shared VMs a fresh 4 KiB page costs ~12 us
// to fault in: a one-shot gpt forward (4x128, batch 64x64) spent 2/3 of its
// time there, and 50 MB of fresh buffers took 190-240 ms to first touch with
// 4 KiB pages, 6 ms with huge pages (measured, scripts/bench/42-forward.sh).
// (1 MiB: a (63*64, 128) float buffer, 1.97 MiB, missed a 2 MiB threshold
// and qkv-train --eval-only -b 64 on 63 windows took 5k more page faults.)
constexpr size_t kBigBuffer = kHugePage / 2;
void* allocate_big(size_t bytes);
void free_big(void* p, size_t bytes);

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocators convert implicitly
  T* allocate(size_t n) { return static_cast<T*>(allocate_big(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { free_big(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const { return false; }
};

// A std::vector whose big allocations use huge pages (activations, caches).
template <class T>
using Buffer = std::vector<T, HugePageAllocator<T>>;

}  // namespace qkv
