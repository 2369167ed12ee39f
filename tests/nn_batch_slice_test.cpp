// Data-parallel groundwork: a process's rows of a batch (Batch::rows) and
// dropout masks drawn as the whole batch would draw them (BatchSlice).
#include <gtest/gtest.h>

#include <vector>

#include "core/rng.h"
#include "nn/dropout.h"
#include "nn/model.h"

using namespace qkv;
using namespace qkv::nn;

TEST(BatchSlice, DropoutMaskIsTheWholeBatchsRows) {
  const int64_t per_row = 7, total = 5;  // odd sizes: the 2-per-draw pairs straddle rows
  Rng whole_rng(42);
  std::vector<uint8_t> whole(per_row * total);
  dropout_mask(whole.data(), per_row * total, 0.4f, whole_rng);
  for (int64_t begin = 0; begin < total; ++begin)
    for (int64_t rows = 1; begin + rows <= total; ++rows) {
      Rng rng(42);
      std::vector<uint8_t> mine(per_row * rows);
      {
        BatchSlice s(begin, rows, total);
        dropout_mask(mine.data(), per_row * rows, 0.4f, rng);
      }
      EXPECT_EQ(mine, std::vector<uint8_t>(whole.begin() + begin * per_row, whole.begin() + (begin + rows) * per_row));
      EXPECT_EQ(rng.next_u64(), Rng(whole_rng).next_u64()) << "the stream moves on as the whole batch's does";
    }
  // Out of scope: masks of n values again.
  Rng a(1), b(1);
  std::vector<uint8_t> x(9), y(9);
  dropout_mask(x.data(), 9, 0.5f, a);
  dropout_mask(y.data(), 9, 0.5f, b);
  EXPECT_EQ(x, y);
}

TEST(BatchSlice, RowsKeepThePaddedLengths) {
  Batch lm = Batch::lm(3, 2, {1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12});
  Batch r = lm.rows(1, 3);
  EXPECT_EQ(r.B, 2);
  EXPECT_EQ(r.T, 2);
  EXPECT_EQ(r.inp, (std::vector<int32_t>{3, 4, 5, 6}));
  EXPECT_EQ(r.tgt, (std::vector<int32_t>{9, 10, 11, 12}));
  Batch s2s = Batch::seq2seq(2, 3, 1, {1, 2, 3, 4, 5, 6}, {7, 8}, {9, 10});
  Batch q = s2s.rows(1, 2);
  EXPECT_EQ(q.S, 3);
  EXPECT_EQ(q.src, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(q.tgt_in, (std::vector<int32_t>{8}));
  EXPECT_EQ(q.tgt_out, (std::vector<int32_t>{10}));
  Batch img = Batch::images(2, 1, 2, {0.5f, 1.5f, 2.5f, 3.5f}, {3, 4});
  Batch i = img.rows(0, 1);
  EXPECT_EQ(i.patches, (std::vector<float>{0.5f, 1.5f}));
  EXPECT_EQ(i.labels, (std::vector<int32_t>{3}));
  EXPECT_TRUE(img.rows(1, 1).labels.empty());
}
