#include "formats/tokens.h"

#include "core/error.h"

namespace qkv::formats {

const char* const kSpecialNames[kNumSpecialIds] = {"<pad>", "<bos>", "<eos>", "<unk>"};

namespace {

const char* const kIdAttrs[kNumSpecialIds] = {"pad_id", "bos_id", "eos_id", "unk_id"};

std::string group_name(const std::string& group) { return group.empty() || group == "/" ? "/" : group; }

const io::H5In& of_kind(const io::H5In& in, const char* kind) {
  in.expect_kind(kind);
  return in;
}

}  // namespace

void Sequences::push(const int32_t* p, int64_t len) {
  ids.insert(ids.end(), p, p + len);
  end_sequence();
}

Sequences Sequences::subset(const std::vector<int64_t>& idx) const {
  Sequences s;
  s.vocab = vocab;
  s.path = path;
  for (int64_t i : idx) s.push(seq(i), len(i));
  return s;
}

Pairs Pairs::subset(const std::vector<int64_t>& idx) const { return {src.subset(idx), tgt.subset(idx), path}; }

TokensReader::TokensReader(const io::H5In& in) : TokensReader(of_kind(in, kTokensKind), "/") {}

TokensReader::TokensReader(const io::H5In& in, const std::string& group) : in_(in) {
  const std::string g = group_name(group);
  prefix_ = g == "/" ? "" : g + "/";
  where_ = in.path() + ": " + (g == "/" ? "" : g + ": ");

  // Offsets: n + 1 non-decreasing entries from 0 to the number of ids.
  Tensor off = in.read(prefix_ + "offsets", DType::i64, 1);  // (n+1,)
  const int64_t m = off.numel();
  if (m < 1) throw DataError(where_ + "offsets is empty (needs n + 1 entries)");
  const int64_t* o = off.data<int64_t>();
  if (o[0] != 0) throw DataError(where_ + "offsets[0] is " + std::to_string(o[0]) + ", expected 0");
  for (int64_t i = 1; i < m; ++i)
    if (o[i] < o[i - 1]) throw DataError(where_ + "offsets decrease at index " + std::to_string(i));
  Shape ids = in.shape(prefix_ + "ids");
  if (ids.size() != 1) throw DataError(where_ + "ids: expected 1 dims, found shape " + shape_str(ids));
  if (o[m - 1] != ids[0])
    throw DataError(where_ + "offsets end at " + std::to_string(o[m - 1]) + " but ids has " + std::to_string(ids[0]) +
                    " entries");
  offsets_.assign(o, o + m);

  // Vocabulary: vocab_size is required, the special ids default to 0..3.
  if (!in.has_attr(g, "vocab_size")) throw DataError(where_ + "missing attribute vocab_size");
  vocab_.vocab_size = in.attr_int(g, "vocab_size");
  if (vocab_.vocab_size <= 0)
    throw DataError(where_ + "vocab_size " + std::to_string(vocab_.vocab_size) + " is not a valid size");
  if (vocab_.vocab_size > kMaxVocabSize)
    throw DataError(where_ + "vocab_size " + std::to_string(vocab_.vocab_size) + " is beyond qkv's limit of " +
                    std::to_string(kMaxVocabSize) + " (corrupt attribute?)");
  int32_t* special[kNumSpecialIds] = {&vocab_.pad_id, &vocab_.bos_id, &vocab_.eos_id, &vocab_.unk_id};
  for (int k = 0; k < kNumSpecialIds; ++k) {
    if (!in.has_attr(g, kIdAttrs[k])) continue;
    int64_t v = in.attr_int(g, kIdAttrs[k]);
    if (v < 0 || v >= vocab_.vocab_size)
      throw DataError(where_ + "attribute " + kIdAttrs[k] + " = " + std::to_string(v) +
                      " is outside the vocabulary of " + std::to_string(vocab_.vocab_size));
    *special[k] = static_cast<int32_t>(v);
  }
  if (in.has_attr(g, "tokenizer_sha256")) vocab_.tokenizer_sha256 = in.attr_string(g, "tokenizer_sha256");
}

Sequences TokensReader::read(int64_t begin, int64_t end) const {
  QKV_CHECK(0 <= begin && begin <= end && end <= size(), "sequence range");
  Sequences s;
  s.vocab = vocab_;
  s.path = in_.path();
  const int64_t first = offsets_[begin];
  s.ids = read_ids(first, offsets_[end]);
  s.offsets.resize(static_cast<size_t>(end - begin + 1));
  for (int64_t i = begin; i <= end; ++i) s.offsets[i - begin] = offsets_[i] - first;
  return s;
}

std::vector<int32_t> TokensReader::read_ids(int64_t first, int64_t last) const {
  QKV_CHECK(0 <= first && first <= last && last <= num_tokens(), "token range");
  Tensor ids = in_.read_rows(prefix_ + "ids", DType::i32, first, last, 1);  // (last - first,)
  const int32_t* p = ids.data<int32_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    if (p[i] < 0 || p[i] >= vocab_.vocab_size)
      throw DataError(where_ + "token id " + std::to_string(p[i]) + " at position " + std::to_string(first + i) +
                      " is outside the vocabulary (vocab_size " + std::to_string(vocab_.vocab_size) + ")");
  return std::vector<int32_t>(p, p + ids.numel());
}

TokenPairsReader::TokenPairsReader(const io::H5In& in)
    : src(of_kind(in, kTokenPairsKind), "/src"), tgt(in, "/tgt") {
  if (src.size() != tgt.size())
    throw DataError(in.path() + ": /src has " + std::to_string(src.size()) + " sequences but /tgt has " +
                    std::to_string(tgt.size()));
}

Pairs TokenPairsReader::read(int64_t begin, int64_t end) const {
  Pairs p{src.read(begin, end), tgt.read(begin, end), ""};
  p.path = p.src.path;
  return p;
}

Sequences read_tokens(const std::string& path) {
  io::H5In in(path);
  return TokensReader(in).read_all();
}

Pairs read_token_pairs(const std::string& path) {
  io::H5In in(path);
  return TokenPairsReader(in).read_all();
}

TokensWriter::TokensWriter(io::H5StreamOut& out, const std::string& group) : out_(out), group_(group) {
  std::string prefix = group == "/" ? "" : group + "/";
  ids_col_ = out.add_column(prefix + "ids", DType::i32, 1 << 18);          // (total,)
  offsets_col_ = out.add_column(prefix + "offsets", DType::i64, 1 << 18);  // (n+1,)
  int64_t zero = 0;
  out.append(offsets_col_, &zero, 1);
}

void TokensWriter::append(const Sequences& part) {
  out_.append(ids_col_, part.ids.data(), part.ids.size());
  scratch_.resize(part.offsets.size() - 1);
  for (size_t i = 1; i < part.offsets.size(); ++i) scratch_[i - 1] = tokens_ + part.offsets[i];
  out_.append(offsets_col_, scratch_.data(), scratch_.size());
  tokens_ += static_cast<int64_t>(part.ids.size());
  sequences_ += part.n();
}

void TokensWriter::finish(int64_t vocab_size, const std::string& tokenizer_sha256) {
  out_.set_attr(group_, "vocab_size", vocab_size);
  const int32_t ids[kNumSpecialIds] = {kPadId, kBosId, kEosId, kUnkId};
  for (int k = 0; k < kNumSpecialIds; ++k) out_.set_attr(group_, kIdAttrs[k], int64_t{ids[k]});
  out_.set_attr(group_, "tokenizer_sha256", tokenizer_sha256);
}

}  // namespace qkv::formats
