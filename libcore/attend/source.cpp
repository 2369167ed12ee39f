#include "attend/source.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "decode/decode.h"
#include "nn/arch.h"
#include "nn/batch_rules.h"
#include "nn/decoding.h"
#include "tokenize/text_lines.h"

namespace qkv::attend {

namespace {

int64_t cfg_int(const nn::Model& m, const std::string& key) {
  const nn::ConfigValue* v = m.config().find(key);
  QKV_CHECK(v && std::holds_alternative<int64_t>(*v), "model config has no integer " + key);
  return std::get<int64_t>(*v);
}

// Whether path starts with the HDF5 signature; stdin, a missing file or a folder count as HDF5 (H5In reads
// them, or names the problem).
bool looks_hdf5(const std::string& path) {
  struct stat st;
  if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return true;
  std::ifstream f(path, std::ios::binary);
  char head[8] = {};
  f.read(head, 8);
  return f.gcount() == 8 && std::string(head, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
}

}  // namespace

Source::Source(const nn::Model& m, const std::string& model_path, const InputOptions& o) : task_(m.task()) {
  paths_ = formats::expand_list_files(o.inputs);
  name_ = formats::files_name(paths_);
  const nn::ModelDims d = nn::dims(m);
  max_len_ = seq2seq() ? d.max_len : 0;
  if ((!o.tokenizer.empty() || !o.tgt_tokenizer.empty()) && !lm() && !seq2seq())
    throw UsageError("-t and --tgt-tokenizer are for text models; " + model_path + " is a vit (INPUT: patches)");
  // Tokenizers: the model's vocabulary on each side (qkv-decode's check).
  if (!o.tokenizer.empty()) {
    src_tok_ = std::make_unique<tokenize::Tokenizer>(tokenize::Tokenizer::load(o.tokenizer));
    tokenize::check_model_vocab(*src_tok_, lm() ? d.vocab : d.src_vocab, lm() ? "model's" : "source", model_path,
                                " (a tokenizer of another model?)");
  }
  if (!o.tgt_tokenizer.empty()) {
    if (!seq2seq()) throw UsageError("--tgt-tokenizer is the target side of a seq2seq model; " + model_path +
                                     " is a '" + m.arch() + "'");
    tgt_tok_ = std::make_unique<tokenize::Tokenizer>(tokenize::Tokenizer::load(o.tgt_tokenizer));
  }
  if (seq2seq() && tgt_tokenizer())
    tokenize::check_model_vocab(*tgt_tokenizer(), d.tgt_vocab, "target", model_path,
                                tgt_tok_ ? "" : " (give the target tokenizer with --tgt-tokenizer)");
  text_ = src_tok_ && (paths_[0] == "-" || !looks_hdf5(paths_[0]));
  if (!text_ && (o.bos || o.eos)) throw UsageError("--bos and --eos shape text input: give text lines with -t");
  if (!src_tok_ && !looks_hdf5(paths_[0]))
    throw DataError(paths_[0] + ": not an HDF5 file (text is read with its tokenizer: -t)");
  if (text_) {
    open_text(m, o);
    return;
  }

  const std::string want = lm() ? formats::kTokensKind : seq2seq() ? formats::kTokenPairsKind : formats::kPatchesKind;
  auto check_kind = [&](const io::H5In& in) {
    if (in.kind() != want)
      throw DataError(in.path() + ": is a qkv '" + in.kind() + "' file, but " + model_path + " (" + m.arch() +
                      ") reads '" + want + "' files");
  };
  auto check_vocab = [&](const formats::TokensReader& r, int64_t V, const char* side) {
    if (r.vocab().vocab_size > V)
      throw DataError(r.where() + side + "vocabulary of " + std::to_string(r.vocab().vocab_size) + " ids, but " +
                      model_path + " has " + std::to_string(V));
  };
  if (lm()) {
    tokens_ = std::make_unique<formats::FileSet<formats::TokensReader>>(paths_, check_kind);
    for (size_t f = 0; f < tokens_->files(); ++f) check_vocab(tokens_->file(f), d.vocab, "");
    const int64_t block = cfg_int(m, "block_size");
    for (size_t f = 0; f < tokens_->files(); ++f)
      for (int64_t s = 0; s < tokens_->file(f).size(); ++s)
        for (int64_t t = 0, n = tokens_->file(f).len(s); t < n; t += block)
          all.push_back({tokens_->first(f) + s, t, std::min(block, n - t), 0});
  } else if (seq2seq()) {
    pairs_ = std::make_unique<formats::FileSet<formats::TokenPairsReader>>(paths_, check_kind);
    for (size_t f = 0; f < pairs_->files(); ++f) {
      const formats::TokenPairsReader& p = pairs_->file(f);
      check_vocab(p.src, d.src_vocab, "source ");
      check_vocab(p.tgt, d.tgt_vocab, "target ");
      // T here is a bound (the stored target + 1); the batch knows it exactly once bos/eos are stripped.
      for (int64_t s = 0; s < p.size(); ++s)
        all.push_back({pairs_->first(f) + s, 0, cap(p.src.len(s)), cap(p.tgt.len(s) + 1)});
    }
  } else {
    patches_ = std::make_unique<formats::FileSet<formats::PatchesReader>>(paths_, check_kind);
    const int64_t P = d.n_patches, D = d.patch_dim;
    const formats::PatchesReader& p0 = patches_->file(0);
    for (size_t f = 0; f < patches_->files(); ++f) {
      const formats::PatchesReader& p = patches_->file(f);
      if (p.num_patches() != P || p.patch_dim() != D)
        throw DataError(p.path() + ": " + std::to_string(p.num_patches()) + " patches of " +
                        std::to_string(p.patch_dim()) + " values, but " + model_path + " takes " + std::to_string(P) +
                        " of " + std::to_string(D));
      if (p.labelled() != p0.labelled() || p.has_meta() != p0.has_meta() || p.dtype() != p0.dtype())
        throw DataError(p.path() + ": its labels, geometry attributes or value type differ from " + p0.path() +
                        "'s (shards of one qkv-patchify run agree)");
    }
    first_patch = m.config().find("pool") && std::get<std::string>(*m.config().find("pool")) == "mean" ? 0 : 1;
    for (int64_t i = 0; i < patches_->size(); ++i) all.push_back({i, 0, P + first_patch, 0});
  }
}

Source::~Source() = default;

void Source::open_text(const nn::Model& m, const InputOptions& o) {
  tokenize::TextLines lines(paths_, "with -t, INPUT is text; a tokens or token pairs file is read without it");
  tokenize::Encoder src(*src_tok_);
  std::unique_ptr<tokenize::Encoder> tgt;
  if (seq2seq()) tgt = std::make_unique<tokenize::Encoder>(*tgt_tokenizer());
  const int64_t block = lm() ? cfg_int(m, "block_size") : 0;
  std::string line, name;
  int64_t line_no = 0;  // within the current file, for messages
  for (int64_t s = 0; lines.next(line); ++s) {
    if (lines.current_name() != name) name = lines.current_name(), line_no = 0;
    ++line_no;
    if (lm()) {
      tokenize::encode_line(src, line, o.bos, o.eos, text_seqs_.ids);
      text_seqs_.end_sequence();
      for (int64_t t = 0, n = text_seqs_.len(s); t < n; t += block) all.push_back({s, t, std::min(block, n - t), 0});
      continue;
    }
    const size_t tab = line.find('\t');
    const std::string_view source = std::string_view(line).substr(0, tab);
    tokenize::encode_line(src, source, o.bos, o.eos, text_pairs_.src.ids);
    text_pairs_.src.end_sequence();
    if (tab != std::string::npos) tokenize::encode_line(*tgt, std::string_view(line).substr(tab + 1), true, true,
                                                        text_pairs_.tgt.ids);
    text_pairs_.tgt.end_sequence();
    decoded_.push_back(tab == std::string::npos);
    if (line.empty()) continue;  // no example
    if (text_pairs_.src.len(s) == 0)
      throw DataError(name + ":" + std::to_string(line_no) + ": an empty source (source<TAB>target lines)");
    all.push_back({s, 0, cap(text_pairs_.src.len(s)), cap(text_pairs_.tgt.len(s) + 1)});
  }
  const nn::ModelDims d = nn::dims(m);
  text_seqs_.vocab.vocab_size = d.vocab;
  text_pairs_.src.vocab.vocab_size = d.src_vocab;
  text_pairs_.tgt.vocab.vocab_size = d.tgt_vocab;
}

void Source::prepare(nn::Model& m, const std::vector<int64_t>& chosen, int64_t batch) {
  std::vector<int64_t> todo;  // examples whose target the model writes
  for (int64_t e : chosen)
    if (decoded(e)) todo.push_back(e);
  if (todo.empty()) return;
  std::unique_ptr<nn::Decoder> dec = m.decoder();
  nn::SearchOptions so;  // greedy, as qkv-decode by default
  so.eos = formats::kEosId;
  // Targets are rebuilt in order: the decoded ones put in place of the empty ones.
  std::vector<std::vector<int32_t>> y(static_cast<size_t>(text_pairs_.n()));
  for (size_t b0 = 0; b0 < todo.size(); b0 += static_cast<size_t>(batch)) {
    const size_t b1 = std::min(todo.size(), b0 + static_cast<size_t>(batch));
    std::vector<nn::Request> reqs;
    for (size_t i = b0; i < b1; ++i) {
      const int64_t s = all[todo[i]].source;
      const std::vector<int32_t> src(text_pairs_.src.seq(s), text_pairs_.src.seq(s) + cap(text_pairs_.src.len(s)));
      reqs.push_back(decode::make_request(*dec, src, {}, true));
    }
    so.first_request = b0;
    nn::check_search(*dec, reqs, so);
    const std::vector<std::vector<nn::Hypothesis>> hyps = nn::decode(*dec, reqs, so);
    for (size_t i = b0; i < b1; ++i) {
      std::vector<int32_t>& t = y[static_cast<size_t>(all[todo[i]].source)];
      t.push_back(formats::kBosId);
      t.insert(t.end(), hyps[i - b0][0].ids.begin(), hyps[i - b0][0].ids.end());
      t.push_back(formats::kEosId);
    }
  }
  formats::Sequences tgt;
  tgt.vocab = text_pairs_.tgt.vocab;
  for (int64_t s = 0; s < text_pairs_.n(); ++s)
    if (!y[s].empty()) tgt.push(y[s].data(), static_cast<int64_t>(y[s].size()));
    else tgt.push(text_pairs_.tgt.seq(s), text_pairs_.tgt.len(s));
  text_pairs_.tgt = std::move(tgt);
  for (int64_t e : todo) all[e].T = cap(text_pairs_.tgt.len(all[e].source) + 1);
}

bool Source::labelled() const { return patches_ && patches_->file(0).labelled(); }

const formats::PatchMeta* Source::patch_meta() const {
  return patches_ && patches_->file(0).has_meta() ? &patches_->file(0).meta() : nullptr;
}

formats::Sequences Source::read_sequence(int64_t s) {
  if (text_) return text_seqs_.subset({s});
  const auto [f, i] = tokens_->locate(s);
  return tokens_->file(f).read(i, i + 1);
}

formats::Pairs Source::read_pair(int64_t s) const {
  if (text_) return text_pairs_.subset({s});
  const auto [f, i] = pairs_->locate(s);
  return pairs_->file(f).read(i, i + 1);
}

nn::Batch Source::batch(const std::vector<int64_t>& rows, std::vector<Example>& ex,
                        std::vector<std::vector<int32_t>>& src, std::vector<std::vector<int32_t>>& tgt,
                        bool lm_targets) {
  const int64_t B = static_cast<int64_t>(rows.size());
  ex.resize(B), src.assign(B, {}), tgt.assign(B, {});
  for (int64_t r = 0; r < B; ++r) ex[r] = all[rows[r]];
  if (lm()) {
    int64_t T = 0;
    for (const Example& e : ex) T = std::max(T, e.S);
    std::vector<int32_t> inp(B * T, 0), target(B * T, nn::kIgnoreIndex);  // (B, T) each
    for (int64_t r = 0; r < B; ++r) {
      const Example& e = ex[r];
      if (e.source != cached_seq_) cached_ = read_sequence(e.source), cached_seq_ = e.source;
      src[r].assign(cached_.seq(0) + e.start, cached_.seq(0) + e.start + e.S);
      std::copy(src[r].begin(), src[r].end(), inp.begin() + r * T);
      const int64_t next_end = std::min(e.start + e.S + 1, cached_.len(0));
      if (lm_targets) std::copy(cached_.seq(0) + e.start + 1, cached_.seq(0) + next_end, target.begin() + r * T);
    }
    return nn::Batch::lm(B, T, std::move(inp), std::move(target));
  }
  if (seq2seq()) {
    // The batch's pairs, read one by one (--examples may pick any), then the training rule (nn/batch_rules.h).
    formats::Pairs p;
    std::vector<int64_t> idx(B);
    for (int64_t r = 0; r < B; ++r) {
      const formats::Pairs one = read_pair(ex[r].source);
      if (r == 0) p.src.vocab = one.src.vocab, p.tgt.vocab = one.tgt.vocab;
      p.src.push(one.src.seq(0), one.src.len(0));
      p.tgt.push(one.tgt.seq(0), one.tgt.len(0));
      idx[r] = r;
    }
    nn::Batch b = nn::pair_batch(p, idx, max_len_, max_len_);
    for (int64_t r = 0; r < B; ++r) {
      const int64_t y = static_cast<int64_t>(nn::pair_reference(p.tgt.seq(r), p.tgt.len(r), p.tgt.vocab).size());
      ex[r].S = nn::pair_source_length(p.src.len(r), max_len_);
      ex[r].T = nn::pair_target_length(y, max_len_);
      truncated_ += ex[r].S < p.src.len(r) || ex[r].T < y + 1;
      src[r].assign(p.src.seq(r), p.src.seq(r) + ex[r].S);
      tgt[r].assign(b.tgt_in.begin() + r * b.T, b.tgt_in.begin() + r * b.T + ex[r].T);
    }
    return b;
  }
  const int64_t P = patches_->file(0).num_patches(), D = patches_->file(0).patch_dim();
  std::vector<float> px(B * P * D);  // (B, P, D)
  std::vector<int32_t> lab(B, 0);    // (B)
  // One read for each run of consecutive images in one file (the usual case), else one per image.
  for (int64_t r0 = 0; r0 < B;) {
    const auto [f, i] = patches_->locate(ex[r0].source);
    const formats::PatchesReader& pr = patches_->file(f);
    int64_t n = 1;
    while (r0 + n < B && ex[r0 + n].source == ex[r0].source + n && i + n < pr.size()) ++n;
    Tensor x = pr.read(i, i + n);  // (n, P, D)
    std::copy(x.data<float>(), x.data<float>() + n * P * D, px.begin() + r0 * P * D);
    for (int64_t k = 0; k < n; ++k)
      if (pr.labelled()) lab[r0 + k] = pr.labels()[i + k];
    r0 += n;
  }
  return nn::Batch::images(B, P, D, std::move(px), std::move(lab));
}

nn::Batch Source::probe() const {
  if (lm()) return nn::Batch::lm(1, 1, {formats::kBosId}, {nn::kIgnoreIndex});
  if (seq2seq()) return nn::Batch::seq2seq(1, 1, 1, {formats::kEosId}, {formats::kBosId}, {formats::kEosId});
  const formats::PatchesReader& p = patches_->file(0);
  const int64_t P = p.num_patches(), D = p.patch_dim();
  return nn::Batch::images(1, P, D, std::vector<float>(P * D, 0.0f), {0});
}

}  // namespace qkv::attend
