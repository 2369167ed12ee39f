#include "attend/pictures.h"

#include "core/plugin.h"

namespace qkv::attend {

namespace {
void* image_library() {
  static void* lib = core::load_library(QKV_IMAGE_LIBRARY);
  return lib;
}
}  // namespace

void check_png_dir(const std::string& dir) {
  auto* f = reinterpret_cast<void (*)(const std::string&)>(core::library_symbol(image_library(), "qkv_check_png_dir"));
  f(dir);
}

std::vector<std::string> draw_pictures(const draw::DrawOptions& o) {
  auto* f = reinterpret_cast<void (*)(const draw::DrawOptions&, std::vector<std::string>&)>(
      core::library_symbol(image_library(), "qkv_draw_attention"));
  std::vector<std::string> files;
  f(o, files);
  return files;
}

}  // namespace qkv::attend
