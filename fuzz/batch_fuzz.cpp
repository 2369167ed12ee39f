// nn::read_batch ("batch" files, qkv-model forward's input from PyTorch) for
// each task, then a forward pass of a small model of that task when the batch
// fits it (NaN/Inf patches, ids beyond the vocabulary, odd shapes).
#include "fuzz_support.h"
#include "nn/arch.h"
#include "nn/batch_io.h"
#include "nn/config.h"

using namespace qkv;

namespace {
// The models of scripts/fuzz/make-seeds.sh's batch seeds.
std::unique_ptr<nn::Model> model(const std::string& arch, const std::vector<std::string>& sets) {
  nn::Config c;
  for (const auto& s : sets) c.parse_assignment(s);
  return nn::make_model(arch, c, 1);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto gpt = model("gpt", {"n_layer=1", "d_model=8", "n_head=2", "block_size=8", "vocab_size=12"});
  static auto s2s = model("transformer", {"src_vocab_size=14", "tgt_vocab_size=15", "d_model=8", "n_head=2",
                                          "n_encoder_layers=1", "n_decoder_layers=1", "d_ff=16", "max_len=16"});
  static auto vit = model("vit", {"n_layer=1", "d_model=8", "n_head=2", "d_ff=16", "n_patches=4", "patch_dim=3",
                                  "n_classes=3"});
  fuzz::run([&] {
    io::H5In in(fuzz::bytes_of(data, size), "fuzz.h5");
    for (nn::Model* m : {gpt.get(), s2s.get(), vit.get()}) {
      try {
        nn::Batch b = nn::read_batch(in, m->task());
        if (b.B * std::max<int64_t>({b.T, b.S, b.P * b.D, 1}) > 4096) continue;
        m->check_batch(b);
        (void)m->forward(b, false);
      } catch (const Error&) {
      }
    }
  });
  return 0;
}
