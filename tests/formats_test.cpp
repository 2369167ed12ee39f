// The format readers of libcore/formats: tokens, token_pairs and patches
// files read whole or a slice at a time, the checks they make, and the one
// rule for what a stored patch value means to a model.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "formats/patches.h"
#include "formats/tokens.h"
#include "io/h5.h"
#include "nn/batch_io.h"
#include "support/test_support.h"
#include "train/data.h"
#include "train_fixtures.h"

using namespace qkv;
using namespace qkv::formats;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}

// A tokens file written as qkv-tokenize writes it, in parts.
std::string stream_tokens(const std::string& path, const std::vector<std::vector<int32_t>>& seqs, int64_t vocab) {
  io::H5StreamOut out(path, kTokensKind);
  TokensWriter w(out, "/");
  for (const auto& s : seqs) {
    Sequences part;
    part.push(s.data(), static_cast<int64_t>(s.size()));
    w.append(part);
  }
  w.finish(vocab, "abc");
  out.commit();
  return path;
}

// (N, L, D) patches with labels and the geometry attributes of 2x2 gray images cut in 1x1 patches.
std::string write_patches(const std::string& path, const Tensor& patches, const std::vector<int32_t>& labels,
                          int chunk_rows = 0) {
  io::H5StreamOut out(path, kPatchesKind);
  const int64_t N = patches.dim(0), L = patches.dim(1), D = patches.dim(2);
  int col = out.add_array("patches", patches.dtype(), {L, D}, static_cast<size_t>(chunk_rows > 0 ? chunk_rows : N));
  out.append(col, patches.raw(), static_cast<size_t>(N));
  out.write("labels", Tensor::from(labels, {N}));
  out.write("positions", grid_positions(make_grid({2, 2}, {1, 1}, {1, 1}, false, "t")));
  for (const char* a : {"image_height", "image_width", "grid_rows", "grid_cols"}) out.set_attr("/", a, int64_t{2});
  for (const char* a : {"patch_height", "patch_width", "stride_height", "stride_width", "channels"})
    out.set_attr("/", a, int64_t{1});
  const bool u8 = patches.dtype() == DType::u8;
  out.set_attr("/", "normalize", std::string(u8 ? "none" : "half"));
  out.set_attr("/", "mean", std::vector<double>{u8 ? 0.0 : 0.5});
  out.set_attr("/", "std", std::vector<double>{u8 ? 1.0 / 255 : 0.5});
  out.set_attr("/", "num_classes", int64_t{3});
  out.commit();
  return path;
}

}  // namespace

TEST(FormatsTokens, SlicesReadWhatTheWholeFileHolds) {
  test::TempDir d;
  std::vector<std::vector<int32_t>> seqs{{1, 5, 2}, {}, {6, 7, 8, 9}, {4}};
  io::H5In in(stream_tokens(d.file("t.h5"), seqs, 10));
  TokensReader r(in);
  ASSERT_EQ(r.size(), 4);
  EXPECT_EQ(r.num_tokens(), 8);
  EXPECT_EQ(r.len(2), 4);
  EXPECT_EQ(r.vocab().vocab_size, 10);
  EXPECT_EQ(r.vocab().eos_id, kEosId);
  EXPECT_EQ(r.vocab().tokenizer_sha256, "abc");
  for (int64_t b = 0; b <= 4; ++b)
    for (int64_t e = b; e <= 4; ++e) {
      Sequences s = r.read(b, e);
      ASSERT_EQ(s.n(), e - b);
      EXPECT_EQ(s.offsets.front(), 0);
      for (int64_t i = 0; i < s.n(); ++i)
        EXPECT_EQ(std::vector<int32_t>(s.seq(i), s.seq(i) + s.len(i)), seqs[b + i]) << b << " " << e << " " << i;
    }
  Sequences all = read_tokens(d.file("t.h5"));
  EXPECT_EQ(all.ids, (std::vector<int32_t>{1, 5, 2, 6, 7, 8, 9, 4}));
  EXPECT_EQ(all.offsets, (std::vector<int64_t>{0, 3, 3, 7, 8}));
  EXPECT_EQ(all.path, d.file("t.h5"));
}

TEST(FormatsTokens, OneLineNamingFileGroupAndProblem) {
  test::TempDir d;
  // An id outside the vocabulary, found when its slice is read: its position in the whole file.
  io::H5In bad(stream_tokens(d.file("bad.h5"), {{1, 2}, {3, 12}}, 10));
  TokensReader r(bad);
  EXPECT_NO_THROW(r.read(0, 1));
  EXPECT_EQ(error_of([&] { r.read(1, 2); }),
            d.file("bad.h5") + ": token id 12 at position 3 is outside the vocabulary (vocab_size 10)");
  // Offsets that do not end at the number of ids; no vocab_size.
  {
    io::H5Out out(d.file("off.h5"), kTokensKind);
    out.write("ids", Tensor::from(std::vector<int32_t>{1, 2, 3}, {3}));
    out.write("offsets", Tensor::from(std::vector<int64_t>{0, 2, 5}, {3}));
    out.commit();
  }
  io::H5In off(d.file("off.h5"));
  EXPECT_EQ(error_of([&] { TokensReader{off}; }), d.file("off.h5") + ": offsets end at 5 but ids has 3 entries");
  // Pairs: the group is named; /src and /tgt must hold as many sequences.
  {
    io::H5Out out(d.file("pairs.h5"), kTokenPairsKind);
    test::write_sequences(out, "src", {{4}, {5}}, 10);
    test::write_sequences(out, "tgt", {{4}}, 10);
    out.set_attr("/tgt", "bos_id", int64_t{10});
    out.commit();
  }
  io::H5In pairs(d.file("pairs.h5"));
  EXPECT_EQ(error_of([&] { TokenPairsReader{pairs}; }),
            d.file("pairs.h5") + ": /tgt: attribute bos_id = 10 is outside the vocabulary of 10");
  EXPECT_EQ(error_of([&] { TokensReader{pairs}; }),
            d.file("pairs.h5") + ": is a qkv 'token_pairs' file, expected 'tokens'");
}

TEST(FormatsTokens, PairsReadInSlices) {
  test::TempDir d;
  test::write_reversal_pairs(d.file("p.h5"), 50, 3);
  io::H5In in(d.file("p.h5"));
  TokenPairsReader r(in);
  Pairs all = r.read_all(), part = r.read(20, 30);
  ASSERT_EQ(part.n(), 10);
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(std::vector<int32_t>(part.src.seq(i), part.src.seq(i) + part.src.len(i)),
              std::vector<int32_t>(all.src.seq(20 + i), all.src.seq(20 + i) + all.src.len(20 + i)));
    EXPECT_EQ(std::vector<int32_t>(part.tgt.seq(i), part.tgt.seq(i) + part.tgt.len(i)),
              std::vector<int32_t>(all.tgt.seq(20 + i), all.tgt.seq(20 + i) + all.tgt.len(20 + i)));
  }
}

TEST(FormatsH5, ReadRowsAcrossChunksAndStoredType) {
  test::TempDir d;
  Tensor x({10, 2, 3}, DType::u8);  // (N, L, D)
  std::iota(x.data<uint8_t>(), x.data<uint8_t>() + x.numel(), uint8_t{0});
  io::H5In in(write_patches(d.file("p.h5"), x, std::vector<int32_t>(10, 0), 3));  // chunks of 3 images
  EXPECT_EQ(in.stored_type("patches"), "uint8");
  EXPECT_EQ(in.stored_type("labels"), "int32");
  Tensor rows = in.read_rows("patches", DType::u8, 2, 7, 3);  // crosses two chunk boundaries
  ASSERT_EQ(rows.shape(), (Shape{5, 2, 3}));
  EXPECT_TRUE(std::equal(rows.data<uint8_t>(), rows.data<uint8_t>() + rows.numel(), x.data<uint8_t>() + 2 * 6));
  EXPECT_EQ(in.read_rows("patches", DType::u8, 10, 10).numel(), 0);
  EXPECT_THROW(in.read_rows("patches", DType::u8, 8, 11), DataError);
}

TEST(FormatsPatches, Uint8PixelsAreScaledFloatsTakenAsStored) {
  test::TempDir d;
  Tensor px({4, 4, 1}, DType::u8);  // (N, L, D)
  for (int64_t i = 0; i < px.numel(); ++i) px.data<uint8_t>()[i] = static_cast<uint8_t>(i * 17);
  io::H5In in(write_patches(d.file("u8.h5"), px, {0, 1, 2, 1}, 3));
  PatchesReader r(in);
  EXPECT_EQ(r.dtype(), DType::u8);
  EXPECT_EQ(r.size(), 4);
  EXPECT_EQ(r.num_classes(), 3);
  ASSERT_TRUE(r.has_meta());
  EXPECT_EQ(r.black(), std::vector<float>{0.f});
  Tensor v = r.read(1, 3);  // (2, 4, 1)
  ASSERT_EQ(v.dtype(), DType::f32);
  ASSERT_EQ(v.shape(), (Shape{2, 4, 1}));
  for (int64_t i = 0; i < v.numel(); ++i)
    EXPECT_EQ(v.data<float>()[i], static_cast<float>((4 + i) * 17) * (1.0f / 255.0f));
  EXPECT_EQ(r.read_stored(1, 3).data<uint8_t>()[0], 4 * 17);

  Tensor f({2, 4, 1});  // float32 (N, L, D): (pixel/255 - 0.5) / 0.5
  f.data<float>()[3] = 0.25f;
  io::H5In fin(write_patches(d.file("f.h5"), f, {0, 0}));
  PatchesReader fr(fin);
  EXPECT_EQ(fr.dtype(), DType::f32);
  EXPECT_EQ(fr.read(0, 1).data<float>()[3], 0.25f);
  EXPECT_EQ(fr.black(), std::vector<float>{-1.f});

  // qkv-train and qkv-model forward's batch files read through the same rule.
  train::Patches t = train::load_patches(d.file("u8.h5"));
  EXPECT_EQ(t.patches.data<float>()[5], static_cast<float>(5 * 17) * (1.0f / 255.0f));
  EXPECT_EQ(t.geometry.fill, std::vector<float>{0.f});
  {
    io::H5Out out(d.file("batch.h5"), "batch");
    out.write("patches", px);
    out.commit();
  }
  io::H5In batch(d.file("batch.h5"));
  nn::Batch b = nn::read_batch(batch, nn::Task::classify);
  ASSERT_EQ(b.patches.size(), 16u);
  for (size_t i = 0; i < b.patches.size(); ++i)
    EXPECT_EQ(b.patches[i], static_cast<float>(i * 17) * (1.0f / 255.0f));
}

TEST(FormatsPatches, ChecksNamingTheFile) {
  test::TempDir d;
  io::H5In labels(write_patches(d.file("l.h5"), Tensor({2, 4, 1}), {0, 3}));
  EXPECT_EQ(error_of([&] { PatchesReader{labels}; }), d.file("l.h5") + ": label 3 of example 1 is outside [0, 3)");
  {
    io::H5Out out(d.file("i32.h5"), kPatchesKind);
    out.write("patches", Tensor({2, 4, 1}, DType::i32));
    out.commit();
  }
  io::H5In i32(d.file("i32.h5"));
  EXPECT_EQ(error_of([&] { PatchesReader{i32}; }),
            d.file("i32.h5") + ": /patches is stored as int32; patches are uint8 (pixels) or float32");
  {
    io::H5Out out(d.file("shape.h5"), kPatchesKind);
    out.write("patches", Tensor({2, 3, 1}));
    out.set_attr("/", "image_height", int64_t{2});
    out.commit();
  }
  io::H5In shape(d.file("shape.h5"));
  EXPECT_NE(error_of([&] { PatchesReader{shape}; }).find(d.file("shape.h5") + ": "), std::string::npos);
}
