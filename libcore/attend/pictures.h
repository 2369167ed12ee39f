// qkv-attend's pictures (--png, `qkv-attend draw`): drawn by libcore/draw in
// libqkvimage (OpenCV), which is loaded only when a picture is asked for
// (core/plugin.h), so an export without --png never loads OpenCV.
#pragma once
#include <string>
#include <vector>

#include "draw/attention_png.h"

namespace qkv::attend {

// draw::check_png_dir and draw::draw_attention, through the lazily loaded library.
void check_png_dir(const std::string& dir);
std::vector<std::string> draw_pictures(const draw::DrawOptions& o);

}  // namespace qkv::attend
