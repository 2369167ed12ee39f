// Config / ConfigReader (hyperparameters) and the Rng.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "nn/config.h"

using namespace qkv;
using namespace qkv::nn;

TEST(Config, DefaultsStringsAndRanges) {
  Config c;
  c.parse_assignment("n_layer=3");
  c.parse_assignment("dropout=0.25");
  c.parse_assignment("tie_weights=false");
  c.parse_assignment("activation=relu");
  ConfigReader r(c, "gpt");
  EXPECT_EQ(r.get_int("n_layer", 4, 1), 3);
  EXPECT_EQ(r.get_int("n_head", 4, 1), 4);
  EXPECT_DOUBLE_EQ(r.get_double("dropout", 0.0, 0.0, 1.0), 0.25);
  EXPECT_FALSE(r.get_bool("tie_weights", true));
  EXPECT_EQ(r.get_choice("activation", "gelu", {"gelu", "relu"}), "relu");
  r.finish();
  EXPECT_EQ(r.resolved().to_string(), "n_layer=3 n_head=4 dropout=0.25 tie_weights=0 activation=relu");
}

TEST(Config, ClearErrors) {
  Config c;
  EXPECT_THROW(c.parse_assignment("n_layer"), UsageError);
  c.parse_assignment("n_layer=x");
  c.parse_assignment("n_layers=2");
  ConfigReader r(c, "gpt");
  try {
    r.get_int("n_layer", 4, 1);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "gpt hyperparameter n_layer=x: expected an integer");
  }
  Config c2;
  c2.parse_assignment("n_layers=2");
  ConfigReader r2(c2, "gpt");
  r2.get_int("n_layer", 4, 1);
  try {
    r2.finish();
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown gpt hyperparameter(s): n_layers (known: n_layer)");
  }
  Config c3;
  c3.set("n_layer", int64_t{0});
  ConfigReader r3(c3, "gpt");
  EXPECT_THROW(r3.get_int("n_layer", 4, 1), UsageError);
}

TEST(Rng, DeterministicResumableAndWellSpread) {
  Rng a(7), b(7), c(8);
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(a.next_u64(), c.next_u64());
  Rng::State s = a.state();
  float x1 = a.normal();
  uint64_t k1 = a.below(1000);
  a.set_state(s);
  EXPECT_EQ(a.normal(), x1);
  EXPECT_EQ(a.below(1000), k1);

  Rng r(1);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = r.normal();
    sum += z;
    sum2 += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum2 / n, 1.0, 0.02);
  int counts[10] = {};
  for (int i = 0; i < 100000; ++i) {
    float u = r.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    counts[r.below(10)]++;
  }
  for (int c10 : counts) EXPECT_NEAR(c10, 10000, 500);
}
