#include "tokenize/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "io/h5.h"
#include "tokenize/utf8.h"

namespace qkv::tokenize {

const char* model_name(Model m) {
  switch (m) {
    case Model::bpe: return "bpe";
    case Model::chars: return "char";
    case Model::words: return "word";
  }
  return "?";
}

Model model_from_name(const std::string& name) {
  if (name == "bpe") return Model::bpe;
  if (name == "char") return Model::chars;
  if (name == "word") return Model::words;
  throw UsageError("unknown model '" + name + "' (expected bpe, char or word)");
}

void Tokenizer::build_index() {
  piece_index_ = StrMap<int32_t>(pieces.size() + 16);
  user_specials_.clear();
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (types[id] == kUserSpecial) user_specials_.push_back(pieces[id]);
    // Base pieces of chars/words are looked up by text; bytes are looked up by value.
    if (types[id] == kBase && model != Model::bpe) piece_index_.get_or_insert(pieces[id], id);
  }
  merge_rank_ = U64Map<int32_t>(merges.size() + 16);
  for (size_t r = 0; r < merges.size(); ++r)
    merge_rank_.get_or_insert(pair_key(merges[r].first, merges[r].second), static_cast<int32_t>(r));
}

void Tokenizer::validate() const {
  const std::string& src = source.empty() ? std::string("tokenizer") : source;
  auto fail = [&](const std::string& what) { throw DataError(src + ": " + what); };
  int32_t v = vocab_size();
  if (types.size() != pieces.size() || counts.size() != pieces.size())
    fail("piece_types/piece_counts do not match the number of pieces");
  if (v < kNumSpecialIds + num_user_specials) fail("vocabulary smaller than its special tokens");
  for (int32_t i = 0; i < kNumSpecialIds; ++i)
    if (pieces[i] != kSpecialNames[i] || types[i] != (i == kUnkId ? kUnknown : kControl))
      fail("id " + std::to_string(i) + " must be the special token " + kSpecialNames[i]);
  for (int32_t i = kNumSpecialIds; i < first_base(); ++i) {
    if (types[i] != kUserSpecial) fail("id " + std::to_string(i) + " should be a user special token");
    if (pieces[i].empty()) fail("user special token " + std::to_string(i) + " is empty");
  }
  int32_t fm = first_merged();
  if (fm < first_base()) fail("more merges than pieces");
  for (int32_t i = first_base(); i < fm; ++i)
    if (types[i] != kBase) fail("id " + std::to_string(i) + " should be a base piece");
  if (model == Model::bpe) {
    if (fm - first_base() != 256) fail("a bpe tokenizer needs exactly 256 byte pieces");
    for (int b = 0; b < 256; ++b)
      if (pieces[first_base() + b] != std::string(1, static_cast<char>(b)))
        fail("byte piece " + std::to_string(first_base() + b) + " is not byte " + std::to_string(b));
  } else if (!merges.empty()) {
    fail(std::string("a ") + model_name(model) + " tokenizer has no merges");
  }
  for (size_t r = 0; r < merges.size(); ++r) {
    int32_t id = fm + static_cast<int32_t>(r);
    auto [a, b] = merges[r];
    if (a < first_base() || b < first_base() || a >= id || b >= id)
      fail("merge " + std::to_string(r) + " joins ids (" + std::to_string(a) + ", " + std::to_string(b) +
           ") that are not earlier pieces");
    if (types[id] != kMerged || pieces[id] != pieces[a] + pieces[b])
      fail("piece " + std::to_string(id) + " is not the concatenation of merge " + std::to_string(r));
  }
  if (model != Model::bpe) {
    for (int32_t i = first_base(); i < v; ++i) {
      if (pieces[i].empty()) fail("piece " + std::to_string(i) + " is empty");
      if (model == Model::words && pretokenizer == PreTokenizer::whitespace)
        for (unsigned char c : pieces[i])
          if (is_space_byte(c)) fail("word piece " + std::to_string(i) + " contains whitespace");
    }
  }
}

// ---------------------------------------------------------------------------
// File layout (docs/FORMATS.md, "tokenizer").

void Tokenizer::save(const std::string& path) const {
  io::H5Out out(path, "tokenizer");
  int32_t v = vocab_size();
  std::vector<int64_t> offsets(static_cast<size_t>(v) + 1, 0);
  size_t total = 0;
  for (int32_t i = 0; i < v; ++i) offsets[i + 1] = static_cast<int64_t>(total += pieces[i].size());
  Tensor bytes({static_cast<int64_t>(total)}, DType::u8);  // (total_bytes,)
  uint8_t* p = bytes.data<uint8_t>();
  for (auto& s : pieces) {
    std::copy(s.begin(), s.end(), p);
    p += s.size();
  }
  out.write("pieces", bytes);
  out.write("piece_offsets", Tensor::from(offsets, {v + 1}));  // (V+1,)
  out.write("piece_types", Tensor::from(types, {v}));          // (V,)
  out.write("piece_counts", Tensor::from(counts, {v}));        // (V,)
  std::vector<int32_t> m;
  m.reserve(merges.size() * 2);
  for (auto& [a, b] : merges) {
    m.push_back(a);
    m.push_back(b);
  }
  out.write("merges", Tensor::from(m, {static_cast<int64_t>(merges.size()), 2}));  // (M, 2)
  out.set_attr("/", "model", std::string(model_name(model)));
  out.set_attr("/", "pretokenizer", std::string(pretokenizer_name(pretokenizer)));
  out.set_attr("/", "vocab_size", int64_t{v});
  out.set_attr("/", "pad_id", int64_t{kPadId});
  out.set_attr("/", "bos_id", int64_t{kBosId});
  out.set_attr("/", "eos_id", int64_t{kEosId});
  out.set_attr("/", "unk_id", int64_t{kUnkId});
  out.set_attr("/", "num_user_specials", int64_t{num_user_specials});
  out.set_attr("/", "first_base_id", int64_t{first_base()});
  out.set_attr("/", "first_merged_id", int64_t{first_merged()});
  out.commit();
}

Tokenizer Tokenizer::load(const std::string& path) {
  io::H5In in(path);
  return load(in);
}

Tokenizer Tokenizer::load(const io::H5In& in) {
  in.expect_kind("tokenizer");
  Tokenizer t;
  t.source = in.path();
  t.sha256 = in.sha256();
  std::string where = in.path() + ": ";
  try {
    t.model = model_from_name(in.attr_string("/", "model"));
    t.pretokenizer = pretokenizer_from_name(in.attr_string("/", "pretokenizer"));
  } catch (const UsageError& e) {
    throw DataError(where + e.what());
  }
  int64_t nus = in.attr_int("/", "num_user_specials");
  Tensor bytes = in.read("pieces", DType::u8, 1);             // (total_bytes,)
  Tensor offsets = in.read("piece_offsets", DType::i64, 1);   // (V+1,)
  Tensor types = in.read("piece_types", DType::u8, 1);        // (V,)
  Tensor counts = in.read("piece_counts", DType::i64, 1);     // (V,)
  Tensor merges = in.read("merges", DType::i32, 2);           // (M, 2)
  int64_t v = offsets.numel() - 1;
  if (v < kNumSpecialIds) throw DataError(where + "piece_offsets: too few pieces");
  if (types.numel() != v || counts.numel() != v)
    throw DataError(where + "piece_types/piece_counts must have " + std::to_string(v) + " entries");
  if (merges.dim(1) != 2) throw DataError(where + "merges must have shape (M, 2)");
  if (in.attr_int("/", "vocab_size") != v)
    throw DataError(where + "attribute vocab_size does not match piece_offsets");
  if (nus < 0 || nus > v) throw DataError(where + "bad num_user_specials");
  const int64_t* off = offsets.data<int64_t>();
  const uint8_t* b = bytes.data<uint8_t>();
  if (off[0] != 0 || off[v] != bytes.numel()) throw DataError(where + "piece_offsets do not span /pieces");
  // Every offset checked before any is used: with off[0] = 0, off[v] = the byte
  // count and no decrease, each piece lies inside /pieces.
  for (int64_t i = 0; i < v; ++i)
    if (off[i + 1] < off[i]) throw DataError(where + "piece_offsets decrease at " + std::to_string(i));
  t.pieces.resize(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i)
    t.pieces[i].assign(reinterpret_cast<const char*>(b + off[i]), static_cast<size_t>(off[i + 1] - off[i]));
  t.types.assign(types.data<uint8_t>(), types.data<uint8_t>() + v);
  t.counts.assign(counts.data<int64_t>(), counts.data<int64_t>() + v);
  t.num_user_specials = static_cast<int32_t>(nus);
  const int32_t* m = merges.data<int32_t>();
  for (int64_t r = 0; r < merges.dim(0); ++r) t.merges.emplace_back(m[2 * r], m[2 * r + 1]);
  if (static_cast<int64_t>(t.merges.size()) > v) throw DataError(where + "more merges than pieces");
  t.validate();
  t.build_index();
  return t;
}

// ---------------------------------------------------------------------------

void Tokenizer::decode(const int32_t* ids, size_t n, std::string& out) const {
  bool space_join = model == Model::words && pretokenizer == PreTokenizer::whitespace;
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    int32_t id = ids[i];
    if (id < kUnkId) continue;  // <pad> <bos> <eos>
    if (space_join && !first) out.push_back(' ');
    out += pieces[static_cast<size_t>(id)];
    first = false;
  }
}

std::string Tokenizer::display_piece(int32_t id) const {
  const std::string& s = pieces[static_cast<size_t>(id)];
  if (types[id] != kBase && types[id] != kMerged) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = utf8_char_len(s, i);
    if (len > 1) {
      out.append(s, i, len);
      i += len;
      continue;
    }
    char buf[8];
    if (c == ' ') out += "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, as sentencepiece shows a space
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c >= 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else out.push_back(static_cast<char>(c));
    ++i;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Encoding

Encoder::Encoder(const Tokenizer& tok) : tok_(tok), cache_(1 << 14) {}

void Encoder::encode(std::string_view text, std::vector<int32_t>& out) {
  split_specials(
      tok_.user_specials(), kNumSpecialIds, text, [&](std::string_view seg) { encode_segment(seg, out); },
      [&](int32_t id) { out.push_back(id); });
}

void Encoder::encode_segment(std::string_view text, std::vector<int32_t>& out) {
  switch (tok_.model) {
    case Model::bpe:
      pretokenize(tok_.pretokenizer, text, [&](std::string_view piece) { encode_bpe_piece(piece, out); });
      return;
    case Model::words:
      pretokenize(tok_.pretokenizer, text, [&](std::string_view w) {
        const int32_t* id = tok_.piece_index().find(w);
        out.push_back(id ? *id : kUnkId);
      });
      return;
    case Model::chars: {
      size_t i = 0;
      while (i < text.size()) {
        size_t len = utf8_char_len(text, i);
        const int32_t* id = tok_.piece_index().find(text.substr(i, len));
        out.push_back(id ? *id : kUnkId);
        i += len;
      }
      return;
    }
  }
}

void Encoder::encode_bpe_piece(std::string_view piece, std::vector<int32_t>& out) {
  constexpr size_t kMaxCachedLen = 64, kMaxCacheEntries = 1 << 20;
  if (piece.size() > kMaxCachedLen) {
    bpe_merge(piece, out);
    return;
  }
  uint64_t h = hash_bytes(piece.data(), piece.size());
  if (const auto* hit = cache_.find(piece, h)) {
    out.insert(out.end(), cache_ids_.begin() + hit->first, cache_ids_.begin() + hit->first + hit->second);
    return;
  }
  size_t before = out.size();
  bpe_merge(piece, out);
  if (cache_.size() >= kMaxCacheEntries) {  // bounded memory on endless vocabularies
    cache_.clear();
    cache_ids_.clear();
  }
  uint32_t off = static_cast<uint32_t>(cache_ids_.size()), cnt = static_cast<uint32_t>(out.size() - before);
  cache_ids_.insert(cache_ids_.end(), out.begin() + before, out.end());
  cache_.get_or_insert(piece, h, {off, cnt});
}

// Applies the merges to one pre-token by rank, lowest first, each rank left to
// right: exactly the segmentation learning produced. A heap of candidate
// pairs over a linked list of symbols keeps a 1 MB pre-token O(n log n).
void Encoder::bpe_merge(std::string_view piece, std::vector<int32_t>& out) {
  const int32_t base = tok_.first_base(), first_merged = tok_.first_merged();
  size_t n = piece.size();
  if (n == 1) {
    out.push_back(base + static_cast<unsigned char>(piece[0]));
    return;
  }
  syms_.resize(n);
  for (size_t i = 0; i < n; ++i)
    syms_[i] = Sym{base + static_cast<unsigned char>(piece[i]), static_cast<int32_t>(i) - 1,
                   i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  heap_.clear();
  for (size_t i = 0; i + 1 < n; ++i) {
    int32_t r = tok_.merge_rank(syms_[i].id, syms_[i + 1].id);
    if (r >= 0) heap_.push_back({r, static_cast<int32_t>(i)});
  }
  std::make_heap(heap_.begin(), heap_.end());
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end());
    Cand c = heap_.back();
    heap_.pop_back();
    Sym& l = syms_[c.left];
    if (l.id < 0 || l.next < 0) continue;  // consumed
    Sym& r = syms_[l.next];
    const auto& m = tok_.merges[c.rank];
    if (l.id != m.first || r.id != m.second) continue;  // stale
    l.id = first_merged + c.rank;
    r.id = -1;
    l.next = r.next;
    if (l.next >= 0) syms_[l.next].prev = c.left;
    if (l.prev >= 0) {
      int32_t rk = tok_.merge_rank(syms_[l.prev].id, l.id);
      if (rk >= 0) {
        heap_.push_back({rk, l.prev});
        std::push_heap(heap_.begin(), heap_.end());
      }
    }
    if (l.next >= 0) {
      int32_t rk = tok_.merge_rank(l.id, syms_[l.next].id);
      if (rk >= 0) {
        heap_.push_back({rk, c.left});
        std::push_heap(heap_.begin(), heap_.end());
      }
    }
  }
  for (int32_t i = 0; i >= 0; i = syms_[i].next) out.push_back(syms_[i].id);
}

}  // namespace qkv::tokenize
