// formats::TokensReader: a "tokens" file (qkv-tokenize encode's output, what
// qkv-train lm, qkv-model forward, qkv-attend and qkv-tokenize decode read),
// whole and in ranges, as sequences and as one LM token stream.
#include "formats/tokens.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkv::fuzz::run([&] {
    qkv::io::H5In in(qkv::fuzz::bytes_of(data, size), "fuzz.h5");
    qkv::formats::TokensReader r(in);
    auto all = r.read_all();
    if (r.size() > 1) (void)r.read(1, r.size());
    if (r.num_tokens() > 0) (void)r.read_ids(r.num_tokens() / 2, r.num_tokens());
    (void)all.subset({0});
  });
  return 0;
}
