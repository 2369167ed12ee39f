// Libraries a tool needs only sometimes, loaded when needed (dlopen) instead
// of at start. qkv-attend draws pictures with libqkvimage, which pulls in
// OpenCV (~50 MB resident, ~140 libraries): linked normally, every export run
// would pay for it; loaded here, only runs with --png do.
//
//   void* lib = core::load_library(QKV_IMAGE_LIBRARY);   // "libqkvimage.so.0"
//   auto* f = reinterpret_cast<void (*)(int)>(core::library_symbol(lib, "qkv_something"));
//
// The file is looked up in the folder of libqkvbase (the build tree's
// libcore/ or the installed lib/: qkv's libraries always sit together).
#pragma once
#include <string>

namespace qkv::core {

void* load_library(const std::string& file);             // DataError naming the file and dlerror()
void* library_symbol(void* library, const char* symbol);  // DataError when absent

}  // namespace qkv::core
