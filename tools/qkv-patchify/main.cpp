// qkv-patchify: images -> ViT patches (a "patches" HDF5 file), and back.
#include <opencv2/imgcodecs.hpp>

#include "blas/blas_setup.h"
#include "cli/tool.h"
#include "core/error.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "patchify/patchify.h"
#include "patchify/render.h"

namespace pf = qkv::patchify;

int main(int argc, char** argv) {
  qkv::cli::Tool tool("qkv-patchify",
                      "Decode, fit and cut images into ViT patches (Dosovitskiy et al. 2020): N images of HxWxC become "
                      "/patches [N, num_patches, Ph*Pw*C], each patch flattened in (row, column, channel) order, "
                      "RGB as PIL gives it. Inputs: image files, an ImageFolder-style folder (one subfolder per "
                      "class), a list file (path [label] per line), sheets cut with --grid, or MNIST-style IDX files. "
                      "'unpatchify' rebuilds the images.");
  tool.examples(
      "qkv-patchify train/ --size 224 --patch 16 -o train.h5                 # ImageFolder, HF ViT-style squash\n"
      "  qkv-patchify train/ --size 224 --fit crop --resize-shorter 256 --interp bilinear --normalize imagenet "
      "-o t.h5   # torchvision\n"
      "  qkv-patchify /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --patch 7 -o fashion.h5\n"
      "  qkv-patchify data/digits.png --grid 50x100 --grid-labels rows:5 --patch 10 --preview digits.png -o d.h5\n"
      "  qkv-patchify photos/ --size 64 --dtype uint8 --normalize none | qkv-inspect -\n"
      "  qkv-patchify unpatchify d.h5 -o digits_out/ --first 20");

  tool.subcommand_optional();
  auto& app = tool.app();
  std::vector<std::string> inputs;
  std::string out = "-", preview, size = "", fit = "squash", interp = "auto", patch = "16", stride = "",
              channels = "auto", normalize = "", dtype = "float32", grid = "", grid_labels = "none", class_names;
  pf::Options opt;
  pf::SourceOptions src;
  int preview_count = 8, compress = 0;
  app.add_option("inputs", inputs, "image files, a folder, a list file (.txt .lst .csv .tsv) or an IDX images file");
  app.add_option("-o,--output", out, "output patches file; - for stdout")->capture_default_str()->check(
      qkv::cli::writable());
  app.add_option("--size", size, "resize to HxW (or N for NxN); default: keep each image's size (all must agree)");
  app.add_option("--fit", fit, "how --size is reached: squash (ignore aspect), crop (cover, centre crop), "
                               "pad (fit inside, centre on --pad-value; also pads up to the patch grid)")
      ->capture_default_str();
  app.add_option("--resize-shorter", opt.resize_shorter,
                 "with --fit crop: first scale the shorter side to this (torchvision Resize(256) + CenterCrop(224))");
  app.add_option("--interp", interp, "auto (area shrinking, bilinear enlarging), area, bilinear, bicubic, nearest")
      ->capture_default_str();
  app.add_option("--patch", patch, "patch size P or PhxPw")->capture_default_str();
  app.add_option("--stride", stride, "patch stride S or ShxSw (default: the patch size; smaller overlaps)");
  app.add_option("--channels", channels, "auto (from the first image), gray or rgb")->capture_default_str();
  app.add_option("--normalize", normalize,
                 "none (0..255), unit (0..1), half ((x-0.5)/0.5, HF ViT), imagenet (torchvision mean/std), "
                 "custom (--mean/--std); default unit, none for --dtype uint8");
  app.add_option("--mean", opt.mean, "custom per-channel mean on the 0..1 scale (e.g. 0.5,0.5,0.5)")->delimiter(',');
  app.add_option("--std", opt.std, "custom per-channel std on the 0..1 scale")->delimiter(',');
  app.add_option("--dtype", dtype, "float32 or uint8 (raw pixels, needs --normalize none)")->capture_default_str();
  app.add_option("--pad-value", opt.pad_value, "pixel value of --fit pad borders (0..255)")->capture_default_str();
  app.add_option("--grid", grid, "cut each input image (a sheet) into ROWSxCOLS equal cells, row-major");
  app.add_option("--grid-labels", grid_labels, "labels of --grid cells: none, rows:K or cols:K (one label per block "
                                               "of K cell rows/columns; digits.png: rows:5)")
      ->capture_default_str();
  app.add_option("--labels", src.labels_path, "IDX labels file (default: the *labels-idx1-ubyte[.gz] beside the images)");
  app.add_option("--class-names", class_names, "class names for numeric labels: a,b,c or @FILE (one per line)");
  app.add_option("--limit", opt.limit, "only the first N samples")->check(CLI::NonNegativeNumber);
  app.add_option("--shard", src.shard,
                 "K/N: only the K-th of N contiguous ranges of images (counted from 0, in input order); "
                 "qkv-train reads the N outputs, given in order, as the whole");
  app.add_flag("--skip-bad", opt.skip_bad, "warn about unreadable or corrupt images and leave them out "
                                           "(counted in the 'skipped' attribute) instead of failing");
  app.add_option("--preview", preview, "also draw the first few images with their patch grid into this PNG/JPEG")
      ->check(qkv::cli::writable());
  app.add_option("--preview-count", preview_count, "images in --preview")->capture_default_str()->check(
      CLI::Range(1, 256));
  app.add_option("--compress", compress, "deflate level 1-9 for /patches (0 = none)")->capture_default_str()->check(
      CLI::Range(0, 9));

  auto* un = app.add_subcommand("unpatchify", "rebuild images from a patches file into a folder "
                                              "(exact for uint8 patches; floats are de-normalized and rounded)");
  std::string un_in, un_out;
  pf::UnpatchifyOptions uopt;
  un->add_option("file", un_in, "patches file; - for stdin")->required();
  un->add_option("-o,--output", un_out, "output folder (created)")->required();
  un->add_option("--format", uopt.format,
                 "png, jpg, bmp, ppm, pgm, tif, webp (ppm: gray images as R = G = B; pgm: gray images only)")
      ->capture_default_str();
  un->add_option("--first", uopt.first, "only the first N images")->check(CLI::NonNegativeNumber);
  un->add_flag("--by-class", uopt.by_class, "ImageFolder layout: OUT/<class name>/<index>.png");
  un->add_option("--preview", preview, "also draw a preview sheet of the first images with their patch grid");
  un->add_option("--preview-count", preview_count, "images in --preview")->check(CLI::Range(1, 256));

  return tool.run(argc, argv, [&] {
    if (!preview.empty() && !cv::haveImageWriter(preview))
      throw qkv::UsageError("--preview " + preview + ": no image format for that extension (use .png or .jpg)");
    if (un->parsed()) {
      qkv::io::H5In in(un_in);
      pf::PatchSet p = pf::read_patches(in);
      if (!preview.empty()) pf::write_image(preview, pf::preview_sheet(p, preview_count), true);
      pf::unpatchify_to_folder(p, un_out, uopt);
      return;
    }
    if (inputs.empty()) throw qkv::UsageError("no input: give image files, a folder, a list file or an IDX file");
    qkv::io::refuse_binary_to_terminal(out);
    if (!size.empty()) opt.size = pf::parse_size(size, "--size");
    opt.fit = pf::parse_fit(fit);
    opt.interp = pf::parse_interp(interp);
    opt.patch = pf::parse_size(patch, "--patch");
    if (!stride.empty()) opt.stride = pf::parse_size(stride, "--stride");
    opt.channels = pf::parse_channels(channels);
    opt.dtype = pf::parse_dtype(dtype);
    opt.normalize = !normalize.empty()             ? pf::parse_normalize(normalize)
                    : opt.dtype == qkv::DType::u8 ? pf::Normalize::none
                                                  : pf::Normalize::unit;
    opt.threads = qkv::blas::threads();
    opt.progress = !tool.globals().quiet;
    pf::validate(opt);
    if (!grid.empty()) src.grid = pf::parse_size(grid, "--grid");
    src.grid_labels = pf::parse_grid_labels(grid_labels);
    if (!class_names.empty()) src.class_names = pf::parse_class_names(class_names);
    src.limit = opt.limit;

    qkv::formats::Shard shard;
    pf::SampleSet samples = pf::collect_samples(inputs, src, &shard);
    qkv::io::H5StreamOut h5(out, pf::kPatchesKind);
    if (!src.shard.empty()) qkv::formats::write_shard_attrs(h5, shard);
    // A derived file that one rerun remakes: no fsync (see docs/FORMATS.md, "patches").
    h5.set_durable(false);
    pf::PatchSet p = pf::patchify_to(samples, opt, h5, compress, preview.empty() ? 0 : preview_count);
    std::vector<uint8_t> preview_bytes;  // encoded first, written only once the patches file is in place
    if (!preview.empty()) preview_bytes = pf::encode_image(preview, pf::preview_sheet(p, preview_count), true);
    h5.commit();
    if (!preview.empty()) qkv::io::write_atomically(preview, preview_bytes);
  });
}
