// nn checkpoints ("model" files): qkv-model info's description, load_model
// (qkv-model forward, qkv-attend, qkv-decode, qkv-train --resume / --init),
// the optimizer and train state, then one small forward pass (finite or not,
// the weights must not crash the kernels).
#include "fuzz_support.h"
#include "nn/arch.h"
#include "nn/batch_io.h"
#include "nn/checkpoint.h"

using namespace qkv;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::run([&] {
    io::H5In in(fuzz::bytes_of(data, size), "fuzz.h5");
    (void)nn::describe_checkpoint(in);
    std::unique_ptr<nn::Model> m = nn::load_model(in);
    if (nn::has_optimizer(in)) {
      nn::Optimizer opt(nn::read_optimizer_config(in), m->params());
      nn::load_optimizer(in, opt, m->params());
    }
    if (nn::has_train_state(in)) (void)nn::load_train_state(in);
    if (m->params().num_params() > (int64_t{1} << 20)) return;
    nn::ModelDims d = nn::dims(*m);
    const int64_t B = 2, T = d.max_len > 0 ? std::min<int64_t>(d.max_len, 4) : 4;
    nn::Batch b;
    if (d.task == nn::Task::language_model) {
      std::vector<int32_t> inp(B * T);
      for (size_t i = 0; i < inp.size(); ++i) inp[i] = static_cast<int32_t>(i % static_cast<size_t>(d.vocab));
      b = nn::Batch::lm(B, T, inp, inp);
    } else if (d.task == nn::Task::seq2seq) {
      std::vector<int32_t> src(B * T), tgt(B * T);
      for (size_t i = 0; i < src.size(); ++i) {
        src[i] = static_cast<int32_t>(4 + i % static_cast<size_t>(std::max<int64_t>(d.src_vocab - 4, 1)));
        tgt[i] = static_cast<int32_t>(4 + i % static_cast<size_t>(std::max<int64_t>(d.tgt_vocab - 4, 1)));
      }
      b = nn::Batch::seq2seq(B, T, T, src, tgt, tgt);
    } else {
      if (d.n_patches * d.patch_dim > (int64_t{1} << 16)) return;
      std::vector<float> px(static_cast<size_t>(B * d.n_patches * d.patch_dim), 0.25f);
      b = nn::Batch::images(B, d.n_patches, d.patch_dim, px, {0, 0});
    }
    m->check_batch(b);
    (void)m->forward(b, false);
  });
  return 0;
}
