#include "blas/blas_setup.h"

#include <cblas.h>
#include <cpuid.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/threads.h"

namespace qkv::blas {
namespace {

constexpr const char* kReexecMark = "QKV_BLAS_REEXEC";  // set by us: never re-exec twice
constexpr const char* kDisable = "QKV_BLAS_AUTO";       // QKV_BLAS_AUTO=0: keep OpenBLAS's own choice

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

}  // namespace

std::string best_core_for_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return "";
  bool osxsave = c & bit_OSXSAVE, avx = c & bit_AVX, fma = c & bit_FMA;
  if (!osxsave || !avx) return "";
  uint64_t xcr0 = xgetbv0();
  bool ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
  if (!ymm_ok) return "";
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  __get_cpuid_count(7, 0, &a7, &b7, &c7, &d7);
  bool avx2 = b7 & bit_AVX2;
  bool avx512 = (b7 & bit_AVX512F) && (b7 & bit_AVX512DQ) && (b7 & bit_AVX512CD) && (b7 & bit_AVX512BW) &&
                (b7 & bit_AVX512VL);
  if (avx512 && zmm_ok) return "SkylakeX";
  if (avx2 && fma) return "Haswell";
  return "Sandybridge";
#else
  return "";
#endif
}

int core_rank(const std::string& core) {
  static const std::vector<std::pair<std::string, int>> ranks = {
      {"prescott", 1},   {"core2", 1},     {"penryn", 1},       {"dunnington", 1}, {"nehalem", 1},
      {"atom", 1},       {"opteron", 1},   {"opteron_sse3", 1}, {"barcelona", 1},  {"bobcat", 1},
      {"katmai", 1},     {"coppermine", 1}, {"northwood", 1},   {"banias", 1},     {"athlon", 1},
      {"sandybridge", 2}, {"bulldozer", 2}, {"piledriver", 2},  {"steamroller", 2},
      {"haswell", 3},    {"zen", 3},       {"excavator", 3},
      {"skylakex", 4},   {"cooperlake", 4}, {"sapphirerapids", 4}};
  std::string c = lower(core);
  for (auto& [name, r] : ranks)
    if (c == name) return r;
  return 0;
}

std::string upgrade_for(const std::string& loaded, const std::string& best) {
  int have = core_rank(loaded), want = core_rank(best);
  if (best.empty() || have == 0 || have >= want) return "";
  return best;
}

std::string loaded_core() {
  const char* name = openblas_get_corename();
  return name ? std::string(name) : std::string();
}

void ensure_best_kernels(int argc, char** argv) {
  (void)argc;
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv(kReexecMark)) return;
  if (const char* off = std::getenv(kDisable); off && std::string(off) == "0") return;
  std::string loaded = loaded_core();
  std::string best = upgrade_for(loaded, best_core_for_cpu());
  if (best.empty()) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  setenv(kReexecMark, loaded.c_str(), 1);  // remembers what OpenBLAS picked by itself
  execv("/proc/self/exe", argv);
  // Only reached when exec failed: run on with the weaker kernels.
  spdlog::warn("could not re-exec with OPENBLAS_CORETYPE={} ({}); using OpenBLAS core {}", best,
               std::strerror(errno), loaded);
  unsetenv("OPENBLAS_CORETYPE");
}

void set_threads(int n) { qkv::set_threads(n); }  // reaches OpenBLAS through the hooks below

int threads() { return qkv::threads(); }

std::string describe() {
  std::string s = "OpenBLAS core " + loaded_core();
  if (const char* prev = std::getenv(kReexecMark))
    s += std::string(" (OPENBLAS_CORETYPE set by qkv; self-detected ") + prev + ")";
  else if (std::getenv("OPENBLAS_CORETYPE"))
    s += " (OPENBLAS_CORETYPE set by the user)";
  s += ", " + std::to_string(threads()) + " threads";
  const char* cfg = openblas_get_config();
  if (cfg) s += std::string(", config: ") + cfg;
  return s;
}

namespace {
// Joins libqkvbase's thread count and cli::Tool when this library loads (core/threads.h).
const BlasHooks kHooks{ensure_best_kernels, [](int n) { openblas_set_num_threads(n); },
                       [] { return openblas_get_num_threads(); }, describe};
[[maybe_unused]] const bool kRegistered = (register_blas(&kHooks), true);
}  // namespace

}  // namespace qkv::blas
