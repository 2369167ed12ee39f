// Pictures of a qkv-attend file (qkv_format "attention", docs/FORMATS.md),
// drawn with OpenCV, each PNG written atomically into one folder:
//
//   ex<i>-<kind>-heads.png    the model view: a heatmap per exported layer
//                             (rows) x head (columns), queries down, keys across
//   ex<i>-<kind>.png          the mean over heads of the last exported layer,
//                             labelled with the tokens (pieces of the
//                             tokenizer given, else of the file's
//                             <group>/pieces, else ids); for cross and additive
//                             attention this is the alignment picture of NMT
//                             papers (target down, source across)
//   ex<i>-<kind>-rollout.png  the stored rollout, labelled (text)
//   ex<i>-<kind>-grad-rollout.png  the stored gradient rollout (tq, tk),
//                             labelled; self-attention stacks without the
//                             identity (R - I), the target's row marked '>'
//   ex<i>-image-grad-rollout.png  vit: as ex<i>-image.png, with the [CLS]
//                             row of the gradient rollout
//   ex<i>-image.png           vit: the image beside the same image overlaid
//                             with the [CLS] row of the rollout (or, without
//                             --rollout, of the last layer's head mean) over
//                             its patches; mean-pool models: the column mean
//
// A heatmap's colours (viridis) span 0 .. the largest weight of that map.
//
//   draw::DrawOptions o;  o.attention = "att.h5";  o.dir = "maps";  o.tokenizer = "tok.h5";
//   std::vector<std::string> files = draw::draw_attention(o);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv::draw {

// A token's label in ASCII, which OpenCV's Hershey fonts draw: the space mark
// U+2581 becomes '_', Latin-1 letters lose their accents (German umlauts and
// ß become ae, oe, ue, ss; "weißen" -> "weissen"), any other non-ASCII character '?'.
std::string ascii_label(const std::string& piece);

struct DrawOptions {
  std::string attention;                 // qkv-attend's output
  std::string dir;                       // where the PNGs go (created)
  std::string tokenizer, tgt_tokenizer;  // token labels: source/sequence side, target side (default: tokenizer)
  std::vector<std::string> images;       // vit: the patches file(s) the attention came from (none = no overlay)
  bool images_required = true;           // false: images without geometry attributes draw no overlay (no error)
  int64_t examples = 8;                  // the first this-many examples of the file are drawn
};

// Creates dir when missing; UsageError when it cannot be created or written. Tools call it before the work.
void check_png_dir(const std::string& dir);

// Draws the pictures above; returns the files written, in order.
std::vector<std::string> draw_attention(const DrawOptions& o);

}  // namespace qkv::draw
