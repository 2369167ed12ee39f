// What libpng and libjpeg say about a broken image, kept for qkv's one error
// line instead of printed to stderr.
//
// OpenCV 4.6 creates its libpng and libjpeg decoders with the libraries'
// default message handlers, which write to stderr ("libpng error: IDAT:
// invalid distance code", "Corrupt JPEG data: 242 extraneous bytes before
// marker 0xd9") before OpenCV reports a failed decode, and it offers no hook.
// This library defines png_create_read_struct and jpeg_std_error itself (the
// dynamic linker finds a library's definitions before those of libpng and
// libjpeg, which load after it as OpenCV's dependencies): each calls the real
// function, then puts qkv's handlers where OpenCV left the defaults. The
// handlers keep the message for the decoding thread; libpng's error handler
// then longjmps back into OpenCV, as libpng's own does after printing.
// Handlers OpenCV sets itself (its libjpeg error_exit) are left alone.
//
//   clear_codec_message();
//   cv::Mat m = cv::imdecode(...);
//   if (m.empty()) ... "corrupt (" + codec_message() + ")"
#pragma once
#include <string>

namespace qkv::patchify {

void clear_codec_message();          // before a decode, on its thread
const std::string& codec_message();  // the first error or warning since, "" if none

}  // namespace qkv::patchify
