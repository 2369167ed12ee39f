#include "train/cmudict.h"

#include <cctype>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/file_io.h"

namespace qkv::train {

std::vector<G2pEntry> parse_cmudict(const std::string& text, const std::string& name) {
  std::vector<G2pEntry> out;
  std::istringstream in(text);
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line == "MNCL" || line[0] == ';') continue;
    auto bad = [&](const std::string& why) {
      return DataError(name + ": line " + std::to_string(lineno) + ": " + why + ": " + line.substr(0, 80));
    };
    if (line.size() < 4 || line[0] != '(' || line[1] != '"') throw bad("expected (\"word\" pos (...))");
    size_t q = line.find('"', 2);
    if (q == std::string::npos || q == 2) throw bad("unterminated or empty word");
    G2pEntry e;
    e.word = line.substr(2, q - 2);
    // After the word: the part of speech (one token), then the syllables.
    size_t p = line.find_first_not_of(' ', q + 1);
    size_t syl = p == std::string::npos ? p : line.find('(', p);
    if (syl == std::string::npos) throw bad("no pronunciation");
    std::string tok;
    auto flush = [&] {
      if (tok.empty()) return;
      if (std::isalpha(static_cast<unsigned char>(tok[0]))) e.phones.push_back(tok);
      else if (!std::isdigit(static_cast<unsigned char>(tok[0]))) throw bad("unexpected token '" + tok + "'");
      tok.clear();
    };
    int depth = 0;
    for (size_t i = syl; i < line.size(); ++i) {
      char c = line[i];
      if (c == '(') { flush(); ++depth; }
      else if (c == ')') { flush(); --depth; }
      else if (c == ' ' || c == '\t') flush();
      else tok += c;
    }
    flush();
    if (depth != -1) throw bad("unbalanced parentheses");  // the entry's own '(' opened before syl
    if (e.phones.empty()) throw bad("no phones");
    out.push_back(std::move(e));
  }
  if (out.empty()) throw DataError(name + ": no dictionary entries found");
  return out;
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool g2p_is_val(const std::string& word, int val_permille) {
  return static_cast<int>(fnv1a64(word) % 1000) < val_permille;
}

G2pSplitStats write_g2p_split(const std::vector<G2pEntry>& entries, const std::string& dir, int val_permille) {
  if (val_permille < 0 || val_permille > 1000) throw UsageError("validation share must be within [0, 1000] per mille");
  std::string train, val;
  std::set<std::string> seen, train_words, val_words;
  G2pSplitStats st;
  for (const auto& e : entries) {
    std::string line = e.word + "\t";
    for (size_t i = 0; i < e.phones.size(); ++i) line += (i ? " " : "") + e.phones[i];
    line += "\n";
    if (!seen.insert(line).second) continue;
    if (g2p_is_val(e.word, val_permille)) {
      val += line;
      ++st.val_lines;
      val_words.insert(e.word);
    } else {
      train += line;
      ++st.train_lines;
      train_words.insert(e.word);
    }
  }
  st.train_words = static_cast<int64_t>(train_words.size());
  st.val_words = static_cast<int64_t>(val_words.size());
  io::write_atomically(dir + "/train.tsv", train.data(), train.size());
  io::write_atomically(dir + "/val.tsv", val.data(), val.size());
  return st;
}

}  // namespace qkv::train
