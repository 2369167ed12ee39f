#include "draw/attention_png.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "formats/file_set.h"
#include "formats/patches.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "patchify/image.h"
#include "tokenize/tokenizer.h"

namespace qkv::draw {

namespace fs = std::filesystem;

void check_png_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw UsageError("--png " + dir + ": cannot create the folder (" + ec.message() + ")");
  const std::string probe = (fs::path(dir) / ".qkv-write-test").string();
  {
    std::ofstream f(probe);
    if (!f) throw UsageError("--png " + dir + ": the folder is not writable");
  }
  fs::remove(probe, ec);
}

// U+00C0 .. U+00FF (UTF-8 0xC3 0x80 .. 0xBF) in ASCII: German umlauts and ß as
// their usual digraphs, the other accented letters without the accent.
// Written out rather than iconv's ASCII//TRANSLIT, whose result depends on the
// locale (the C locale gives '?'), so pictures are the same on every machine.
constexpr const char* kLatin1Ascii[64] = {
    "A", "A", "A", "A", "Ae", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
    "D", "N", "O", "O", "O", "O", "Oe", "x", "O", "U", "U", "U", "Ue", "Y", "Th", "ss",
    "a", "a", "a", "a", "ae", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "oe", "/", "o", "u", "u", "u", "ue", "y", "th", "y"};

std::string ascii_label(const std::string& piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    const unsigned char c = static_cast<unsigned char>(piece[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const unsigned char c1 = i + 1 < piece.size() ? static_cast<unsigned char>(piece[i + 1]) : 0;
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) out.push_back('_');  // the space mark U+2581
    else if (c == 0xC3 && (c1 & 0xC0) == 0x80) out += kLatin1Ascii[c1 & 0x3F];
    else if (c == 0xC5 && (c1 == 0x92 || c1 == 0x93)) out += c1 == 0x92 ? "OE" : "oe";  // U+0152, U+0153
    else out.push_back('?');
    ++i;
    while (i < piece.size() && (static_cast<unsigned char>(piece[i]) & 0xC0) == 0x80) ++i;  // continuation bytes
  }
  return out;
}

namespace {

const cv::Scalar kBlack(0, 0, 0), kWhite(255, 255, 255);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// (tq, tk) weights -> viridis BGR, each cell `cell` pixels square; colours span 0 .. the map's max.
cv::Mat heatmap(const float* w, int64_t tq, int64_t tk, int cell) {
  float top = 0.0f;
  for (int64_t i = 0; i < tq * tk; ++i) top = std::max(top, w[i]);
  cv::Mat gray(static_cast<int>(tq), static_cast<int>(tk), CV_8U);
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = 0; j < tk; ++j)
      gray.at<uint8_t>(static_cast<int>(i), static_cast<int>(j)) =
          static_cast<uint8_t>(std::lround(top > 0 ? 255.0f * std::max(0.0f, w[i * tk + j]) / top : 0.0f));
  cv::Mat big, colour;
  cv::resize(gray, big, {static_cast<int>(tk) * cell, static_cast<int>(tq) * cell}, 0, 0, cv::INTER_NEAREST);
  cv::applyColorMap(big, colour, cv::COLORMAP_VIRIDIS);
  return colour;
}

void put(cv::Mat& img, const std::string& text, cv::Point at, double scale = 0.4) {
  cv::putText(img, text, at, kFont, scale, kBlack, 1, cv::LINE_AA);
}

// Pixels per token: large maps get small cells (at least 1 px), small ones up to 24 px.
int cell_for(int64_t tq, int64_t tk, int budget) {
  return static_cast<int>(std::clamp<int64_t>(budget / std::max<int64_t>(1, std::max(tq, tk)), 1, 24));
}

// A single heatmap with query labels on the left and key labels above (written upwards), and a title.
cv::Mat labelled_heatmap(const float* w, int64_t tq, int64_t tk, const std::vector<std::string>& qlab,
                         const std::vector<std::string>& klab, const std::string& title) {
  const int cell = cell_for(tq, tk, 720);
  const bool labels = cell >= 10;
  int lw = 0;
  for (const auto& v : {qlab, klab})
    for (const std::string& s : v) lw = std::max(lw, cv::getTextSize(s, kFont, 0.4, 1, nullptr).width);
  lw = labels ? lw + 8 : 0;
  cv::Mat map = heatmap(w, tq, tk, cell);
  // the map sits in the bottom-right corner, 10 px from the edges; labels left of it and above it
  const int title_w = cv::getTextSize(title, kFont, 0.5, 1, nullptr).width + 20;
  cv::Mat img(30 + lw + map.rows + 10, std::max({10 + lw + map.cols + 10, 300, title_w}), CV_8UC3, kWhite);
  const int top = 30 + lw, left = img.cols - 10 - map.cols;
  map.copyTo(img(cv::Rect(left, top, map.cols, map.rows)));
  put(img, title, {10, 20}, 0.5);
  if (labels) {
    for (int64_t i = 0; i < tq; ++i) {
      const cv::Size sz = cv::getTextSize(qlab[i], kFont, 0.4, 1, nullptr);
      put(img, qlab[i], {left - 4 - sz.width, top + static_cast<int>(i) * cell + cell / 2 + sz.height / 2});
    }
    // key labels: drawn on a strip, rotated to read upwards
    // (row j of the strip, read left to right) -> (column j, read upwards from the map)
    cv::Mat strip(cell * static_cast<int>(tk), lw, CV_8UC3, kWhite);
    for (int64_t j = 0; j < tk; ++j) {
      const cv::Size sz = cv::getTextSize(klab[j], kFont, 0.4, 1, nullptr);
      put(strip, klab[j], {4, static_cast<int>(j) * cell + cell / 2 + sz.height / 2});
    }
    cv::Mat up;
    cv::rotate(strip, up, cv::ROTATE_90_COUNTERCLOCKWISE);
    up.copyTo(img(cv::Rect(left, top - lw - 2, up.cols, up.rows)));
  }
  return img;
}

// The model view: rows = layers, columns = heads.
cv::Mat grid_view(const std::vector<float>& w, int64_t nl, int64_t nh, int64_t tq, int64_t tk,
                  const std::vector<int64_t>& layers, const std::vector<int64_t>& heads, const std::string& title) {
  const int cell = cell_for(tq, tk, 160);
  const int cw = static_cast<int>(tk) * cell, ch = static_cast<int>(tq) * cell, gap = 8, left = 40, top = 50;
  cv::Mat img(top + static_cast<int>(nl) * (ch + gap + 14), std::max(left + static_cast<int>(nh) * (cw + gap), 320),
              CV_8UC3, kWhite);
  put(img, title, {10, 20}, 0.5);
  for (int64_t h = 0; h < nh; ++h) put(img, "H" + std::to_string(heads[h]), {left + static_cast<int>(h) * (cw + gap), top - 8});
  for (int64_t l = 0; l < nl; ++l) {
    const int y = top + static_cast<int>(l) * (ch + gap + 14);
    put(img, "L" + std::to_string(layers[l]), {4, y + ch / 2 + 4});
    for (int64_t h = 0; h < nh; ++h) {
      cv::Mat m = heatmap(w.data() + (l * nh + h) * tq * tk, tq, tk, cell);
      m.copyTo(img(cv::Rect(left + static_cast<int>(h) * (cw + gap), y, m.cols, m.rows)));
    }
  }
  return img;
}

void save(const cv::Mat& img, const std::string& path, std::vector<std::string>& files) {
  std::vector<uint8_t> png;
  if (!cv::imencode(".png", img, png)) throw DataError(path + ": PNG encoding failed");
  io::write_atomically(path, png);
  files.push_back(path);
}

std::vector<int64_t> ints(const io::H5In& in, const std::string& name) {
  Tensor t = in.read(name, DType::i64);
  return {t.data<int64_t>(), t.data<int64_t>() + t.numel()};
}

// Token labels of one ragged group (tokens, source_tokens) for example e: the whole sequence, or
// [from, from + n) of it.
struct Labels {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets;
  std::vector<std::string> pieces;  // by id (ASCII); empty: ids label the tokens
  int64_t size(int64_t e) const { return offsets[e + 1] - offsets[e]; }
  std::string name(int64_t id) const {
    return id >= 0 && id < static_cast<int64_t>(pieces.size()) ? pieces[id] : std::to_string(id);
  }
  std::vector<std::string> of(int64_t e, int64_t from, int64_t n) const {
    std::vector<std::string> out;
    for (int64_t i = offsets[e] + std::max<int64_t>(0, from); i < offsets[e] + from + n && i < offsets[e + 1]; ++i) {
      std::string s = name(ids[i]);
      if (s.size() > 14) s = s.substr(0, 13) + "~";
      out.push_back(s);
    }
    out.resize(static_cast<size_t>(n), "?");  // never short, whatever a file holds
    return out;
  }
};

Labels read_labels(const io::H5In& in, const std::string& group, const tokenize::Tokenizer* tok) {
  Labels l;
  Tensor ids = in.read(group + "/ids", DType::i32);
  l.ids.assign(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel());
  l.offsets = ints(in, group + "/offsets");
  // the tokenizer given, else the pieces stored by qkv-attend -t
  const std::vector<std::string> stored = tok || !in.has(group + "/pieces") ? std::vector<std::string>{}
                                                                            : in.read_strings(group + "/pieces");
  for (int32_t id = 0; tok && id < tok->vocab_size(); ++id) l.pieces.push_back(ascii_label(tok->display_piece(id)));
  for (const std::string& p : stored) l.pieces.push_back(ascii_label(p));
  return l;
}

// vit: the image with a per-patch score map (grid rows x cols) laid over it; plain | overlay side by side.
cv::Mat overlay(const cv::Mat& rgb, const std::vector<float>& score, const formats::Grid& g) {
  cv::Mat bgr;
  if (rgb.channels() == 1)
    cv::cvtColor(rgb, bgr, cv::COLOR_GRAY2BGR);
  else
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const int scale = std::max(1, 224 / std::max(bgr.rows, bgr.cols));
  cv::resize(bgr, bgr, {bgr.cols * scale, bgr.rows * scale}, 0, 0, cv::INTER_NEAREST);
  float top = 0.0f;
  for (float v : score) top = std::max(top, v);
  cv::Mat gm(g.rows, g.cols, CV_8U);
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c)
      gm.at<uint8_t>(r, c) = static_cast<uint8_t>(std::lround(top > 0 ? 255.0f * score[r * g.cols + c] / top : 0.0f));
  cv::Mat up, colour, mixed;
  cv::resize(gm, up, bgr.size(), 0, 0, cv::INTER_CUBIC);
  cv::applyColorMap(up, colour, cv::COLORMAP_JET);
  cv::addWeighted(bgr, 0.5, colour, 0.5, 0.0, mixed);
  cv::Mat img(bgr.rows + 30, 2 * bgr.cols + 10, CV_8UC3, kWhite);
  bgr.copyTo(img(cv::Rect(0, 30, bgr.cols, bgr.rows)));
  mixed.copyTo(img(cv::Rect(bgr.cols + 10, 30, bgr.cols, bgr.rows)));
  return img;
}

}  // namespace

std::vector<std::string> draw_attention(const DrawOptions& o) {
  io::H5In in(o.attention);
  in.expect_kind("attention");
  check_png_dir(o.dir);
  std::unique_ptr<tokenize::Tokenizer> src_tok, tgt_tok;
  if (!o.tokenizer.empty()) src_tok = std::make_unique<tokenize::Tokenizer>(tokenize::Tokenizer::load(o.tokenizer));
  if (!o.tgt_tokenizer.empty())
    tgt_tok = std::make_unique<tokenize::Tokenizer>(tokenize::Tokenizer::load(o.tgt_tokenizer));
  const tokenize::Tokenizer* tgt_labels = tgt_tok ? tgt_tok.get() : src_tok.get();

  const int64_t n = std::min(o.examples, in.attr_int("/", "n_examples"));
  const std::vector<int64_t> index = ints(in, "examples/index"), source = ints(in, "examples/source");
  // Labels (docs/FORMATS.md, attention): "tokens" is the sequence (gpt) or the target side (seq2seq:
  // [bos] y [eos], or a decoded hypothesis after its context); "source_tokens" the seq2seq source.
  const bool text = in.has("tokens");
  const bool seq2seq = in.has("source_tokens");
  Labels tokens, source_labels;
  if (text) tokens = read_labels(in, "tokens", seq2seq ? tgt_labels : src_tok.get());
  if (seq2seq) source_labels = read_labels(in, "source_tokens", src_tok.get());

  std::unique_ptr<formats::FileSet<formats::PatchesReader>> images;
  if (!text && !o.images.empty()) {
    const std::vector<std::string> paths = formats::expand_list_files(o.images);
    images = std::make_unique<formats::FileSet<formats::PatchesReader>>(paths);
    for (size_t f = 0; images && f < images->files(); ++f)
      if (!images->file(f).has_meta() && !o.images_required) images.reset();
      else if (!images->file(f).has_meta())
        throw DataError(paths[f] + ": has no image geometry attributes (written by qkv-patchify), cannot draw images");
    const int64_t last = n > 0 ? *std::max_element(source.begin(), source.begin() + n) : -1;
    if (images && images->size() <= last)
      throw DataError(formats::files_name(paths) + ": " + std::to_string(images->size()) + " images, but " +
                      o.attention + " comes from image " + std::to_string(last) +
                      " (give the patches file(s) the attention came from)");
  }

  std::vector<std::string> files;
  const fs::path dir(o.dir);
  for (const std::string& kind : in.attr_strings("/", "kinds")) {
    const std::vector<int64_t> tq = ints(in, kind + "/tq"), tk = ints(in, kind + "/tk");
    const std::vector<int64_t> layers = in.attr_ints(kind, "layers"), heads = in.attr_ints(kind, "heads");
    const bool has_w = in.has(kind + "/weights") && !layers.empty();
    const bool has_roll = in.has(kind + "/rollout");
    const int64_t nl = static_cast<int64_t>(layers.size()), nh = static_cast<int64_t>(heads.size());
    const std::vector<int64_t> off = has_w ? ints(in, kind + "/offsets") : std::vector<int64_t>{};
    const std::vector<int64_t> roff = has_roll ? ints(in, kind + "/rollout_offsets") : std::vector<int64_t>{};
    const bool has_grad = in.has(kind + "/grad_rollout");
    const std::vector<int64_t> goff = has_grad ? ints(in, kind + "/grad_rollout_offsets") : std::vector<int64_t>{};
    const std::vector<int64_t> gpos = has_grad ? ints(in, "grad_target/position") : std::vector<int64_t>{};
    const std::vector<int64_t> gid = has_grad ? ints(in, "grad_target/id") : std::vector<int64_t>{};
    for (int64_t e = 0; e < n; ++e) {
      const std::string stem = (dir / ("ex" + std::to_string(index[e]) + "-" + kind)).string();
      const int64_t q = tq[e], k = tk[e];
      std::vector<float> w, mean(q * k, 0.0f), roll, grad;  // (layers, heads, q, k), (q, k), (q, q), (q, k)
      if (has_w) {
        Tensor t = in.read_rows(kind + "/weights", DType::f32, off[e], off[e + 1]);
        w.assign(t.data<float>(), t.data<float>() + t.numel());
        save(grid_view(w, nl, nh, q, k, layers, heads, kind + ", example " + std::to_string(index[e])),
             stem + "-heads.png", files);
        for (int64_t h = 0; h < nh; ++h)
          for (int64_t i = 0; i < q * k; ++i) mean[i] += w[((nl - 1) * nh + h) * q * k + i] / static_cast<float>(nh);
      }
      if (has_roll) {
        Tensor t = in.read_rows(kind + "/rollout", DType::f32, roff[e], roff[e + 1]);
        roll.assign(t.data<float>(), t.data<float>() + t.numel());
      }
      if (has_grad) {
        Tensor t = in.read_rows(kind + "/grad_rollout", DType::f32, goff[e], goff[e + 1]);
        grad.assign(t.data<float>(), t.data<float>() + t.numel());
      }
      if (text) {
        // self kinds: keys are the first tk tokens, queries the last tq of those (a decoded hypothesis
        // reads its context first); cross/additive: keys are the source, queries the decoder's inputs,
        // every target token but the last.
        std::vector<std::string> ql, kl;
        if (kind == "encoder_self") {
          ql = source_labels.of(e, k - q, q), kl = source_labels.of(e, 0, k);
        } else if (kind == "cross" || kind == "additive") {
          ql = tokens.of(e, tokens.size(e) - 1 - q, q), kl = source_labels.of(e, 0, k);
        } else {
          ql = tokens.of(e, k - q, q), kl = tokens.of(e, 0, k);
        }
        if (has_w)
          save(labelled_heatmap(mean.data(), q, k, ql, kl,
                                kind + ", layer " + std::to_string(layers.back()) + ", mean of " +
                                    std::to_string(nh) + " heads"),
               stem + ".png", files);
        if (has_roll) save(labelled_heatmap(roll.data(), q, q, ql, ql, kind + ", rollout"), stem + "-rollout.png", files);
        if (has_grad) {
          // the target is predicted at query gpos[e] of the sequence / decoder: its row (marked) explains it
          if (kind != "encoder_self" && gpos[e] >= 0 && gpos[e] < q) ql[gpos[e]] = ">" + ql[gpos[e]];
          // self-attention stacks: R = I + ..., drawn without I (the token itself), which would outshine the rest
          const bool self = kind != "cross" && q == k;
          if (self)
            for (int64_t i = 0; i < q; ++i) grad[i * q + i] -= 1.0f;
          save(labelled_heatmap(grad.data(), q, k, ql, kl,
                                kind + ", gradient rollout" + (self ? " - I" : "") + " of '" + tokens.name(gid[e]) +
                                    "' at row " + std::to_string(gpos[e])),
               stem + "-grad-rollout.png", files);
        }
      } else if (images && (has_w || has_roll || has_grad)) {
        const auto [file, at] = images->locate(source[e]);
        const formats::PatchMeta& meta = images->file(file).meta();
        const int64_t first = in.attr_int("/", "first_patch"), P = meta.grid.num_patches();
        Tensor raw = images->file(file).read_stored(at, at + 1);  // (1, P, D)
        const cv::Mat rgb = raw.dtype() == DType::u8
                                ? patchify::assemble_image(raw.data<uint8_t>(), meta.grid, meta.channels)
                                : patchify::assemble_image(raw.data<float>(), meta.grid, meta.channels, meta.mean, meta.std);
        // a (q, q) map over the patches: the [CLS] query's row, or (mean pooling) the mean over queries
        auto draw_over = [&](const std::vector<float>& a, const std::string& title, const std::string& name) {
          std::vector<float> score(P, 0.0f);  // (rows * cols)
          for (int64_t p = 0; p < P; ++p) {
            if (first)
              score[p] = a[first + p];
            else
              for (int64_t i = 0; i < q; ++i) score[p] += a[i * q + p] / static_cast<float>(q);
          }
          cv::Mat img = overlay(rgb, score, meta.grid);
          put(img, title + (first ? ", [CLS] row" : ", mean over queries") + ", example " + std::to_string(index[e]),
              {4, 20});
          save(img, (dir / ("ex" + std::to_string(index[e]) + name)).string(), files);
        };
        if (has_w || has_roll) draw_over(has_roll ? roll : mean, has_roll ? "rollout" : "last layer, head mean", "-image.png");
        if (has_grad)
          draw_over(grad, "gradient rollout of class " + std::to_string(gid[e]), "-image-grad-rollout.png");
      }
    }
  }
  return files;
}

}  // namespace qkv::draw

// Entry points for tools that load libqkvimage only when they draw (attend/pictures.h, core/plugin.h).
extern "C" void qkv_check_png_dir(const std::string& dir) { qkv::draw::check_png_dir(dir); }
extern "C" void qkv_draw_attention(const qkv::draw::DrawOptions& o, std::vector<std::string>& files) {
  files = qkv::draw::draw_attention(o);
}
