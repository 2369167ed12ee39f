// Loss curves as a PNG (OpenCV drawing), written atomically so a viewer or a
// kill never sees half an image.
//
//   std::vector<Curve> c = {{"train", {1, 2, 3}, {2.1, 1.9, 1.7}}, {"val", {3}, {1.8}}};
//   plot_curves("loss.png", c, "step", "loss");
#pragma once
#include <string>
#include <vector>

namespace qkv::train {

struct Curve {
  std::string name;
  std::vector<double> x, y;
};

// PNG bytes of a line plot: axes with ticks, one colored line (with point
// markers when sparse) per curve, a legend. Non-finite points are skipped.
std::vector<unsigned char> render_curves(const std::vector<Curve>& curves, const std::string& x_label,
                                         const std::string& y_label, const std::string& title, int width = 800,
                                         int height = 500);

void plot_curves(const std::string& path, const std::vector<Curve>& curves, const std::string& x_label,
                 const std::string& y_label, const std::string& title);

}  // namespace qkv::train
