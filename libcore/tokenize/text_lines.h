// Text given to a model through a tokenizer (qkv-decode -t, qkv-attend -t):
// lines of text files read one after the other, each encoded with
// [<bos>] pieces [<eos>], and the check that a tokenizer fits the model it
// feeds.
//
//   TextLines lines({"a.txt", "b.txt"}, "a tokens file is read without -t");
//   std::string line;
//   while (lines.next(line)) encode_line(enc, line, bos, eos, ids);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenize/corpus.h"
#include "tokenize/tokenizer.h"

namespace qkv::tokenize {

// Lines without their '\n' (nor the '\r' of CRLF text); an empty line is an
// empty text. A file starting with the HDF5 signature is refused: DataError
// "FILE: an HDF5 file, but -t reads text lines (" + hint + ")".
class TextLines {
 public:
  TextLines(const std::vector<std::string>& paths, std::string hint);
  bool next(std::string& line);  // false after the last line
  const std::string& current_name() const { return lines_.current_name(); }  // the file of the last line

 private:
  LineBlocks lines_;
  std::string hint_, checked_;        // checked_: the last file whose first bytes were checked
  std::vector<std::string> pending_;  // lines of the current block not yet handed out, last first
};

// ids += [<bos>] encode(text) [<eos>].
void encode_line(Encoder& enc, std::string_view text, bool bos, bool eos, std::vector<int32_t>& ids);

// tok's vocabulary against the model's: DataError "TOK: a vocabulary of N tokens, but the SIDE vocabulary of
// MODEL has V" + hint otherwise (side: "model's", "source", "target").
void check_model_vocab(const Tokenizer& tok, int64_t vocab, const std::string& side, const std::string& model,
                       const std::string& hint);

}  // namespace qkv::tokenize
