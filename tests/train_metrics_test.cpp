// qkv-train's metrics: word/token error rates with several
// references, loss meters, the JSON-lines log and the loss plot.
#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "support/test_support.h"
#include "train/metrics.h"
#include "train/plot.h"

using namespace qkv;
using namespace qkv::train;

TEST(TrainMetrics, WerCountsAnyReferenceAsRight) {
  SequenceScorer s;
  s.add_reference({1}, {10, 11});   // word 1 has two pronunciations
  s.add_reference({1}, {12, 11});
  s.add_reference({2}, {20, 21, 22, 23});
  s.add_reference({1}, {10, 11});   // duplicate reference ignored
  ASSERT_EQ(s.sources().size(), 2u);
  s.score({1}, {12, 11});           // equals the second reference: right
  s.score({2}, {20, 21, 99, 23});   // one substitution
  EXPECT_DOUBLE_EQ(s.wer(), 0.5);
  EXPECT_DOUBLE_EQ(s.ter(), 1.0 / 6.0);  // (0 + 1) / (2 + 4)
  SequenceScorer t;
  t.add_reference({3}, {1, 2, 3});
  t.add_reference({3}, {1, 2, 3, 4, 5, 6});
  t.score({3}, {1, 2, 3, 4, 5});    // closer to the long one (1 edit) than the short one (2)
  EXPECT_DOUBLE_EQ(t.ter(), 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(t.wer(), 1.0);
}

TEST(TrainMetrics, LossMeter) {
  LossMeter m;
  EXPECT_EQ(m.mean_loss(), 0.0);
  m.add(10.0, 4, 3);
  m.add(2.0, 2, 1);
  EXPECT_DOUBLE_EQ(m.mean_loss(), 2.0);
  EXPECT_NEAR(m.perplexity(), std::exp(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.accuracy(), 4.0 / 6.0);
}

TEST(TrainMetrics, JsonLines) {
  std::string line = MetricsLog::format(
      {{"step", int64_t{12}}, {"split", "val"}, {"loss", 1.25}, {"ppl", INFINITY}, {"note", "a\"b"}});
  EXPECT_EQ(line, "{\"step\": 12, \"split\": \"val\", \"loss\": 1.25, \"ppl\": null, \"note\": \"a\\\"b\"}");
  test::TempDir d;
  {
    MetricsLog log(d.file("m.jsonl"), false);
    log.write({{"step", 1}});
    log.write({{"step", 2}});
  }
  {
    MetricsLog log(d.file("m.jsonl"), true);
    log.write({{"step", 3}});
  }
  EXPECT_EQ(test::read_file(d.file("m.jsonl")), "{\"step\": 1}\n{\"step\": 2}\n{\"step\": 3}\n");
  EXPECT_THROW(MetricsLog("/nonexistent-dir/m.jsonl", false), DataError);
}

// What format() writes, parse() reads back; truncate() cuts a file at a step
// (a resumed run), keeping every other line byte for byte.
TEST(TrainMetrics, JsonLinesReadBack) {
  MetricsLog::Record rec = {{"step", int64_t{40}}, {"epoch", 2.105263}, {"split", "val"}, {"loss", 0.1234567},
                            {"ppl", INFINITY}, {"note", "a\"b\\c\td"}, {"neg", -1.5e-07}};
  const std::string line = MetricsLog::format(rec);
  MetricsLog::Record back;
  ASSERT_TRUE(MetricsLog::parse(line, back)) << line;
  ASSERT_EQ(back.size(), rec.size());
  EXPECT_EQ(MetricsLog::format(back), line);
  EXPECT_EQ(MetricsLog::find(back, "step")->num, 40);
  EXPECT_EQ(MetricsLog::find(back, "note")->str, "a\"b\\c\td");
  EXPECT_TRUE(MetricsLog::find(back, "split")->is_str);
  EXPECT_TRUE(std::isnan(MetricsLog::find(back, "ppl")->num));
  EXPECT_EQ(MetricsLog::find(back, "none"), nullptr);
  for (const char* bad : {"", "{", "{\"a\": }", "{\"a\" 1}", "{\"a\": 1", "[1]", "{\"a\": \"x}"})
    EXPECT_FALSE(MetricsLog::parse(bad, back)) << bad;
  EXPECT_TRUE(MetricsLog::parse("{}", back));
  EXPECT_TRUE(back.empty());

  test::TempDir d;
  const std::string path = d.file("m.jsonl");
  {
    MetricsLog log(path, false);
    for (int step = 5; step <= 20; step += 5) log.write({{"step", step}, {"split", "train"}, {"loss", 1.0 / step}});
  }
  test::write_file(path, test::read_file(path) + "not json\n{\"note\": \"no step\"}\n");
  EXPECT_EQ(MetricsLog::read(path).size(), 5u);  // the line that is not a record is skipped
  EXPECT_TRUE(MetricsLog::read(d.file("absent.jsonl")).empty());
  MetricsLog::truncate(path, 10);
  EXPECT_EQ(test::read_file(path),
            "{\"step\": 5, \"split\": \"train\", \"loss\": 0.2}\n{\"step\": 10, \"split\": \"train\", \"loss\": 0.1}\n"
            "not json\n{\"note\": \"no step\"}\n");
}

TEST(TrainPlot, WritesAPngWithBothCurves) {
  test::TempDir d;
  Curve train{"train", {}, {}}, val{"val", {100, 200, 300}, {2.0, 1.8, NAN}};
  for (int i = 1; i <= 300; ++i) {
    train.x.push_back(i);
    train.y.push_back(3.0 / std::sqrt(i));
  }
  plot_curves(d.file("loss.png"), {train, val}, "step", "loss", "test");
  cv::Mat img = cv::imread(d.file("loss.png"));
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, 800);
  EXPECT_EQ(img.rows, 500);
  // Some pixels in the train color (blue-ish) and in the val color (orange).
  int blue = 0, orange = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      if (p[0] > 150 && p[1] < 140 && p[2] < 60) ++blue;
      if (p[2] > 230 && p[1] > 100 && p[1] < 150 && p[0] < 40) ++orange;
    }
  EXPECT_GT(blue, 200);
  EXPECT_GT(orange, 20);
  // Nothing else left in the folder (the write is atomic: no temporary file).
  EXPECT_EQ(d.entries(), std::vector<std::string>{"loss.png"});
  // Empty curves still give a valid image.
  EXPECT_FALSE(render_curves({}, "x", "y", "t").empty());
}
