// The "tokens" file (qkv-tokenize encode) and its paired form "token_pairs"
// (encode --tsv: groups /src and /tgt): the one reader and writer of both, and
// the special token ids every qkv tokenizer reserves. Layout in
// docs/FORMATS.md. Part of libqkvbase: no BLAS, no OpenCV.
//
//   io::H5In in("train.h5");
//   TokensReader r(in);                    // checks kind, offsets, vocabulary attributes
//   Sequences batch = r.read(0, 64);       // sequences [0, 64): ids checked against vocab_size
//   Sequences all = read_tokens("train.h5");
//
//   TokenPairsReader p(in2);               // p.src, p.tgt: same number of sequences
//   Pairs pairs = read_token_pairs("pairs.h5");
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"

namespace qkv::formats {

constexpr const char* kTokensKind = "tokens";
constexpr const char* kTokenPairsKind = "token_pairs";

// Ids 0..3 of every tokenizer, in every tokens file.
// The largest vocabulary a tokens file may claim (4,194,304: over ten times
// the largest tokenizers in use); a corrupt vocab_size would otherwise size
// the model's embedding.
constexpr int64_t kMaxVocabSize = int64_t{1} << 22;
constexpr int32_t kPadId = 0, kBosId = 1, kEosId = 2, kUnkId = 3, kNumSpecialIds = 4;
extern const char* const kSpecialNames[kNumSpecialIds];  // "<pad>", "<bos>", "<eos>", "<unk>"

// The vocabulary facts a group of sequences carries (attributes of the root
// of a tokens file, or of /src and /tgt of a token_pairs file).
struct Vocab {
  int64_t vocab_size = 0;
  int32_t pad_id = kPadId, bos_id = kBosId, eos_id = kEosId, unk_id = kUnkId;
  std::string tokenizer_sha256;
};

// Ragged id sequences: sequence i is ids[offsets[i], offsets[i+1]).
struct Sequences {
  std::vector<int32_t> ids;          // (total,)
  std::vector<int64_t> offsets{0};   // (n+1,)
  Vocab vocab;
  std::string path;  // the file they came from, for messages

  int64_t n() const { return static_cast<int64_t>(offsets.size()) - 1; }
  const int32_t* seq(int64_t i) const { return ids.data() + offsets[i]; }
  int64_t len(int64_t i) const { return offsets[i + 1] - offsets[i]; }
  void end_sequence() { offsets.push_back(static_cast<int64_t>(ids.size())); }  // after appending its ids
  void push(const int32_t* p, int64_t len);
  Sequences subset(const std::vector<int64_t>& idx) const;  // same vocab, chosen sequences in order
};

struct Pairs {
  Sequences src, tgt;  // src.n() == tgt.n()
  std::string path;
  int64_t n() const { return src.n(); }
  Pairs subset(const std::vector<int64_t>& idx) const;
};

// One group of sequences in an open file. The constructor reads the
// vocabulary attributes and the offsets (8 bytes a sequence) and checks them;
// read() fetches the ids of a range of sequences and checks each is in
// [0, vocab_size). Every failure is one DataError naming the file and group.
class TokensReader {
 public:
  explicit TokensReader(const io::H5In& in);              // a "tokens" file (kind checked)
  TokensReader(const io::H5In& in, const std::string& group);  // "/", "/src", "/tgt" (kind not checked)

  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }  // sequences
  int64_t num_tokens() const { return offsets_.back(); }
  int64_t len(int64_t i) const { return offsets_[i + 1] - offsets_[i]; }
  const Vocab& vocab() const { return vocab_; }
  const std::string& where() const { return where_; }  // "FILE: " or "FILE: /src: ", for messages

  Sequences read(int64_t begin, int64_t end) const;  // sequences [begin, end)
  // Ids [first, last) of all sequences as one token stream (LM windows), checked as read() checks them.
  std::vector<int32_t> read_ids(int64_t first, int64_t last) const;
  Sequences read_all() const { return read(0, size()); }

 private:
  const io::H5In& in_;
  std::string prefix_, where_;
  Vocab vocab_;
  std::vector<int64_t> offsets_;  // (n+1,)
};

// A "token_pairs" file: /src and /tgt with the same number of sequences.
class TokenPairsReader {
 public:
  explicit TokenPairsReader(const io::H5In& in);
  int64_t size() const { return src.size(); }
  Pairs read(int64_t begin, int64_t end) const;
  Pairs read_all() const { return read(0, size()); }

  TokensReader src, tgt;
};

// Whole files, read and checked.
Sequences read_tokens(const std::string& path);
Pairs read_token_pairs(const std::string& path);

// Writes the ids/offsets of group ("/" = root) as sequences arrive, so the
// output never has to fit in memory.
class TokensWriter {
 public:
  TokensWriter(io::H5StreamOut& out, const std::string& group);
  void append(const Sequences& part);  // part's sequences after those so far
  int64_t sequences() const { return sequences_; }
  int64_t tokens() const { return tokens_; }
  // The vocabulary attributes on the group (vocab_size, pad/bos/eos/unk_id, tokenizer_sha256).
  void finish(int64_t vocab_size, const std::string& tokenizer_sha256);

 private:
  io::H5StreamOut& out_;
  std::string group_;
  int ids_col_, offsets_col_;
  int64_t sequences_ = 0, tokens_ = 0;
  std::vector<int64_t> scratch_;
};

}  // namespace qkv::formats
