// The examples qkv-attend reads (attend/export.h) and their batches.
//
// INPUT is one file or several read as one dataset (formats/file_set.h: the
// shards 0..N-1 of one, in order; "@LIST" names them): a "tokens" file for a
// language model (gpt): each sequence cut into consecutive windows of the
// model's block_size, one example each; a "token_pairs" file for a seq2seq
// model (transformer, rnn): one pair each, teacher-forced by the training
// rule (nn/batch_rules.h); a "patches" file for a vit: one image each.
//
// Text with -t (files that are not HDF5, read one after the other, as
// qkv-decode reads them): a language model's line is a sequence; a seq2seq
// model's line is `source<TAB>target` (target with --tgt-tokenizer, default
// -t), teacher-forced as a pair, or a source alone, whose target is the
// model's greedy output (decoded by prepare(), as qkv-decode decodes it). An
// empty line is no example; --bos / --eos wrap each text source (and lm
// sequence) as qkv-tokenize encode --bos --eos did for training. The text's
// ids are held in memory (4 bytes a token); the weights stream as before.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/file_set.h"
#include "formats/patches.h"
#include "formats/tokens.h"
#include "nn/model.h"
#include "tokenize/tokenizer.h"

namespace qkv::attend {

struct InputOptions {
  std::vector<std::string> inputs;       // as given (@LIST expanded here)
  std::string tokenizer, tgt_tokenizer;  // -t, --tgt-tokenizer: text input, and the pieces that label tokens
  bool bos = false, eos = false;         // text: <bos>/<eos> around each source / lm sequence
};

// One example: lm: a window [start, start + S) of token sequence `source`; vit: image `source` (S tokens);
// seq2seq: pair `source`, S source tokens and T target positions ([bos] y, teacher-forced).
struct Example {
  int64_t source = 0, start = 0, S = 0, T = 0;
};

class Source {
 public:
  // Opens and checks INPUT against model m (from model_path): its kind, vocabulary, patch shape.
  Source(const nn::Model& m, const std::string& model_path, const InputOptions& o);
  ~Source();

  bool lm() const { return task_ == nn::Task::language_model; }
  bool seq2seq() const { return task_ == nn::Task::seq2seq; }
  bool text() const { return text_; }
  const std::string& name() const { return name_; }  // INPUT for messages: "a.h5" or "a.h5 .. c.h5 (3 files)"
  const std::vector<std::string>& paths() const { return paths_; }
  int64_t truncated() const { return truncated_; }
  // The tokenizers given (nullptr when none): lm: the sequences'; seq2seq: source and target side.
  const tokenize::Tokenizer* src_tokenizer() const { return src_tok_.get(); }
  const tokenize::Tokenizer* tgt_tokenizer() const { return tgt_tok_ ? tgt_tok_.get() : src_tok_.get(); }

  // vit: whether every image has a label; the first file's geometry (nullptr without it).
  bool labelled() const;
  const formats::PatchMeta* patch_meta() const;

  // Text seq2seq: decodes (greedy) the targets of the chosen examples that have none, in batches of
  // `batch`, with model m (its heads masked as the export runs). Does nothing otherwise.
  void prepare(nn::Model& m, const std::vector<int64_t>& chosen, int64_t batch);
  // Text seq2seq: whether example e's target is the model's own (decoded) output.
  bool decoded(int64_t e) const { return !decoded_.empty() && decoded_[static_cast<size_t>(all[e].source)]; }

  // The batch of examples `rows` (indices into all); fills each row's S, T (exact), its token ids
  // (lm: the window; seq2seq: source and [bos] y) and specials (key side, per kind). lm_targets:
  // a window's targets are its next tokens (the last one's is the token after the window, if any).
  nn::Batch batch(const std::vector<int64_t>& rows, std::vector<Example>& ex, std::vector<std::vector<int32_t>>& src,
                  std::vector<std::vector<int32_t>>& tgt, bool lm_targets);

  // A one-example batch of length 1 (2 patches for a vit): which kinds, layers and heads the model has.
  nn::Batch probe() const;

  std::vector<Example> all;
  int64_t first_patch = 0;

 private:
  void open_text(const nn::Model& m, const InputOptions& o);
  formats::Sequences read_sequence(int64_t s);
  formats::Pairs read_pair(int64_t s) const;
  int64_t cap(int64_t n) const { return max_len_ > 0 ? std::min(n, max_len_) : n; }

  nn::Task task_;
  std::vector<std::string> paths_;
  std::string name_;
  bool text_ = false;
  std::unique_ptr<tokenize::Tokenizer> src_tok_, tgt_tok_;
  std::unique_ptr<formats::FileSet<formats::TokensReader>> tokens_;
  std::unique_ptr<formats::FileSet<formats::TokenPairsReader>> pairs_;
  std::unique_ptr<formats::FileSet<formats::PatchesReader>> patches_;
  formats::Sequences text_seqs_;  // text lm: one sequence per line
  formats::Pairs text_pairs_;     // text seq2seq: one pair per line ([bos] y [eos] targets)
  std::vector<uint8_t> decoded_;  // text seq2seq, per line: 1 = target to decode / decoded
  formats::Sequences cached_;     // the last token sequence read (LM windows of one sequence share it)
  int64_t cached_seq_ = -1, max_len_ = 0, truncated_ = 0;
};

}  // namespace qkv::attend
