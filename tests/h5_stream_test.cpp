// H5StreamOut: growing datasets written chunk by chunk, read back exactly;
// small columns stay contiguous; nothing is left behind without commit().
#include <gtest/gtest.h>

#include <numeric>

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
