#include "tokenize/text_lines.h"

#include <algorithm>

#include "core/error.h"
#include "formats/tokens.h"

namespace qkv::tokenize {

TextLines::TextLines(const std::vector<std::string>& paths, std::string hint)
    : lines_(paths, 1 << 20), hint_(std::move(hint)) {}

bool TextLines::next(std::string& line) {
  while (pending_.empty()) {
    std::string_view block;
    if (!lines_.next(block)) return false;
    if (lines_.current_name() != checked_) {  // the first block of a file
      checked_ = lines_.current_name();
      if (block.substr(0, 8) == std::string_view("\x89HDF\r\n\x1a\n", 8))
        throw DataError(checked_ + ": an HDF5 file, but -t reads text lines (" + hint_ + ")");
    }
    for_each_line(block, [&](std::string_view l) { pending_.emplace_back(l); });
    std::reverse(pending_.begin(), pending_.end());
  }
  line = std::move(pending_.back());
  pending_.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF text
  return true;
}

void encode_line(Encoder& enc, std::string_view text, bool bos, bool eos, std::vector<int32_t>& ids) {
  if (bos) ids.push_back(formats::kBosId);
  enc.encode(text, ids);
  if (eos) ids.push_back(formats::kEosId);
}

void check_model_vocab(const Tokenizer& tok, int64_t vocab, const std::string& side, const std::string& model,
                       const std::string& hint) {
  if (tok.vocab_size() != vocab)
    throw DataError(tok.source + ": a vocabulary of " + std::to_string(tok.vocab_size()) + " tokens, but the " + side +
                    " vocabulary of " + model + " has " + std::to_string(vocab) + hint);
}

}  // namespace qkv::tokenize
