// H5StreamOut: growing datasets written chunk by chunk, read back exactly;
// small columns stay contiguous; nothing is left behind without commit().
#include <gtest/gtest.h>

#include <hdf5.h>
#include <sys/stat.h>

#include <numeric>
#include <stdexcept>

#include "core/error.h"
#include "io/h5.h"
#include "io/provenance.h"
#include "support/test_support.h"

using qkv::DType;
using qkv::io::H5In;
using qkv::io::H5StreamOut;
using qkv::test::TempDir;

TEST(H5Stream, AppendsAcrossChunksAndReadsBack) {
  TempDir dir;
  std::string path = dir.file("s.h5");
  std::vector<int32_t> want(10007);
  std::iota(want.begin(), want.end(), -5);
  {
    H5StreamOut out(path, "tokens");
    int ids = out.add_column("ids", DType::i32, 1000);            // spills: chunked
    int off = out.add_column("grp/offsets", DType::i64, 1 << 20);  // stays in memory: contiguous
    for (size_t i = 0; i < want.size(); i += 333)
      out.append(ids, want.data() + i, std::min<size_t>(333, want.size() - i));
    std::vector<int64_t> o = {0, 3, 7};
    out.append(off, o.data(), o.size());
    EXPECT_EQ(out.column_size(ids), 10007);
    out.set_attr("/grp", "vocab_size", int64_t{42});
    out.commit();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"s.h5"});
  H5In in(path);
  EXPECT_EQ(in.kind(), "tokens");
  qkv::Tensor ids = in.read("ids", DType::i32, 1);
  ASSERT_EQ(ids.numel(), 10007);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), ids.data<int32_t>()));
  qkv::Tensor off = in.read("grp/offsets", DType::i64, 1);
  ASSERT_EQ(off.numel(), 3);
  EXPECT_EQ(off.data<int64_t>()[2], 7);
  EXPECT_EQ(in.attr_int("/grp", "vocab_size"), 42);
}

TEST(H5Stream, EmptyColumnAndNoCommitLeavesNothing) {
  TempDir dir;
  {
    H5StreamOut out(dir.file("never.h5"), "tokens");
    int ids = out.add_column("ids", DType::i32, 10);
    std::vector<int32_t> v(25, 1);
    out.append(ids, v.data(), v.size());
  }
  EXPECT_TRUE(dir.entries().empty());
  {
    H5StreamOut out(dir.file("empty.h5"), "tokens");
    out.add_column("ids", DType::i32);
    out.commit();
  }
  H5In in(dir.file("empty.h5"));
  EXPECT_EQ(in.read("ids", DType::i32, 1).numel(), 0);
}

// N-d arrays: rows appended in uneven pieces (some whole chunks written
// straight from the caller's memory, some buffered) read back exactly, with
// the file's shape (rows, L, D) and the chunking h5py sees.
TEST(H5Stream, ArrayRowsRoundTripAcrossChunks) {
  TempDir dir;
  std::string path = dir.file("a.h5");
  const int64_t N = 1003, L = 4, D = 6;
  std::vector<float> want(static_cast<size_t>(N * L * D));
  std::iota(want.begin(), want.end(), 0.5f);
  {
    H5StreamOut out(path, "patches");
    int a = out.add_array("patches", DType::f32, {L, D}, 64);
    int u = out.add_array("small/u8", DType::u8, {3}, 100);  // never fills a chunk: contiguous
    size_t at = 0;
    for (size_t piece : {1, 63, 200, 7, 128, 0, 604}) {
      out.append(a, want.data() + at * L * D, piece);
      at += piece;
    }
    ASSERT_EQ(at, static_cast<size_t>(N));
    EXPECT_EQ(out.column_size(a), N);
    std::vector<uint8_t> u8 = {1, 2, 3, 4, 5, 6};
    out.append(u, u8.data(), 2);
    out.write("positions", qkv::Tensor({L, 2}, DType::i32));
    out.write_strings("sources", {"a.png", "b.png"});
    out.commit();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.h5"});
  H5In in(path);
  EXPECT_EQ(in.shape("patches"), (qkv::Shape{N, L, D}));
  qkv::Tensor got = in.read("patches", DType::f32, 3);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), got.data<float>()));
  qkv::Tensor u = in.read("small/u8", DType::u8, 2);
  EXPECT_EQ(u.shape(), (qkv::Shape{2, 3}));
  EXPECT_EQ(u.data<uint8_t>()[5], 6);
  EXPECT_EQ(in.read_strings("sources"), (std::vector<std::string>{"a.png", "b.png"}));
  hid_t ds = H5Dopen2(in.handle(), "patches", H5P_DEFAULT);
  hid_t dcpl = H5Dget_create_plist(ds);
  hsize_t chunk[3] = {0, 0, 0};
  EXPECT_EQ(H5Pget_chunk(dcpl, 3, chunk), 3);
  EXPECT_EQ(chunk[0], 64u);
  EXPECT_EQ(chunk[2], static_cast<hsize_t>(D));
  H5Pclose(dcpl);
  H5Dclose(ds);
  hid_t us = H5Dopen2(in.handle(), "small/u8", H5P_DEFAULT);
  dcpl = H5Dget_create_plist(us);
  EXPECT_EQ(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
  H5Pclose(dcpl);
  H5Dclose(us);
}

// Compressed arrays read back exactly; a failure half way (an exception
// before commit) leaves nothing, neither the target nor a temporary file, and
// an existing file of that name stays as it was.
TEST(H5Stream, ArrayCompressedAndFailureLeavesNothing) {
  TempDir dir;
  std::string path = dir.file("c.h5");
  std::vector<uint8_t> rows(300 * 10);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<uint8_t>(i % 7);
  {
    H5StreamOut out(path, "patches");
    int a = out.add_array("x", DType::u8, {10}, 32, 6);
    out.append(a, rows.data(), 300);
    out.commit();
  }
  const std::string before = qkv::test::read_file(path);
  {
    H5In in(path);
    qkv::Tensor x = in.read("x", DType::u8, 2);
    ASSERT_EQ(x.shape(), (qkv::Shape{300, 10}));
    EXPECT_TRUE(std::equal(rows.begin(), rows.end(), x.data<uint8_t>()));
    hid_t ds = H5Dopen2(in.handle(), "x", H5P_DEFAULT);
    EXPECT_LT(H5Dget_storage_size(ds), rows.size());  // deflate did something
    H5Dclose(ds);
  }
  try {
    H5StreamOut out(path, "patches");
    int a = out.add_array("x", DType::u8, {10}, 32);
    out.append(a, rows.data(), 300);  // several chunks already on disk
    throw std::runtime_error("decode failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});
  EXPECT_EQ(qkv::test::read_file(path), before);
  // A directory as the output: refused before anything is made.
  EXPECT_THROW(H5StreamOut(dir.path(), "patches"), qkv::UsageError);
}

// Large N: 200000 rows in 1000-row appends of a 4 KiB-chunked array, the
// count and the last row exact; devices take the finished file (no rename
// over /dev/null).
TEST(H5Stream, ArrayLargeRowCountAndDeviceOutput) {
  TempDir dir;
  std::string path = dir.file("big.h5");
  const int64_t N = 200000;
  {
    H5StreamOut out(path, "patches");
    int a = out.add_array("ids", DType::i64, {2}, 256);
    std::vector<int64_t> piece(2000);
    for (int64_t r = 0; r < N; r += 1000) {
      for (int64_t k = 0; k < 1000; ++k) piece[2 * k] = piece[2 * k + 1] = r + k;
      out.append(a, piece.data(), 1000);
    }
    out.commit();
  }
  H5In in(path);
  qkv::Tensor t = in.read("ids", DType::i64, 2);
  ASSERT_EQ(t.shape(), (qkv::Shape{N, 2}));
  for (int64_t r = 0; r < N; ++r) ASSERT_EQ(t.data<int64_t>()[2 * r + 1], r);
  {
    H5StreamOut out("/dev/null", "patches");
    int a = out.add_array("x", DType::u8, {4}, 2);
    std::vector<uint8_t> v(40, 1);
    out.append(a, v.data(), 10);
    out.commit();
  }
  struct stat st;
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}
