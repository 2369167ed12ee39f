// qkv-attend --png / qkv-attend draw: the pictures have the sizes their
// layout says, token labels are drawn (the label margin is not blank and
// differs with the tokenizer's pieces from the ids), a vit overlay differs
// from the plain image where attention is highest, and an unwritable --png
// folder is refused before any work (no output file).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "draw/attention_png.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "support/model_files.h"
#include "support/test_support.h"
#include "train_fixtures.h"

using namespace qkv;
using qkv::test::run;
using qkv::test::write_model;
namespace fs = std::filesystem;

namespace {

// Non-white pixels in a rectangle of a BGR image.
int ink(const cv::Mat& img, cv::Rect r) {
  int n = 0;
  for (int y = r.y; y < r.y + r.height; ++y)
    for (int x = r.x; x < r.x + r.width; ++x) {
      const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      n += p[0] < 200 || p[1] < 200 || p[2] < 200;
    }
  return n;
}

// A ViT picture of a 16x16 image (4x4 patches of 4 px) scaled to 224 px: plain | 10 px | overlay, under a
// 30 px title. Where the map's row over the 16 patches is highest, the overlay is far from the plain image.
void expect_overlay_marks_highest_patch(const std::string& png, const float* row) {
  const cv::Mat img = cv::imread(png);
  ASSERT_FALSE(img.empty()) << png;
  ASSERT_EQ(img.rows, 30 + 224);  // 16x16 scaled by 224/16 = 14
  ASSERT_EQ(img.cols, 2 * 224 + 10);
  const int best = static_cast<int>(std::max_element(row, row + 16) - row);
  const int y = 30 + (best / 4) * 56 + 28, x = (best % 4) * 56 + 28;  // the centre of that patch
  const cv::Vec3b plain = img.at<cv::Vec3b>(y, x), over = img.at<cv::Vec3b>(y, x + 234);
  EXPECT_GT(std::abs(plain[0] - over[0]) + std::abs(plain[1] - over[1]) + std::abs(plain[2] - over[2]), 40)
      << "patch " << best;
}

// TMP/p.h5: two 16x16 gray images (backgrounds 40 and 100) with a bright 8x8 square at column x0 of the top
// half, as 4x4 patches (qkv-patchify of TMP/img).
void write_two_image_patches(const test::TempDir& tmp, int x0) {
  fs::create_directories(tmp.file("img/a"));
  for (int i = 0; i < 2; ++i) {
    cv::Mat im(16, 16, CV_8UC1, cv::Scalar(40 + 60 * i));
    cv::rectangle(im, {x0, 0}, {x0 + 7, 7}, cv::Scalar(250), cv::FILLED);
    ASSERT_TRUE(cv::imwrite(tmp.file("img/a/" + std::to_string(i) + ".png"), im));
  }
  ASSERT_EQ(run("qkv-patchify " + tmp.file("img") + " --patch 4 -o " + tmp.file("p.h5")).exit_code, 0);
}

}  // namespace

TEST(AttendDraw, Seq2seqPicturesLabelledWithPieces) {
  test::TempDir tmp;
  // a char tokenizer over a few letters: pieces label the maps
  {
    std::ofstream f(tmp.file("words.txt"));
    f << "abc\nbca\ncab\nabcabc\n";
  }
  ASSERT_EQ(run("qkv-tokenize learn --model char " + tmp.file("words.txt") + " -o " + tmp.file("tok.h5")).exit_code, 0);
  {
    io::H5Out out(tmp.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", {{4, 5, 6, 4, 5}, {6, 5}}, 7);
    test::write_sequences(out, "tgt", {{1, 5, 6, 4, 2}, {4}}, 7);
    out.commit();
  }
  write_model(tmp.file("s2s.h5"), "transformer",
              {"n_encoder_layers=2", "n_decoder_layers=2", "n_head=3", "d_model=6", "d_ff=8", "src_vocab_size=7",
               "tgt_vocab_size=7", "dropout=0"});
  const std::string base = "qkv-attend -m " + tmp.file("s2s.h5") + " " + tmp.file("pairs.h5") + " --rollout -o " +
                           tmp.file("att.h5");
  auto r = run(base + " -t " + tmp.file("tok.h5") + " --png " + tmp.file("maps"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"ex0-encoder_self-heads.png", "ex0-encoder_self.png", "ex0-encoder_self-rollout.png",
                        "ex0-decoder_self.png", "ex0-cross.png", "ex0-cross-heads.png", "ex1-cross.png"})
    EXPECT_TRUE(fs::exists(tmp.file("maps/") + f)) << f;
  EXPECT_FALSE(fs::exists(tmp.file("maps/ex0-cross-rollout.png")));  // rollout: self-attention stacks only

  // The model view: 2 layers x 3 heads of (T=4) x (S=5) cells of 160/5 = 32 -> 24 px (the largest cell).
  const cv::Mat heads = cv::imread(tmp.file("maps/ex0-cross-heads.png"));
  ASSERT_FALSE(heads.empty());
  EXPECT_EQ(heads.cols, std::max(40 + 3 * (5 * 24 + 8), 320));
  EXPECT_EQ(heads.rows, 50 + 2 * (4 * 24 + 8 + 14));

  // Labels: the cross map's margins hold text; with ids instead of pieces (no tokenizer: the file stores
  // no pieces), the same map's labels differ.
  const cv::Mat pieces = cv::imread(tmp.file("maps/ex0-cross.png"));
  r = run("qkv-attend -m " + tmp.file("s2s.h5") + " " + tmp.file("pairs.h5") + " -o " + tmp.file("att-ids.h5") +
          " --png " + tmp.file("ids"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const cv::Mat ids = cv::imread(tmp.file("ids/ex0-cross.png"));
  ASSERT_FALSE(pieces.empty());
  ASSERT_FALSE(ids.empty());
  // the heatmap is (4 x 24) x (5 x 24) in the bottom-right corner, 10 px from the right and bottom edges
  const cv::Rect left_margin(0, pieces.rows - 10 - 4 * 24, pieces.cols - 10 - 5 * 24, 4 * 24);
  EXPECT_GT(ink(pieces, left_margin), 10);
  const cv::Mat heat_p = pieces(cv::Rect(pieces.cols - 10 - 120, pieces.rows - 10 - 96, 120, 96));
  const cv::Mat heat_i = ids(cv::Rect(ids.cols - 10 - 120, ids.rows - 10 - 96, 120, 96));
  EXPECT_EQ(cv::norm(heat_p, heat_i, cv::NORM_INF), 0.0);  // the same weights
  EXPECT_NE(pieces.size(), ids.size());                    // "10" labels are wider than one letter
}

TEST(AttendDraw, VitOverlayDiffersWhereAttentionIsHigh) {
  test::TempDir tmp;
  write_two_image_patches(tmp, 0);
  write_model(tmp.file("vit.h5"), "vit",
              {"n_layer=2", "n_head=2", "d_model=8", "n_patches=16", "patch_dim=16", "n_classes=2"});
  auto r = run("qkv-attend -m " + tmp.file("vit.h5") + " " + tmp.file("p.h5") + " --rollout --png " +
               tmp.file("maps") + " -o " + tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // the rollout's [CLS] row over the patches, from the file: where it is highest, the overlay is far from plain
  io::H5In att(tmp.file("att.h5"));
  Tensor roll = att.read("self/rollout", DType::f32);  // 2 examples of (17, 17)
  expect_overlay_marks_highest_patch(tmp.file("maps/ex1-image.png"), roll.data<float>() + 17 * 17 + 1);
  // the plain half is the image itself: the bright square top-left, the background elsewhere
  const cv::Mat img = cv::imread(tmp.file("maps/ex1-image.png"));
  EXPECT_GT(img.at<cv::Vec3b>(30 + 20, 20)[0], 240);
  EXPECT_NEAR(img.at<cv::Vec3b>(30 + 200, 200)[0], 100, 2);
}

TEST(AttendDraw, UnwritablePngFolderRefusedBeforeWork) {
  test::TempDir tmp;
  write_model(tmp.file("lm.h5"), "gpt", {"n_layer=1", "n_head=1", "d_model=4", "block_size=8", "vocab_size=10"});
  {
    io::H5Out out(tmp.file("tok.h5"), "tokens");
    test::write_sequences(out, "", {{4, 5, 6}}, 10);
    out.commit();
  }
  { std::ofstream f(tmp.file("file")); }
  auto r = run("qkv-attend -m " + tmp.file("lm.h5") + " " + tmp.file("tok.h5") + " --png " + tmp.file("file/maps") +
               " -o " + tmp.file("att.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--png " + tmp.file("file/maps") + ": cannot create the folder"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("att.h5")));
  r = run("qkv-attend -m " + tmp.file("lm.h5") + " " + tmp.file("tok.h5") + " --png " + tmp.file("m") + " -o -");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--png draws from the output file"), std::string::npos) << r.err;
}

// --grad-rollout --png: the gradient rollout drawn as --rollout is. Text: each kind's (tq, tk) relevance
// (self-attention stacks without the identity) as a labelled heatmap whose cells are the file's numbers
// in viridis; vit: the [CLS] row over the image, differing from the plain image where relevance is highest.
TEST(AttendDraw, GradRolloutPictures) {
  test::TempDir tmp;
  {
    io::H5Out out(tmp.file("pairs.h5"), "token_pairs");
    test::write_sequences(out, "src", {{1, 4, 5, 6, 4, 5, 2}, {1, 6, 5, 2}}, 7);
    test::write_sequences(out, "tgt", {{1, 5, 6, 4, 2}, {1, 4, 2}}, 7);
    out.commit();
  }
  test::write_peaked_model(tmp.file("s2s.h5"), "transformer",
                           {"n_encoder_layers=2", "n_decoder_layers=2", "n_head=2", "d_model=6", "d_ff=8",
                            "src_vocab_size=7", "tgt_vocab_size=7", "dropout=0"},
                           4);
  auto r = run("qkv-attend -m " + tmp.file("s2s.h5") + " " + tmp.file("pairs.h5") + " --grad-rollout --png " +
               tmp.file("maps") + " -o " + tmp.file("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In att(tmp.file("att.h5"));
  for (const char* kind : {"encoder_self", "decoder_self", "cross"}) {
    const std::string k = kind;
    const cv::Mat img = cv::imread(tmp.file("maps/ex0-" + k + "-grad-rollout.png"));
    ASSERT_FALSE(img.empty()) << kind;
    const int64_t tq = att.read(k + "/tq", DType::i64).data<int64_t>()[0];
    const int64_t tk = att.read(k + "/tk", DType::i64).data<int64_t>()[0];
    EXPECT_EQ(tq, k == "encoder_self" ? 7 : 4);
    EXPECT_EQ(tk, k == "decoder_self" ? 4 : 7);
    Tensor g = att.read(k + "/grad_rollout", DType::f32);  // example 0 first: (tq, tk)
    std::vector<float> want(g.data<float>(), g.data<float>() + tq * tk);
    if (k != "cross")
      for (int64_t i = 0; i < tq; ++i) want[i * tk + i] -= 1.0f;  // drawn without I
    float top = 0.0f;
    for (float v : want) top = std::max(top, v);
    ASSERT_GT(top, 0.0f) << kind;
    // cells of 24 px (720 / 7 > 24) in the bottom-right corner, 10 px from the edges
    const int x0 = img.cols - 10 - static_cast<int>(tk) * 24, y0 = img.rows - 10 - static_cast<int>(tq) * 24;
    for (int64_t i = 0; i < tq; ++i)
      for (int64_t j = 0; j < tk; ++j) {
        cv::Mat gray(1, 1, CV_8U, cv::Scalar(std::lround(255.0f * std::max(0.0f, want[i * tk + j]) / top))), colour;
        cv::applyColorMap(gray, colour, cv::COLORMAP_VIRIDIS);
        EXPECT_EQ(img.at<cv::Vec3b>(y0 + static_cast<int>(i) * 24 + 12, x0 + static_cast<int>(j) * 24 + 12),
                  colour.at<cv::Vec3b>(0, 0))
            << kind << " cell " << i << "," << j;
      }
    // labels: ids left of the map and above it
    EXPECT_GT(ink(img, cv::Rect(0, y0, x0, static_cast<int>(tq) * 24)), 10) << kind;
    EXPECT_GT(ink(img, cv::Rect(x0, 30, static_cast<int>(tk) * 24, y0 - 32)), 10) << kind;
  }

  // vit
  write_two_image_patches(tmp, 8);
  test::write_peaked_model(tmp.file("vit.h5"), "vit",
                           {"n_layer=2", "n_head=2", "d_model=8", "n_patches=16", "patch_dim=16", "n_classes=2"}, 5);
  r = run("qkv-attend -m " + tmp.file("vit.h5") + " " + tmp.file("p.h5") + " --grad-rollout --stats-only --png " +
          tmp.file("vmaps") + " -o " + tmp.file("vatt.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("vmaps/ex1-image.png")));  // no weights, no rollout: only the relevance
  io::H5In v(tmp.file("vatt.h5"));
  Tensor g = v.read("self/grad_rollout", DType::f32);  // 2 examples of (17, 17)
  const float* row = g.data<float>() + 17 * 17 + 1;  // example 1, [CLS] row, patches
  ASSERT_GT(*std::max_element(row, row + 16), 0.0f);
  expect_overlay_marks_highest_patch(tmp.file("vmaps/ex1-image-grad-rollout.png"), row);
  const cv::Mat img = cv::imread(tmp.file("vmaps/ex1-image-grad-rollout.png"));
  EXPECT_GT(img.at<cv::Vec3b>(30 + 20, 200)[0], 240);  // the plain half: the bright square top-right
  EXPECT_GT(ink(img, cv::Rect(0, 0, 300, 30)), 10);    // the title
}

// Labels are drawn in ASCII: the space mark, Latin-1 letters (Multi30k's
// German, Tatoeba's French) spelt without accents, anything else '?'.
TEST(AttendDraw, LabelsSpellLatinLettersInAscii) {
  EXPECT_EQ(draw::ascii_label("\xE2\x96\x81wei\xC3\x9F" "en"), "_weissen");                     // ▁weißen
  EXPECT_EQ(draw::ascii_label("l\xC3\xA4uft \xC3\xBC\xC3\xB6 \xC3\x84\xC3\x96\xC3\x9C"), "laeuft ueoe AeOeUe");
  EXPECT_EQ(draw::ascii_label("caf\xC3\xA9 gar\xC3\xA7on \xC3\xA0 \xC5\x93uf \xC3\xBF"), "cafe garcon a oeuf y");
  EXPECT_EQ(draw::ascii_label("\xCE\xB1\xE6\x97\xA5!"), "??!");                                 // αβ, 日: one '?' each
  EXPECT_EQ(draw::ascii_label("x\xC3"), "x?");                                                  // cut short
  EXPECT_EQ(draw::ascii_label(""), "");
}
