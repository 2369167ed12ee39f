#include "tokenize/tokens_file.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace qkv::tokenize {

TokenSeqWriter::TokenSeqWriter(io::H5StreamOut& out, const std::string& group) : out_(out), group_(group) {
  std::string prefix = group == "/" ? "" : group + "/";
  ids_col_ = out.add_column(prefix + "ids", DType::i32, 1 << 18);          // (total,)
  offsets_col_ = out.add_column(prefix + "offsets", DType::i64, 1 << 18);  // (n+1,)
  int64_t zero = 0;
  out.append(offsets_col_, &zero, 1);
}

void TokenSeqWriter::append(const TokenSeqs& part) {
  out_.append(ids_col_, part.ids.data(), part.ids.size());
  scratch_.resize(part.offsets.size() - 1);
  for (size_t i = 1; i < part.offsets.size(); ++i) scratch_[i - 1] = tokens_ + part.offsets[i];
  out_.append(offsets_col_, scratch_.data(), scratch_.size());
  tokens_ += static_cast<int64_t>(part.ids.size());
  sequences_ += part.size();
}

void TokenSeqWriter::finish(const Tokenizer& tok) {
  out_.set_attr(group_, "vocab_size", int64_t{tok.vocab_size()});
  out_.set_attr(group_, "pad_id", int64_t{kPadId});
  out_.set_attr(group_, "bos_id", int64_t{kBosId});
  out_.set_attr(group_, "eos_id", int64_t{kEosId});
  out_.set_attr(group_, "unk_id", int64_t{kUnkId});
  out_.set_attr(group_, "tokenizer_sha256", tok.sha256);
}

StoredSeqs read_token_seqs(const io::H5In& in, const std::string& group) {
  std::string prefix = group == "/" ? "" : group + "/";
  std::string where = in.path() + ": " + (group == "/" ? std::string("") : group + ": ");
  StoredSeqs s;
  s.ids = in.read(prefix + "ids", DType::i32, 1);          // (total,)
  s.offsets = in.read(prefix + "offsets", DType::i64, 1);  // (n+1,)
  int64_t total = s.ids.numel(), m = s.offsets.numel();
  if (m < 1) throw DataError(where + "offsets is empty (needs n+1 entries)");
  const int64_t* off = s.offsets.data<int64_t>();
  if (off[0] != 0) throw DataError(where + "offsets[0] is " + std::to_string(off[0]) + ", expected 0");
  for (int64_t i = 1; i < m; ++i)
    if (off[i] < off[i - 1]) throw DataError(where + "offsets decrease at index " + std::to_string(i));
  if (off[m - 1] != total)
    throw DataError(where + "offsets end at " + std::to_string(off[m - 1]) + " but ids has " + std::to_string(total));
  return s;
}

void check_decodable(const io::H5In& in, const std::string& group, const StoredSeqs& seqs, const Tokenizer& tok) {
  std::string where = in.path() + ": " + (group == "/" ? std::string("") : group + ": ");
  if (in.has_attr(group, "vocab_size")) {
    int64_t v = in.attr_int(group, "vocab_size");
    if (v != tok.vocab_size())
      throw DataError(where + "encoded with a " + std::to_string(v) + "-piece vocabulary, but " + tok.source +
                      " has " + std::to_string(tok.vocab_size()));
  }
  const int32_t* ids = seqs.ids.data<int32_t>();
  size_t n = static_cast<size_t>(seqs.ids.numel());
  size_t bad = tok.first_bad_id(ids, n);
  if (bad < n)
    throw DataError(where + "id " + std::to_string(ids[bad]) + " at position " + std::to_string(bad) +
                    " is outside the vocabulary of " + tok.source + " (0.." + std::to_string(tok.vocab_size() - 1) +
                    ")");
  if (in.has_attr(group, "tokenizer_sha256")) {
    std::string sha = in.attr_string(group, "tokenizer_sha256");
    if (!sha.empty() && !tok.sha256.empty() && sha != tok.sha256)
      spdlog::warn("{}encoded with tokenizer sha256 {}, not {} ({})", where, sha.substr(0, 12), tok.source,
                   tok.sha256.substr(0, 12));
  }
}

}  // namespace qkv::tokenize
