// A learned tokenizer (byte-level BPE, characters or words): its vocabulary,
// its merges, and the encode/decode that use them. The file layout
// (qkv_format "tokenizer") is documented in docs/FORMATS.md.
//
//   Tokenizer tok = Tokenizer::load("tok.h5");
//   Encoder enc(tok);                       // one per thread: holds a cache
//   std::vector<int32_t> ids;
//   enc.encode("Hello world", ids);         // appends ids
//   std::string text = tok.decode(ids.data(), ids.size());
//
// Ids are fixed at the front: <pad>=0 <bos>=1 <eos>=2 <unk>=3, then the user
// special tokens, then the base alphabet (the 256 bytes for bpe, characters
// for char, words for word), then (bpe) one id per merge in merge order.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/tokens.h"
#include "tokenize/pretokenize.h"
#include "tokenize/str_map.h"

namespace qkv::tokenize {

enum class Model { bpe, chars, words };
const char* model_name(Model m);          // "bpe", "char", "word"
Model model_from_name(const std::string& name);  // throws UsageError

// piece_types values stored in the file.
enum PieceType : uint8_t { kControl = 0, kUnknown = 1, kUserSpecial = 2, kBase = 3, kMerged = 4 };

// The special ids 0..3 and their pieces "<pad>", "<bos>", "<eos>", "<unk>" (formats/tokens.h).
using formats::kBosId;
using formats::kEosId;
using formats::kNumSpecialIds;
using formats::kPadId;
using formats::kSpecialNames;
using formats::kUnkId;

class Tokenizer {
 public:
  Model model = Model::bpe;
  PreTokenizer pretokenizer = PreTokenizer::gpt2;
  std::vector<std::string> pieces;   // id -> bytes of the piece
  std::vector<uint8_t> types;        // id -> PieceType
  std::vector<int64_t> counts;       // id -> corpus count (base pieces) or pair count when merged (merges)
  std::vector<std::pair<int32_t, int32_t>> merges;  // rank -> (left id, right id); makes id first_merged + rank
  int32_t num_user_specials = 0;
  std::string sha256;  // of the file it was loaded from ("" when built in memory)
  std::string source;  // path it was loaded from, for messages

  int32_t vocab_size() const { return static_cast<int32_t>(pieces.size()); }
  int32_t first_base() const { return kNumSpecialIds + num_user_specials; }
  int32_t first_merged() const { return vocab_size() - static_cast<int32_t>(merges.size()); }

  // Builds the lookup tables; call after filling the fields above (load() does).
  void build_index();

  // Checks the invariants of a loaded or learned tokenizer; throws DataError
  // "SOURCE: ..." when one fails.
  void validate() const;

  static Tokenizer load(const std::string& path);  // checks kind and invariants
  static Tokenizer load(const io::H5In& in);        // the same, from an open file (fuzz/tokenizer_fuzz.cpp)
  // Writes the tokenizer file (atomically; "-" = stdout).
  void save(const std::string& path) const;

  // Decodes ids (all must be in [0, vocab_size()), as formats::TokensReader checks) to bytes,
  // appending to out. <pad>, <bos>, <eos> give nothing; the word model puts one
  // space between words.
  void decode(const int32_t* ids, size_t n, std::string& out) const;
  std::string decode(const int32_t* ids, size_t n) const {
    std::string s;
    decode(ids, n, s);
    return s;
  }

  // Piece text for display: space as U+2581 (as spm_encode prints it), \t \n
  // \r \\ escaped, other control and non-UTF-8 bytes as \xNN.
  std::string display_piece(int32_t id) const;

  // Index: user specials by text, base/word/char pieces by text, merge ranks.
  const StrMap<int32_t>& piece_index() const { return piece_index_; }
  const std::vector<std::string>& user_specials() const { return user_specials_; }
  // Rank of merging (a, b), or -1.
  int32_t merge_rank(int32_t a, int32_t b) const {
    const int32_t* r = merge_rank_.find(pair_key(a, b));
    return r ? *r : -1;
  }

 private:
  StrMap<int32_t> piece_index_{16};
  U64Map<int32_t> merge_rank_{16};
  std::vector<std::string> user_specials_;
};

// Splits text at occurrences of the user special tokens (leftmost, then
// longest). Calls seg(std::string_view) for text between them and
// special(int32_t id) for each occurrence.
template <class Seg, class Special>
void split_specials(const std::vector<std::string>& specials, int32_t first_id, std::string_view text, Seg&& seg,
                    Special&& special);

// Encodes text with one tokenizer; holds the pre-token -> ids cache, so use
// one Encoder per thread.
class Encoder {
 public:
  explicit Encoder(const Tokenizer& tok);  // keeps a reference: tok must outlive the encoder
  Encoder(Tokenizer&&) = delete;            // a temporary would not (ASan found one in a test)
  // Appends the ids of text to out.
  void encode(std::string_view text, std::vector<int32_t>& out);

 private:
  void encode_segment(std::string_view text, std::vector<int32_t>& out);
  void encode_bpe_piece(std::string_view piece, std::vector<int32_t>& out);
  void bpe_merge(std::string_view piece, std::vector<int32_t>& out);

  const Tokenizer& tok_;
  StrMap<std::pair<uint32_t, uint32_t>> cache_;  // pre-token -> (offset, count) in cache_ids_
  std::vector<int32_t> cache_ids_;
  // scratch for bpe_merge
  struct Sym {
    int32_t id, prev, next;
  };
  std::vector<Sym> syms_;
  struct Cand {
    int32_t rank, left;
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<Cand> heap_;
};

// ---------------------------------------------------------------------------

template <class Seg, class Special>
void split_specials(const std::vector<std::string>& specials, int32_t first_id, std::string_view text, Seg&& seg,
                    Special&& special) {
  if (specials.empty()) {
    seg(text);
    return;
  }
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int best = -1;
    size_t best_len = 0;
    for (size_t k = 0; k < specials.size(); ++k) {
      const std::string& sp = specials[k];
      if (sp.size() > best_len && text.size() - i >= sp.size() && text[i] == sp[0] &&
          text.compare(i, sp.size(), sp) == 0) {
        best = static_cast<int>(k);
        best_len = sp.size();
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    if (i > start) seg(text.substr(start, i - start));
    special(first_id + best);
    i += best_len;
    start = i;
  }
  if (start < text.size()) seg(text.substr(start));
}

}  // namespace qkv::tokenize
