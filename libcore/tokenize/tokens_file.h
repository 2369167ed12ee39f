// The tokens file (qkv_format "tokens") and the paired form (qkv_format
// "token_pairs", groups /src and /tgt) that qkv-train and qkv-decode read.
// Layout in docs/FORMATS.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"
#include "tokenize/tokenizer.h"

namespace qkv::tokenize {

// Ragged id sequences: sequence i is ids[offsets[i], offsets[i+1]).
struct TokenSeqs {
  std::vector<int32_t> ids;          // (total,)
  std::vector<int64_t> offsets{0};   // (n+1,)
  int64_t size() const { return static_cast<int64_t>(offsets.size()) - 1; }
  void end_sequence() { offsets.push_back(static_cast<int64_t>(ids.size())); }
};

// Sequences as read from a file (the tensors themselves, not copies).
struct StoredSeqs {
  Tensor ids;      // int32 (total,)
  Tensor offsets;  // int64 (n+1,)
  int64_t size() const { return offsets.numel() - 1; }
  const int32_t* seq(int64_t i) const { return ids.data<int32_t>() + offsets.data<int64_t>()[i]; }
  size_t seq_len(int64_t i) const {
    return static_cast<size_t>(offsets.data<int64_t>()[i + 1] - offsets.data<int64_t>()[i]);
  }
};

// Writes the ids/offsets of group ("/" = root) as sequences arrive, so the
// output never has to fit in memory.
class TokenSeqWriter {
 public:
  TokenSeqWriter(io::H5StreamOut& out, const std::string& group);
  void append(const TokenSeqs& part);  // part's sequences after those so far
  int64_t sequences() const { return sequences_; }
  int64_t tokens() const { return tokens_; }
  // The tokenizer attributes on the group (vocab_size, pad/bos/eos/unk_id, tokenizer_sha256).
  void finish(const Tokenizer& tok);

 private:
  io::H5StreamOut& out_;
  std::string group_;
  int ids_col_, offsets_col_;
  int64_t sequences_ = 0, tokens_ = 0;
  std::vector<int64_t> scratch_;
};

// Reads and checks ids/offsets of group ("/" = root).
StoredSeqs read_token_seqs(const io::H5In& in, const std::string& group);

// Checks that tok can decode group's ids: vocab_size matches and every id is in
// range (DataError naming the file, the group and the first bad id). Warns
// when tokenizer_sha256 names another tokenizer file.
void check_decodable(const io::H5In& in, const std::string& group, const StoredSeqs& seqs, const Tokenizer& tok);

}  // namespace qkv::tokenize
