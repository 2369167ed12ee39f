// Getting the right OpenBLAS kernels and thread count, with no action from the user.
//
// Debian's OpenBLAS (DYNAMIC_ARCH) reads OPENBLAS_CORETYPE once, when the
// library loads; on some CPUs its own detection falls back to old kernels
// (on these machines, an AVX-512 CPU detected as "Prescott": 68 vs 312 GFLOP/s
// for sgemm 1024^3). So ensure_best_kernels(), called first thing in main(),
// compares the loaded core with what cpuid reports and, when the loaded one is
// weaker, sets OPENBLAS_CORETYPE and re-executes the program once. A user's
// own OPENBLAS_CORETYPE always wins; QKV_BLAS_AUTO=0 turns the choice off.
#pragma once
#include <string>

namespace qkv::blas {

// Best OpenBLAS core name this CPU (and OS register support) allows:
// "SkylakeX", "Haswell", "Sandybridge", or "" when nothing better than SSE.
std::string best_core_for_cpu();

// Capability rank of an OpenBLAS core name: 1 SSE-era, 2 AVX, 3 AVX2, 4 AVX-512; 0 unknown.
int core_rank(const std::string& core);

// The decision: the core to re-exec with when `loaded` is weaker than `best`
// (both OpenBLAS core names), else "". Unknown names never trigger a re-exec.
std::string upgrade_for(const std::string& loaded, const std::string& best);

// The core OpenBLAS loaded ("Prescott", "SkylakeX", ...).
std::string loaded_core();

// Re-exec argv with OPENBLAS_CORETYPE set when it is unset and the loaded core
// is weaker than best_core_for_cpu(). Returns only when no re-exec happened
// (or it failed, in which case a warning is logged and the run continues).
void ensure_best_kernels(int argc, char** argv);

// Threads for OpenBLAS and for qkv's own parallel loops. n <= 0 means all cores.
void set_threads(int n);
int threads();

// One line for -v logs: "OpenBLAS 0.3.21 core SkylakeX (set by qkv), 2 threads".
std::string describe();

}  // namespace qkv::blas
