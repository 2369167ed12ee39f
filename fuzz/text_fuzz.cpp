// Text corpora (qkv-tokenize learn/encode): LineBlocks over a file in small
// blocks, line splitting, read_document, the pre-tokenizers and UTF-8
// character boundaries; then the promise of `qkv-tokenize decode`: a char and
// a byte-level BPE tokenizer learned from the text give its bytes back
// exactly (document mode), whatever the bytes (invalid UTF-8, NULs, CR).
#include <spdlog/spdlog.h>

#include <string_view>

#include "fuzz_support.h"
#include "tokenize/corpus.h"
#include "tokenize/learn.h"
#include "tokenize/pretokenize.h"
#include "tokenize/tokenizer.h"
#include "tokenize/utf8.h"

using namespace qkv;
using namespace qkv::tokenize;

namespace {
void roundtrip(const std::string& path, const std::string& text, Model model, PreTokenizer pre, int64_t vocab) {
  LearnOptions o;
  o.model = model;
  o.pretokenizer = pre;
  o.vocab_size = vocab;
  o.document = model == Model::chars;
  o.progress = false;
  Tokenizer tok;
  try {
    tok = learn({path}, o);
  } catch (const Error&) {
    return;  // e.g. an empty corpus
  }
  Encoder enc(tok);
  std::vector<int32_t> ids;
  enc.encode(text, ids);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
  if (model != Model::words && tok.decode(ids.data(), ids.size()) != text) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // learn() logs a line per run
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::run([&] {
    // Lines in blocks of ~64 bytes (a longer line makes a longer block).
    LineBlocks in({file.path()}, 64);
    std::string_view block;
    size_t bytes = 0, lines = 0;
    while (in.next(block)) {
      bytes += block.size();
      for_each_line(block, [&](std::string_view) { ++lines; });
      std::vector<size_t> cuts = split_lines(block, 3);
      for (size_t k = 1; k < cuts.size(); ++k)
        if (cuts[k] < cuts[k - 1] || cuts[k] > block.size()) __builtin_trap();
    }
    if (bytes != size) __builtin_trap();
    if (read_document(file.path()) != text) __builtin_trap();
  });
  // UTF-8: every byte string splits into characters of 1-4 bytes covering it.
  size_t i = 0;
  while (i < text.size()) {
    size_t n = utf8_char_len(text, i);
    if (n < 1 || n > 4 || i + n > text.size()) __builtin_trap();
    i += n;
  }
  // Pre-tokens cover the text, in order.
  for (PreTokenizer p : {PreTokenizer::gpt2, PreTokenizer::none, PreTokenizer::whitespace}) {
    size_t covered = 0;
    pretokenize(p, text, [&](std::string_view piece) {
      if (piece.data() < text.data() || piece.data() + piece.size() > text.data() + text.size()) __builtin_trap();
      covered += piece.size();
    });
    if (p != PreTokenizer::whitespace && covered != text.size()) __builtin_trap();
  }
  fuzz::run([&] {
    roundtrip(file.path(), text, Model::chars, PreTokenizer::none, 0);
    roundtrip(file.path(), text, Model::bpe, PreTokenizer::gpt2, kNumSpecialIds + 256 + 24);
    roundtrip(file.path(), text, Model::words, PreTokenizer::whitespace, 0);
  });
  return 0;
}
