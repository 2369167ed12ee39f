// Memory helpers shared by tensors and file images.
#pragma once
#include <cstddef>

namespace qkv {

// Asks the kernel for transparent huge pages over the 2 MiB-aligned part of
// [p, p + n), so touching a big fresh buffer costs one page fault per 2 MiB
// instead of one per 4 KiB (Debian's THP mode is "madvise": nothing happens
// unless asked). Advice only: small ranges and failures change nothing.
void advise_huge_pages(void* p, size_t n);

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace qkv
