#include "tokenize/commands.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "formats/tokens.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "tokenize/corpus.h"

namespace qkv::tokenize {
namespace {

// Text output: streamed to stdout, or collected and written atomically to a file.
class TextSink {
 public:
  explicit TextSink(std::string path) : path_(std::move(path)) {}
  void write(std::string_view s) {
    buf_.append(s.data(), s.size());
    if (path_ == "-" && buf_.size() >= (1 << 20)) flush_stdout();
  }
  std::string& buffer() { return buf_; }
  void finish() {
    if (path_ == "-") flush_stdout();
    else io::write_atomically(path_, buf_.data(), buf_.size());
  }

 private:
  void flush_stdout() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), stdout) != buf_.size())
      throw DataError("stdout: write failed");
    buf_.clear();
  }
  std::string path_;
  std::string buf_;
};

struct SeqShape {
  bool bos = false, eos = false;
  int64_t max_len = 0;
};

// Encodes one sequence into out, with <bos>/<eos> and truncation; returns
// true when it was truncated.
bool encode_one(Encoder& enc, std::string_view text, const SeqShape& sh, formats::Sequences& out) {
  size_t begin = out.ids.size();
  if (sh.bos) out.ids.push_back(kBosId);
  enc.encode(text, out.ids);
  bool cut = false;
  if (sh.max_len > 0) {
    size_t limit = static_cast<size_t>(sh.max_len) - (sh.eos ? 1 : 0);
    if (out.ids.size() - begin > limit) {
      out.ids.resize(begin + limit);
      cut = true;
    }
  }
  if (sh.eos) out.ids.push_back(kEosId);
  out.end_sequence();
  return cut;
}

void append_pieces(const Tokenizer& tok, const int32_t* ids, size_t n, std::string& out) {
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back(' ');
    out += tok.display_piece(ids[i]);
  }
}

// Checks that tok can decode what r reads (its ids are in [0, vocab_size)):
// the same vocabulary size.
void check_decodable(const formats::TokensReader& r, const Tokenizer& tok) {
  const formats::Vocab& v = r.vocab();
  if (v.vocab_size != tok.vocab_size())
    throw DataError(r.where() + "encoded with a " + std::to_string(v.vocab_size) + "-piece vocabulary, but " +
                    tok.source + " has " + std::to_string(tok.vocab_size()));
}

// Once the ids have been read (a bad file gets its one error line, not this
// too): a warning when the file names another tokenizer file. The hashes are
// shown long enough to differ (12 hex digits, more if those agree).
void warn_other_tokenizer(const formats::TokensReader& r, const Tokenizer& tok) {
  const std::string &a = r.vocab().tokenizer_sha256, &b = tok.sha256;
  if (a.empty() || b.empty() || a == b) return;
  size_t same = 0;
  while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
  const size_t n = std::max<size_t>(12, same + 1);
  spdlog::warn("{}encoded with tokenizer sha256 {}, not {} ({})", r.where(), a.substr(0, n), tok.source, b.substr(0, n));
}

std::string where_line(const std::string& name, int64_t line) { return name + ":" + std::to_string(line) + ": "; }

// stdin can feed only one input.
void check_one_stdin(const std::vector<std::string>& tokenizers, const std::vector<std::string>& inputs) {
  int uses = 0;
  for (auto& t : tokenizers) uses += t == "-";
  for (auto& i : inputs) uses += i == "-";
  if (inputs.empty()) ++uses;  // no files: text from stdin
  if (uses > 1) throw UsageError("stdin (-) can feed only one input: give the tokenizer or the text as a file");
}

}  // namespace

void run_learn(const std::vector<std::string>& inputs, const LearnOptions& opt, const std::string& output) {
  io::refuse_binary_to_terminal(output);
  Tokenizer tok = learn(inputs, opt);
  spdlog::info("{} tokenizer: {} pieces ({} merges)", model_name(tok.model), tok.vocab_size(), tok.merges.size());
  tok.save(output);
}

void run_encode(const EncodeOptions& o) {
  if (o.tsv && o.document) throw UsageError("--tsv and --document cannot be combined");
  if (!o.tgt_tokenizer.empty() && !o.tsv) throw UsageError("--tgt-tokenizer needs --tsv");
  if (o.max_len < 0) throw UsageError("--max-len must be >= 0");
  SeqShape sh{o.bos, o.eos, o.max_len};
  if (o.max_len > 0 && o.max_len <= (o.bos ? 1 : 0) + (o.eos ? 1 : 0))
    throw UsageError("--max-len " + std::to_string(o.max_len) + " leaves no room for text after <bos>/<eos>");
  if (!o.pieces) io::refuse_binary_to_terminal(o.output);
  check_one_stdin({o.tokenizer, o.tgt_tokenizer}, o.inputs);
  std::optional<formats::Shard> shard;
  std::optional<ShardLines> shard_lines;
  if (!o.shard.empty()) {
    if (o.document)
      throw UsageError("--shard splits lines, --document keeps each input whole: shard by giving each task its own inputs");
    shard = formats::parse_shard(o.shard);
    shard_lines.emplace(o.inputs, *shard);
  }
  // This run's lines of a block: all, or the shard's.
  auto mine = [&](std::string_view block) { return shard_lines ? shard_lines->take(block) : block; };
  Tokenizer src = Tokenizer::load(o.tokenizer);
  Tokenizer tgt_owned;
  if (!o.tgt_tokenizer.empty()) tgt_owned = Tokenizer::load(o.tgt_tokenizer);
  const Tokenizer& tgt = o.tgt_tokenizer.empty() ? src : tgt_owned;
  const int threads = std::max(1, o.threads);

  // Output: pieces as text, or ids streamed into the HDF5 file as they come.
  TextSink sink(o.output);
  std::unique_ptr<io::H5StreamOut> out;
  std::unique_ptr<formats::TokensWriter> w_src, w_tgt;
  if (!o.pieces) {
    out = std::make_unique<io::H5StreamOut>(o.output, o.tsv ? formats::kTokenPairsKind : formats::kTokensKind);
    w_src = std::make_unique<formats::TokensWriter>(*out, o.tsv ? "/src" : "/");
    if (o.tsv) w_tgt = std::make_unique<formats::TokensWriter>(*out, "/tgt");
  }
  auto pieces_lines = [&](const formats::Sequences& s, std::string& text) {  // one line per sequence
    for (int64_t i = 0; i < s.n(); ++i) {
      append_pieces(src, s.seq(i), static_cast<size_t>(s.len(i)), text);
      text.push_back('\n');
    }
  };

  int64_t truncated = 0;
  std::string layout;
  bool final_newline = true;
  if (o.tsv) {
    layout = "tsv";
    Encoder es(src), et(tgt);
    LineBlocks in(o.inputs);
    std::string_view block;
    std::string name;
    int64_t line_no = 0;
    formats::Sequences s, t;
    while (in.next(block)) {
      block = mine(block);
      if (in.current_name() != name) {
        name = in.current_name();
        line_no = 0;
      }
      for_each_line(block, [&](std::string_view line) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) return;
        size_t tab = line.find('\t');
        if (tab == std::string_view::npos)
          throw DataError(where_line(name, line_no) + "no tab: --tsv expects source<TAB>target lines");
        truncated += encode_one(es, line.substr(0, tab), sh, s);
        truncated += encode_one(et, line.substr(tab + 1), sh, t);
        if (o.pieces) {  // source<TAB>target pieces
          std::string& b = sink.buffer();
          append_pieces(src, s.ids.data(), s.ids.size(), b);
          b.push_back('\t');
          append_pieces(tgt, t.ids.data(), t.ids.size(), b);
          b.push_back('\n');
          sink.write("");
          s = formats::Sequences();
          t = formats::Sequences();
        }
      });
      if (!o.pieces) {
        w_src->append(s);
        w_tgt->append(t);
        s = formats::Sequences();
        t = formats::Sequences();
      }
    }
  } else if (o.document) {
    layout = "documents";
    Encoder enc(src);
    std::vector<std::string> inputs = o.inputs.empty() ? std::vector<std::string>{"-"} : o.inputs;
    // the char encoder's own lookup: a character without a piece becomes <unk>
    const bool lacks_newline = src.model == Model::chars && src.piece_index().find("\n") == nullptr;
    for (auto& path : inputs) {
      formats::Sequences s;
      std::string doc = read_document(path);
      if (int64_t n = lacks_newline ? std::count(doc.begin(), doc.end(), '\n') : 0)
        spdlog::warn("{}: {} newlines become <unk>: the char tokenizer {} has no newline (learn it with --document)",
                     path == "-" ? "stdin" : path, n, src.source);
      truncated += encode_one(enc, doc, sh, s);
      if (o.pieces) pieces_lines(s, sink.buffer());
      else w_src->append(s);
      sink.write("");
    }
  } else {
    layout = "lines";
    std::vector<Encoder> encoders;
    for (int k = 0; k < threads; ++k) encoders.emplace_back(src);
    std::vector<formats::Sequences> parts(static_cast<size_t>(threads));
    std::vector<std::string> texts(static_cast<size_t>(threads));
    std::vector<int64_t> part_truncated(static_cast<size_t>(threads));
    LineBlocks in(o.inputs, 2 << 20);
    Progress progress("encoding", in.total_bytes() >> 20, "MB", kQuietStart);
    std::string_view block;
    while (in.next(block)) {
      block = mine(block);
      int n = for_line_ranges(block, threads, [&](int k, std::string_view part) {
        parts[k].ids.clear();  // keeps its buffers from block to block
        parts[k].offsets.assign(1, 0);
        part_truncated[k] = 0;
        for_each_line(part, [&](std::string_view line) { part_truncated[k] += encode_one(encoders[k], line, sh, parts[k]); });
        if (o.pieces) {
          texts[k].clear();
          pieces_lines(parts[k], texts[k]);
        }
      });
      for (int k = 0; k < n; ++k) {
        truncated += part_truncated[k];
        if (o.pieces) sink.write(texts[k]);
        else w_src->append(parts[k]);
      }
      progress.update(in.bytes_read() >> 20);
    }
    final_newline = in.ended_with_newline();
    if (w_src) progress.finish(std::to_string(w_src->sequences()) + " sequences, " + std::to_string(w_src->tokens()) + " tokens");
  }
  if (truncated > 0) spdlog::warn("{} sequences truncated to --max-len {}", truncated, o.max_len);
  if (o.pieces) {
    sink.finish();
    return;
  }
  w_src->finish(src.vocab_size(), src.sha256);
  if (w_tgt) w_tgt->finish(tgt.vocab_size(), tgt.sha256);
  out->set_attr("/", "text_layout", layout);
  out->set_attr("/", "final_newline", int64_t{final_newline ? 1 : 0});
  out->set_attr("/", "truncated", truncated);
  out->set_attr("/", "max_len", o.max_len);
  if (shard) formats::write_shard_attrs(*out, *shard);
  out->commit();
}

void run_decode(const std::string& tokenizer, const std::string& tgt_tokenizer, const std::string& input,
                const std::string& output) {
  check_one_stdin({tokenizer, tgt_tokenizer}, {input});
  Tokenizer src = Tokenizer::load(tokenizer);
  io::H5In in(input);
  std::string kind = in.kind();
  if (kind != formats::kTokenPairsKind) in.expect_kind(formats::kTokensKind);
  TextSink sink(output);
  std::string& buf = sink.buffer();
  if (kind == formats::kTokensKind) {
    if (!tgt_tokenizer.empty()) throw UsageError("--tgt-tokenizer is for token_pairs files; " + in.path() + " is 'tokens'");
    formats::TokensReader r(in);
    check_decodable(r, src);
    formats::Sequences s = r.read_all();
    warn_other_tokenizer(r, src);
    std::string layout = in.has_attr("/", "text_layout") ? in.attr_string("/", "text_layout") : "lines";
    bool final_newline = !in.has_attr("/", "final_newline") || in.attr_int("/", "final_newline") != 0;
    bool lines = layout != "documents";
    for (int64_t i = 0; i < s.n(); ++i) {
      src.decode(s.seq(i), static_cast<size_t>(s.len(i)), buf);
      if (lines && (i + 1 < s.n() || final_newline)) buf.push_back('\n');
      sink.write("");
    }
  } else {
    Tokenizer tgt_owned;
    if (!tgt_tokenizer.empty()) tgt_owned = Tokenizer::load(tgt_tokenizer);
    const Tokenizer& tgt = tgt_tokenizer.empty() ? src : tgt_owned;
    formats::TokenPairsReader r(in);
    check_decodable(r.src, src);
    check_decodable(r.tgt, tgt);
    formats::Pairs p = r.read_all();
    warn_other_tokenizer(r.src, src);
    warn_other_tokenizer(r.tgt, tgt);
    for (int64_t i = 0; i < p.n(); ++i) {
      src.decode(p.src.seq(i), static_cast<size_t>(p.src.len(i)), buf);
      buf.push_back('\t');
      tgt.decode(p.tgt.seq(i), static_cast<size_t>(p.tgt.len(i)), buf);
      buf.push_back('\n');
      sink.write("");
    }
  }
  sink.finish();
}

void run_vocab(const std::string& tokenizer, std::ostream& out) {
  Tokenizer tok = Tokenizer::load(tokenizer);
  static const char* const kinds[] = {"control", "unknown", "special", "base", "merge"};
  const char* base_kind = tok.model == Model::bpe ? "byte" : tok.model == Model::chars ? "char" : "word";
  std::string line;
  int32_t fm = tok.first_merged();
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    uint8_t ty = tok.types[id];
    line = std::to_string(id) + '\t' + tok.display_piece(id) + '\t' + (ty == kBase ? base_kind : kinds[ty]) + '\t' +
           std::to_string(tok.counts[id]) + '\t' + (ty == kMerged ? std::to_string(id - fm) : std::string("-")) + '\n';
    out << line;
  }
}

}  // namespace qkv::tokenize
