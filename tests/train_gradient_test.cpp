// "Gradients from the outside": one qkv-train step of plain SGD with lr 1 from
// a checkpoint made by the PyTorch twin must leave exactly the initial
// parameters minus PyTorch's gradient of the mean loss over the first batch.
// References: scripts/torch/make_train_refs.py (tests/ref/train_sgd_*). The
// *_ls cases train the same model on the same data with --label-smoothing 0.1
// (PyTorch's CrossEntropyLoss(label_smoothing=0.1, ignore_index=pad)).
#include <gtest/gtest.h>

#include "io/h5.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;

namespace {

void check_one_sgd_step(const std::string& arch, const std::string& task) {
  io::H5In expected(test::source_path("tests/ref/train_sgd_" + arch + "_expected.h5"));
  // init and data files: this case's own, or those of the case it shares them with
  std::string inputs = expected.has_attr("/", "inputs") ? expected.attr_string("/", "inputs") : arch;
  std::string ref = test::source_path("tests/ref/train_sgd_" + inputs + "_");
  std::string flags = expected.attr_string("/", "flags");
  test::TempDir d;
  auto r = test::run("qkv-train " + task + " " + ref + "data.h5 --init " + ref +
                     "init.h5 --optimizer sgd --lr 1 --momentum 0 --weight-decay 0 --clip 0 --dropout 0 "
                     "--no-shuffle --steps 1 " + flags + " --metrics " + d.file("m.jsonl") + " -o " + d.file("out.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In out(d.file("out.h5"));
  io::H5In init(ref + "init.h5");
  if (expected.has_attr("/", "label_smoothing"))  // the flag's value is the checkpoint's hyperparameter
    EXPECT_EQ(out.attr_double("/", "label_smoothing"), expected.attr_double("/", "label_smoothing"));
  auto names = expected.list("params");
  ASSERT_EQ(names, out.list("params"));
  for (const auto& n : names) {
    Tensor want = expected.read("params/" + n, DType::f32);
    Tensor got = out.read("params/" + n, DType::f32);
    Tensor before = init.read("params/" + n, DType::f32);
    ASSERT_EQ(want.shape(), got.shape()) << n;
    // The step itself (init - grad) must match, not just the mostly unchanged parameters.
    Tensor step_want = ops::add(want, ops::scale(before, -1.0f));
    Tensor step_got = ops::add(got, ops::scale(before, -1.0f));
    EXPECT_LT(ops::rel_error(got, want), 1e-5) << arch << " " << n;
    if (ops::sum_all(ops::mul(step_want, step_want)) > 1e-20)
      EXPECT_LT(ops::rel_error(step_got, step_want), 2e-3) << arch << " " << n << " (the update itself)";
  }
  // The loss qkv-train measured on that batch is PyTorch's.
  std::string m = test::read_file(d.file("m.jsonl"));
  size_t p = m.find("\"loss\": ");
  ASSERT_NE(p, std::string::npos) << m;
  EXPECT_NEAR(std::stod(m.substr(p + 8)), expected.attr_double("/", "loss"), 1e-5);
}

}  // namespace

TEST(TrainGradient, GptOneSgdStepEqualsPyTorch) { check_one_sgd_step("gpt", "lm"); }
TEST(TrainGradient, TransformerOneSgdStepEqualsPyTorch) { check_one_sgd_step("transformer", "seq2seq"); }
TEST(TrainGradient, VitOneSgdStepEqualsPyTorch) { check_one_sgd_step("vit", "vit"); }
TEST(TrainGradient, RnnOneSgdStepEqualsPyTorch) { check_one_sgd_step("rnn", "rnn"); }
TEST(TrainGradient, GptLabelSmoothingEqualsPyTorch) { check_one_sgd_step("gpt_ls", "lm"); }
TEST(TrainGradient, TransformerLabelSmoothingEqualsPyTorch) { check_one_sgd_step("transformer_ls", "seq2seq"); }
TEST(TrainGradient, VitLabelSmoothingEqualsPyTorch) { check_one_sgd_step("vit_ls", "vit"); }
