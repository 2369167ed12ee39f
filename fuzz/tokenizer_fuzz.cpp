// tokenize::Tokenizer::load (every qkv-tokenize subcommand, qkv-attend's
// labels), then what the tools do with a loaded tokenizer: encode a fixed
// text, decode every id, display every piece.
#include "fuzz_support.h"
#include "tokenize/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkv::fuzz::run([&] {
    qkv::io::H5In in(qkv::fuzz::bytes_of(data, size), "fuzz.h5");
    qkv::tokenize::Tokenizer tok = qkv::tokenize::Tokenizer::load(in);
    qkv::tokenize::Encoder enc(tok);
    std::vector<int32_t> ids;
    enc.encode("Hello, world! h\xc3\xa9llo  \xe2\x96\x81 \xff\xfe tabs\tand\nlines 12345", ids);
    std::vector<int32_t> all(static_cast<size_t>(tok.vocab_size()));
    for (int32_t i = 0; i < tok.vocab_size(); ++i) all[static_cast<size_t>(i)] = i;
    (void)tok.decode(all.data(), all.size());
    (void)tok.decode(ids.data(), ids.size());
    for (int32_t i = 0; i < tok.vocab_size(); ++i) (void)tok.display_piece(i);
  });
  return 0;
}
