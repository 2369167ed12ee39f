// formats::TokenPairsReader: a "token_pairs" file (encode --tsv; qkv-train
// seq2seq/rnn, qkv-model forward, qkv-attend), whole and in ranges.
#include "formats/tokens.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkv::fuzz::run([&] {
    qkv::io::H5In in(qkv::fuzz::bytes_of(data, size), "fuzz.h5");
    qkv::formats::TokenPairsReader r(in);
    auto all = r.read_all();
    if (r.size() > 1) (void)r.read(r.size() / 2, r.size());
    if (all.n() > 0) (void)all.subset({all.n() - 1});
  });
  return 0;
}
