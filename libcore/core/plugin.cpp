#include "core/plugin.h"

#include <dlfcn.h>

#include <filesystem>

#include "core/error.h"

namespace qkv::core {

void* load_library(const std::string& file) {
  Dl_info self{};
  std::string path = file;
  if (dladdr(reinterpret_cast<void*>(&load_library), &self) && self.dli_fname)
    path = (std::filesystem::path(self.dli_fname).parent_path() / file).string();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw DataError(path + ": cannot load (" + std::string(why ? why : "unknown error") + ")");
  }
  return lib;
}

void* library_symbol(void* library, const char* symbol) {
  dlerror();
  void* f = dlsym(library, symbol);
  if (!f) throw DataError(std::string("qkv library has no ") + symbol + " (a mix of qkv versions?)");
  return f;
}

}  // namespace qkv::core
