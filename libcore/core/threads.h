// The thread count of a run (--threads), and the hooks through which a BLAS
// library joins in when a tool loads one.
//
// libqkvbase (core, io, cli, tokenize, inspect) does not link OpenBLAS, so a
// tool built on it alone (qkv-tokenize, qkv-inspect) never loads it. libqkvnn
// does: when it is loaded, blas/blas_setup.cpp registers BlasHooks before
// main() runs, and from then on cli::Tool picks the best OpenBLAS kernels,
// --threads reaches OpenBLAS, and -v logs the BLAS configuration, exactly as
// for a tool that always linked it. Code in libqkvnn keeps calling
// blas::threads()/blas::set_threads(), which are these plus OpenBLAS.
#pragma once
#include <string>

namespace qkv {

// Threads for qkv's own loops (and BLAS, when loaded). n <= 0 means all cores.
// --threads at most this (more threads than any machine has cores only
// multiplies per-thread buffers: 100000 made an encode take 12.8 GB).
constexpr int kMaxThreads = 1024;
void set_threads(int n);
int threads();  // all cores until set_threads() was called

struct BlasHooks {
  void (*ensure_best_kernels)(int argc, char** argv);  // may re-exec (blas/blas_setup.h)
  void (*set_threads)(int n);                          // n >= 1
  int (*get_threads)();                                // the BLAS library's current count
  std::string (*describe)();                           // one line for -v logs
};
// Called once by a BLAS library while it loads; hooks must outlive the process.
void register_blas(const BlasHooks* hooks);
// The registered hooks, or nullptr when no BLAS library is loaded.
const BlasHooks* blas_hooks();

}  // namespace qkv
