#include "tokenize/tokens_file.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace qkv::tokenize {

void TokenSeqs::append(const TokenSeqs& o) {
  int64_t base = static_cast<int64_t>(ids.size());
  ids.insert(ids.end(), o.ids.begin(), o.ids.end());
  for (size_t i = 1; i < o.offsets.size(); ++i) offsets.push_back(base + o.offsets[i]);
}

void write_token_seqs(io::H5Out& out, const std::string& group, const TokenSeqs& seqs, const Tokenizer& tok) {
  std::string prefix = group == "/" ? "" : group + "/";
  out.write(prefix + "ids", Tensor::from(seqs.ids, {static_cast<int64_t>(seqs.ids.size())}));  // (total,)
  out.write(prefix + "offsets", Tensor::from(seqs.offsets, {seqs.size() + 1}));               // (n+1,)
  out.set_attr(group, "vocab_size", int64_t{tok.vocab_size()});
  out.set_attr(group, "pad_id", int64_t{kPadId});
  out.set_attr(group, "bos_id", int64_t{kBosId});
  out.set_attr(group, "eos_id", int64_t{kEosId});
  out.set_attr(group, "unk_id", int64_t{kUnkId});
  out.set_attr(group, "tokenizer_sha256", tok.sha256);
}

TokenSeqs read_token_seqs(const io::H5In& in, const std::string& group) {
  std::string prefix = group == "/" ? "" : group + "/";
  std::string where = in.path() + ": " + (group == "/" ? std::string("") : group + ": ");
  Tensor ids = in.read(prefix + "ids", DType::i32, 1);          // (total,)
  Tensor offsets = in.read(prefix + "offsets", DType::i64, 1);  // (n+1,)
  TokenSeqs s;
  int64_t total = ids.numel(), m = offsets.numel();
  if (m < 1) throw DataError(where + "offsets is empty (needs n+1 entries)");
  const int64_t* off = offsets.data<int64_t>();
  if (off[0] != 0) throw DataError(where + "offsets[0] is " + std::to_string(off[0]) + ", expected 0");
  for (int64_t i = 1; i < m; ++i)
    if (off[i] < off[i - 1]) throw DataError(where + "offsets decrease at index " + std::to_string(i));
  if (off[m - 1] != total)
    throw DataError(where + "offsets end at " + std::to_string(off[m - 1]) + " but ids has " + std::to_string(total));
  s.ids.assign(ids.data<int32_t>(), ids.data<int32_t>() + total);
  s.offsets.assign(off, off + m);
  return s;
}

void check_decodable(const io::H5In& in, const std::string& group, const TokenSeqs& seqs, const Tokenizer& tok) {
  std::string where = in.path() + ": " + (group == "/" ? std::string("") : group + ": ");
  if (in.has_attr(group, "vocab_size")) {
    int64_t v = in.attr_int(group, "vocab_size");
    if (v != tok.vocab_size())
      throw DataError(where + "encoded with a " + std::to_string(v) + "-piece vocabulary, but " + tok.source +
                      " has " + std::to_string(tok.vocab_size()));
  }
  size_t bad = tok.first_bad_id(seqs.ids.data(), seqs.ids.size());
  if (bad < seqs.ids.size())
    throw DataError(where + "id " + std::to_string(seqs.ids[bad]) + " at position " + std::to_string(bad) +
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
