#include "patchify/codec_messages.h"

#include <dlfcn.h>

#include <string>

namespace qkv::patchify {
namespace {

thread_local std::string t_message;

void keep(const char* what) {
  if (t_message.empty() && what) t_message = what;
}

// The real function of a library OpenCV has loaded already.
void* real_symbol(const char* library, const char* name, const char* version) {
  void* lib = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
  void* f = lib ? dlvsym(lib, name, version) : nullptr;
  if (!f) f = dlsym(RTLD_NEXT, name);
  if (lib) dlclose(lib);  // NOLOAD took a reference; the library stays loaded
  return f;
}

// libpng 1.6 (libpng16.so.16): png_structp is opaque here.
using PngMessageFn = void (*)(void* png, const char* message);
using PngCreate = void* (*)(const char* version, void* error_ptr, PngMessageFn error_fn, PngMessageFn warn_fn);
using PngLongjmp = void (*)(void* png, int value);

PngLongjmp png_longjmp_fn() {
  static PngLongjmp f = reinterpret_cast<PngLongjmp>(real_symbol("libpng16.so.16", "png_longjmp", "PNG16_0"));
  return f;
}

void png_error_kept(void* png, const char* message) {
  keep(message);
  png_longjmp_fn()(png, 1);  // back to OpenCV's setjmp; never returns
}

void png_warning_kept(void*, const char* message) { keep(message); }

// libjpeg 6.2 ABI (libjpeg62-turbo): the first members of jpeg_error_mgr and
// jpeg_common_struct, as jpeglib.h declares them.
struct JpegCommon;
struct JpegErrorMgr {
  void (*error_exit)(JpegCommon*);
  void (*emit_message)(JpegCommon*, int);
  void (*output_message)(JpegCommon*);
  void (*format_message)(JpegCommon*, char*);
};
struct JpegCommon {
  JpegErrorMgr* err;
};
using JpegStdError = JpegErrorMgr* (*)(JpegErrorMgr*);
constexpr int kJpegMessageMax = 200;  // JMSG_LENGTH_MAX

void jpeg_output_kept(JpegCommon* cinfo) {
  char buffer[kJpegMessageMax] = {0};
  cinfo->err->format_message(cinfo, buffer);
  keep(buffer);
}

}  // namespace

void clear_codec_message() { t_message.clear(); }
const std::string& codec_message() { return t_message; }

}  // namespace qkv::patchify

using namespace qkv::patchify;

extern "C" {

// Interposes libpng's: OpenCV passes no handlers (the printing defaults).
__attribute__((visibility("default"))) void* png_create_read_struct(const char* version, void* error_ptr,
                                                                    PngMessageFn error_fn, PngMessageFn warn_fn) {
  static PngCreate real =
      reinterpret_cast<PngCreate>(real_symbol("libpng16.so.16", "png_create_read_struct", "PNG16_0"));
  if (!real || !png_longjmp_fn()) return nullptr;  // OpenCV then reports a failed decode
  return real(version, error_ptr, error_fn ? error_fn : png_error_kept, warn_fn ? warn_fn : png_warning_kept);
}

// Interposes libjpeg's: its output_message prints warnings and errors.
__attribute__((visibility("default"))) JpegErrorMgr* jpeg_std_error(JpegErrorMgr* err) {
  static JpegStdError real =
      reinterpret_cast<JpegStdError>(real_symbol("libjpeg.so.62", "jpeg_std_error", "LIBJPEG_6.2"));
  if (!real) return err;  // unreachable while OpenCV links libjpeg
  JpegErrorMgr* e = real(err);
  e->output_message = jpeg_output_kept;
  return e;
}

}  // extern "C"
