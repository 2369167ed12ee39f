#include "core/threads.h"

#include <algorithm>
#include <thread>

namespace qkv {
namespace {
int g_threads = 0;
const BlasHooks* g_blas = nullptr;
}  // namespace

void set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  g_threads = n;
  if (g_blas) g_blas->set_threads(n);
}

int threads() {
  if (g_threads > 0) return g_threads;
  if (g_blas) return std::max(1, g_blas->get_threads());
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void register_blas(const BlasHooks* hooks) { g_blas = hooks; }
const BlasHooks* blas_hooks() { return g_blas; }

}  // namespace qkv
