// CMUdict (Festival's cmudict-0.4.out, Debian package festlex-cmu) turned into
// grapheme-to-phoneme pairs for seq2seq training:
//
//   ("aardvark" nil (((aa r d) 1) ((v aa r k) 1)))   ->   aardvark <TAB> aa r d v aa r k
//
// Stress digits are dropped. Words with several pronunciations give several
// lines. The train/validation split is by word, from a hash of the word
// (FNV-1a 64), so it is reproducible anywhere and every pronunciation of a word
// lands on the same side.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv::train {

struct G2pEntry {
  std::string word;
  std::vector<std::string> phones;
};

// Parses the dictionary text; name is used in messages. Malformed lines
// throw DataError naming the line; the "MNCL" header line is skipped.
std::vector<G2pEntry> parse_cmudict(const std::string& text, const std::string& name);

uint64_t fnv1a64(const std::string& s);

// True when the word belongs to the validation side: fnv1a64(word) % 1000 < val_permille.
bool g2p_is_val(const std::string& word, int val_permille);

struct G2pSplitStats {
  int64_t train_lines = 0, val_lines = 0, train_words = 0, val_words = 0;
};

// Writes DIR/train.tsv and DIR/val.tsv (atomically), one "word<TAB>phones" per
// pronunciation, duplicates (same word and phones) kept once.
G2pSplitStats write_g2p_split(const std::vector<G2pEntry>& entries, const std::string& dir, int val_permille);

}  // namespace qkv::train
