#include "decode/decode.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "formats/shard.h"
#include "formats/tokens.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoder.h"
#include "nn/head_mask.h"
#include "tokenize/text_lines.h"
#include "tokenize/tokenizer.h"

namespace qkv::decode {

namespace {

using formats::Sequences;
using tokenize::Tokenizer;

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string ids_text(const int32_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? " " : "") + std::to_string(p[i]);
  return s;
}

// One input: its ids and (for text and fairseq output) its text.
struct Input {
  std::vector<int32_t> ids;
  std::string text;
};

// Where inputs come from, a batch at a time.
class InputSource {
 public:
  virtual ~InputSource() = default;
  // Up to n next inputs (out cleared first); false when none are left.
  virtual bool next(int64_t n, std::vector<Input>& out) = 0;
};

// A tokens file (qkv-tokenize encode), read `n` sequences at a time.
// Tokens files read one after the other: one file, or the shards 0..N-1 of
// one (formats::check_shards), each of the model's vocabulary.
class TokensInput : public InputSource {
 public:
  TokensInput(const std::vector<std::string>& paths, int64_t model_vocab, const std::string& side,
              const Tokenizer* tok)
      : paths_(paths), model_vocab_(model_vocab), side_(side), tok_(tok) {
    std::vector<std::pair<std::string, std::optional<formats::Shard>>> shards;
    for (const std::string& p : paths_) {
      open(p);
      if (paths_.size() > 1) shards.emplace_back(p, formats::read_shard(*in_));
    }
    formats::check_shards(shards);
    if (paths_.size() > 1) open(paths_[0]);
  }
  bool next(int64_t n, std::vector<Input>& out) override {
    out.clear();
    while (pos_ >= r_->size()) {  // this file is done (or empty): the next one
      if (++file_ >= paths_.size()) return false;
      open(paths_[file_]);
    }
    const int64_t end = std::min(r_->size(), pos_ + n);
    Sequences s = r_->read(pos_, end);
    for (int64_t i = 0; i < s.n(); ++i) {
      Input x;
      x.ids.assign(s.seq(i), s.seq(i) + s.len(i));
      x.text = tok_ ? tok_->decode(x.ids.data(), x.ids.size()) : ids_text(x.ids.data(), x.ids.size());
      out.push_back(std::move(x));
    }
    pos_ = end;
    return true;
  }

 private:
  void open(const std::string& path) {
    r_.reset();
    in_ = std::make_unique<io::H5In>(path);
    r_ = std::make_unique<formats::TokensReader>(*in_);
    pos_ = 0;
    if (r_->vocab().vocab_size != model_vocab_)
      throw DataError(r_->where() + "ids of a vocabulary of " + std::to_string(r_->vocab().vocab_size) +
                      " tokens, but the model's " + side_ + " vocabulary has " + std::to_string(model_vocab_) +
                      " (encoded with another tokenizer?)");
  }
  std::vector<std::string> paths_;
  int64_t model_vocab_;
  std::string side_;
  const Tokenizer* tok_;
  std::unique_ptr<io::H5In> in_;
  std::unique_ptr<formats::TokensReader> r_;
  size_t file_ = 0;
  int64_t pos_ = 0;
};

// Text lines encoded with a tokenizer; an empty line is an empty input.
class TextInput : public InputSource {
 public:
  TextInput(const std::vector<std::string>& paths, const Tokenizer& tok, bool bos, bool eos)
      : lines_(paths, "a tokens file is read without -t; --tgt-tokenizer gives the hypotheses' text"), enc_(tok),
        bos_(bos), eos_(eos) {}
  bool next(int64_t n, std::vector<Input>& out) override {
    out.clear();
    Input x;
    while (static_cast<int64_t>(out.size()) < n && lines_.next(x.text)) {
      x.ids.clear();
      tokenize::encode_line(enc_, x.text, bos_, eos_, x.ids);
      out.push_back(std::move(x));
    }
    return !out.empty();
  }

 private:
  tokenize::TextLines lines_;
  tokenize::Encoder enc_;
  bool bos_, eos_;
};

// --prompt: one input.
class PromptInput : public InputSource {
 public:
  explicit PromptInput(Input x) : x_(std::move(x)) {}
  bool next(int64_t, std::vector<Input>& out) override {
    out.clear();
    if (done_) return false;
    out.push_back(x_);
    done_ = true;
    return true;
  }

 private:
  Input x_;
  bool done_ = false;
};

// Text out: straight to stdout or to an existing device or FIFO (/dev/null
// stays a device), else to a temporary file beside the target renamed into
// place by commit() (removed when never committed).
class TextOut {
 public:
  explicit TextOut(std::string path) : path_(std::move(path)) {
    if (path_ == "-") {
      f_ = stdout;
      return;
    }
    struct stat st;
    if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      device_ = true;
      f_ = std::fopen(path_.c_str(), "wb");
      if (!f_) throw DataError(path_ + ": cannot open for writing: " + std::strerror(errno));
      return;
    }
    int fd = io::create_temp_beside(path_, &tmp_);
    guard_ = std::make_unique<io::TempFileGuard>(tmp_);
    f_ = fdopen(fd, "wb");
    if (!f_) {
      ::close(fd);
      ::unlink(tmp_.c_str());
      throw DataError(path_ + ": cannot open for writing: " + std::strerror(errno));
    }
  }
  ~TextOut() {
    if (path_ == "-" || committed_) return;
    std::fclose(f_);
    if (!device_) ::unlink(tmp_.c_str());
  }
  void write(const std::string& s) {
    if (!s.empty() && std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail();
  }
  void flush() {
    if (std::fflush(f_) != 0) fail();
  }
  void commit() {
    flush();
    if (path_ == "-") return;
    if (device_) {
      committed_ = true;
      if (std::fclose(f_) != 0) throw DataError(path_ + ": write failed: " + std::strerror(errno));
      return;
    }
    if (fsync(fileno(f_)) != 0) fail();
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      ::unlink(tmp_.c_str());
      throw DataError(path_ + ": write failed: " + std::strerror(errno));
    }
    committed_ = true;
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp_.c_str());
      throw DataError(path_ + ": cannot rename the finished output into place: " + std::strerror(errno));
    }
  }

 private:
  [[noreturn]] void fail() {
    throw DataError((path_ == "-" ? std::string("stdout") : path_) + ": write failed: " + std::strerror(errno));
  }
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  std::unique_ptr<io::TempFileGuard> guard_;
  bool committed_ = false, device_ = false;
};

// What every output gets: each input with its hypotheses (num_samples x n_best, in that order).
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void add(int64_t index, const Input& in, const std::vector<nn::Hypothesis>& hyps) = 0;
  virtual void commit() = 0;
};

// The tokens file (docs/FORMATS.md, "hypotheses").
class TokensSink : public Sink {
 public:
  TokensSink(const std::string& path, int64_t vocab, std::string tok_sha, const DecodeOptions& o)
      : out_(path, formats::kTokensKind), w_(out_, "/"), vocab_(vocab), sha_(std::move(tok_sha)), o_(o) {
    scores_ = out_.add_column("scores", DType::f32, 1 << 16);                // (n,)
    normalized_ = out_.add_column("normalized_scores", DType::f32, 1 << 16);  // (n,)
    logprobs_ = out_.add_column("token_logprobs", DType::f32, 1 << 18);       // (total + n,)
  }
  void add(int64_t, const Input&, const std::vector<nn::Hypothesis>& hyps) override {
    Sequences s;
    std::vector<float> sc, ns;
    std::vector<float> lp;
    for (const auto& h : hyps) {
      s.push(h.ids.data(), static_cast<int64_t>(h.ids.size()));
      sc.push_back(static_cast<float>(h.score));
      ns.push_back(static_cast<float>(h.normalized_score));
      lp.insert(lp.end(), h.token_logprobs.begin(), h.token_logprobs.end());
    }
    w_.append(s);
    out_.append(scores_, sc.data(), sc.size());
    out_.append(normalized_, ns.data(), ns.size());
    out_.append(logprobs_, lp.data(), lp.size());
    ++inputs_;
  }
  void commit() override {
    w_.finish(vocab_, sha_);
    out_.set_attr("/", "text_layout", std::string("lines"));
    out_.set_attr("/", "final_newline", int64_t{1});
    out_.set_attr("/", "inputs", inputs_);
    out_.set_attr("/", "num_samples", o_.num_samples);
    out_.set_attr("/", "n_best", o_.search.n_best);
    out_.set_attr("/", "beam", o_.search.beam);
    out_.set_attr("/", "length_penalty", o_.search.length_penalty);
    out_.set_attr("/", "search", std::string(o_.search.beam > 1 ? "beam" : o_.search.sample ? "sample" : "greedy"));
    out_.commit();
  }

 private:
  io::H5StreamOut out_;
  formats::TokensWriter w_;
  int scores_, normalized_, logprobs_;
  int64_t vocab_, inputs_ = 0;
  std::string sha_;
  const DecodeOptions& o_;
};

// --attention FILE: the hypotheses' attention in qkv-attend's layout
// (docs/FORMATS.md, "attention"): one example per hypothesis, one group per
// kind of attention map, weights (layers, heads, tq, tk) per example.
class AttentionSink {
 public:
  AttentionSink(const std::string& path, const nn::Model& m, bool seq2seq)
      : out_(path, "attention"), seq2seq_(seq2seq) {
    out_.set_attr("/", "arch", m.arch());
    out_.set_attr("/", "task", std::string(nn::task_name(m.task())));
    out_.set_attr("/", "examples_are", std::string("hypotheses"));
    index_ = out_.add_column("examples/index", DType::i64, 1 << 14);    // (n,)
    source_ = out_.add_column("examples/source", DType::i64, 1 << 14);  // (n,)
    start_ = out_.add_column("examples/start", DType::i64, 1 << 14);    // (n,)
    tokens_ = std::make_unique<formats::TokensWriter>(out_, "tokens");
    if (seq2seq_) src_tokens_ = std::make_unique<formats::TokensWriter>(out_, "source_tokens");
  }
  // Hypothesis `number` of input `input`, fed `context` first.
  void add(int64_t number, int64_t input, const std::vector<int32_t>& context, const std::vector<int32_t>& source,
           const nn::Hypothesis& h) {
    if (kinds_.empty()) open_kinds(h);
    QKV_CHECK(h.attention.size() == maps_, "every hypothesis carries the same attention maps");
    const int64_t zero = 0, tq = static_cast<int64_t>(h.ids.size()) + 1;  // generated tokens, EOS included
    out_.append(index_, &number, 1);
    out_.append(source_, &input, 1);
    out_.append(start_, &zero, 1);
    Sequences t;  // context + hypothesis + EOS: self keys are the first tk, queries predict the last tq
    t.ids = context;
    t.ids.insert(t.ids.end(), h.ids.begin(), h.ids.end());
    t.ids.push_back(formats::kEosId);
    t.end_sequence();
    tokens_->append(t);
    if (src_tokens_) {
      Sequences sq;
      sq.push(source.data(), static_cast<int64_t>(source.size()));
      src_tokens_->append(sq);
    }
    for (auto& k : kinds_) {
      // keys: self = every position fed (context + generated but the last); cross/additive = this source
      const int64_t tk = k.self ? static_cast<int64_t>(context.size()) + tq - 1 : static_cast<int64_t>(source.size());
      std::vector<float> w;  // (layers, heads, tq, tk)
      for (size_t m : k.maps) {
        const nn::AttentionTrace& a = h.attention[m];
        QKV_CHECK(a.keys >= tk, "attention keys cover the hypothesis");
        for (int64_t hd = 0; hd < a.heads; ++hd)
          for (int64_t q = 0; q < tq; ++q) {
            const float* row = a.weights.data() + (q * a.heads + hd) * a.keys;  // (L, heads, keys)
            w.insert(w.end(), row, row + tk);
          }
      }
      out_.append(k.tq, &tq, 1);
      out_.append(k.tk, &tk, 1);
      out_.append(k.weights, w.data(), w.size());
      k.offset += static_cast<int64_t>(w.size());
      out_.append(k.offsets, &k.offset, 1);
    }
    ++n_;
  }
  void commit(int64_t tgt_vocab, int64_t src_vocab) {
    if (kinds_.empty()) throw DataError(out_.path() + ": no hypotheses, so no attention to write");
    out_.set_attr("/", "n_examples", n_);
    std::vector<std::string> names;
    for (const auto& k : kinds_) names.push_back(k.name);
    out_.set_attr("/", "kinds", names);
    tokens_->finish(tgt_vocab, "");
    if (src_tokens_) src_tokens_->finish(src_vocab, "");
    out_.commit();
  }

 private:
  struct Kind {
    std::string name;
    bool self = false;
    std::vector<size_t> maps;  // indices into Hypothesis::attention, by layer
    int tq = 0, tk = 0, weights = 0, offsets = 0;
    int64_t offset = 0;
  };
  void open_kinds(const nn::Hypothesis& h) {
    maps_ = h.attention.size();
    for (size_t m = 0; m < maps_; ++m) {
      const nn::AttentionTrace& a = h.attention[m];
      auto it = std::find_if(kinds_.begin(), kinds_.end(), [&](const Kind& k) { return k.name == a.kind; });
      if (it == kinds_.end()) {
        kinds_.push_back({a.kind, a.kind == "self" || a.kind == "decoder_self", {}, 0, 0, 0, 0, 0});
        it = kinds_.end() - 1;
      }
      it->maps.push_back(m);
    }
    for (auto& k : kinds_) {
      std::vector<int64_t> layers, heads;
      std::vector<std::string> names;
      for (size_t m : k.maps) layers.push_back(h.attention[m].layer), names.push_back(h.attention[m].name);
      for (int64_t hd = 0; hd < h.attention[k.maps[0]].heads; ++hd) heads.push_back(hd);
      k.tq = out_.add_column(k.name + "/tq", DType::i64, 1 << 14);
      k.tk = out_.add_column(k.name + "/tk", DType::i64, 1 << 14);
      k.weights = out_.add_column(k.name + "/weights", DType::f32, 1 << 20);
      k.offsets = out_.add_column(k.name + "/offsets", DType::i64, 1 << 14);
      const int64_t zero = 0;
      out_.append(k.offsets, &zero, 1);
      out_.set_attr(k.name, "layers", layers);
      out_.set_attr(k.name, "heads", heads);
      out_.set_attr(k.name, "layer_names", names);
    }
  }
  io::H5StreamOut out_;
  bool seq2seq_;
  int index_, source_, start_;
  std::unique_ptr<formats::TokensWriter> tokens_, src_tokens_;
  std::vector<Kind> kinds_;
  size_t maps_ = 0;
  int64_t n_ = 0;
};

// A hypothesis as one line of text: a newline inside it is written as "\n".
std::string one_line(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

// Text lines, or fairseq-generate's columns.
class TextSink : public Sink {
 public:
  TextSink(const std::string& path, Format f, const Tokenizer* tgt) : out_(path), f_(f), tgt_(tgt) {}
  std::string text(const nn::Hypothesis& h) const {
    return one_line(tgt_ ? tgt_->decode(h.ids.data(), h.ids.size()) : ids_text(h.ids.data(), h.ids.size()));
  }
  void add(int64_t index, const Input& in, const std::vector<nn::Hypothesis>& hyps) override {
    std::string s;
    const std::string i = std::to_string(index);
    if (f_ == Format::fairseq) s += "S-" + i + "\t" + one_line(in.text) + "\n";
    for (const auto& h : hyps) {
      if (f_ == Format::text) {
        s += text(h) + "\n";
        continue;
      }
      s += "H-" + i + "\t" + fmt("%.4f", h.normalized_score) + "\t" + text(h) + "\n";
      s += "P-" + i + "\t";
      for (size_t k = 0; k < h.token_logprobs.size(); ++k) s += (k ? " " : "") + fmt("%.4f", h.token_logprobs[k]);
      s += "\n";
    }
    out_.write(s);
    out_.flush();
  }
  void commit() override { out_.commit(); }

 private:
  TextOut out_;
  Format f_;
  const Tokenizer* tgt_;
};

// --prompt with text output: each sample streamed token by token (prompt
// first), followed by a newline; several samples are separated by a line of dashes.
class StreamSink {
 public:
  StreamSink(const std::string& path, const Tokenizer& tok) : out_(path), tok_(tok) {}
  void begin(const std::string& prompt_text, int64_t sample) {
    if (sample > 0) out_.write("---------------\n");
    out_.write(prompt_text);
    out_.flush();
    ids_.clear();
    printed_ = 0;
  }
  // The text of the tokens so far is a prefix of the text of one more token
  // (bytes for bpe and char, words joined by spaces): print what is new.
  void token(int32_t id) {
    ids_.push_back(id);
    std::string t = tok_.decode(ids_.data(), ids_.size());
    if (t.size() > printed_) out_.write(t.substr(printed_));
    printed_ = t.size();
    out_.flush();
  }
  void end() { out_.write("\n"); }
  void commit() { out_.commit(); }

 private:
  TextOut out_;
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t printed_ = 0;
};

std::vector<int32_t> parse_ids(const std::string& s, const std::string& what) {
  std::vector<int32_t> ids;
  std::istringstream in(s);
  std::string w;
  while (in >> w) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(w, &used);
    } catch (...) {
      used = 0;
    }
    if (used != w.size() || v < 0 || v > INT32_MAX)
      throw UsageError(what + ": '" + w + "' is not a token id (without a tokenizer it takes ids: \"5 17 3\")");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace

nn::Request make_request(const nn::Decoder& dec, const std::vector<int32_t>& ids, const std::vector<int32_t>& prefix,
                         bool cap) {
  nn::Request r;
  if (!dec.has_source()) r.context = ids.empty() ? std::vector<int32_t>{formats::kBosId} : ids;
  else r.source = ids, r.context = {formats::kBosId};
  r.prefix = prefix;
  const int64_t room = dec.max_positions() - static_cast<int64_t>(r.context.size());
  if (cap && dec.max_positions() != INT64_MAX) r.max_len = std::max<int64_t>(room, 0);
  return r;
}

Format format_from_name(const std::string& name) {
  if (name == "tokens") return Format::tokens;
  if (name == "text") return Format::text;
  if (name == "fairseq") return Format::fairseq;
  throw UsageError("--format: unknown format '" + name + "' (tokens, text, fairseq)");
}

void run_decode(const DecodeOptions& o, std::ostream& report) {
  if (o.batch < 1) throw UsageError("--batch must be >= 1 (got " + std::to_string(o.batch) + ")");
  if (o.num_samples < 1) throw UsageError("--num-samples must be >= 1 (got " + std::to_string(o.num_samples) + ")");
  if (o.prompt_given && !o.inputs.empty()) throw UsageError("give either INPUT or --prompt, not both");
  if (!o.prompt_given && o.inputs.empty()) throw UsageError("INPUT is required (a tokens file, or text with -t; - for stdin)");
  const std::vector<std::string> input_paths = formats::expand_list_files(o.inputs);
  const std::string input_name = o.prompt_given ? std::string("--prompt") : formats::files_name(input_paths);
  if (o.format == Format::tokens) io::refuse_binary_to_terminal(o.output);
  const score::References refs = o.refs.empty() ? score::References{} : score::read_references(o.refs, o.score.tab_refs);

  // The model and what it takes.
  io::H5In model_in(o.model);
  auto model = nn::load_model(model_in);
  nn::mask_heads(*model, o.mask_heads);
  std::unique_ptr<nn::Decoder> dec;
  try {
    dec = model->decoder();
  } catch (const UsageError& e) {
    throw DataError(o.model + ": " + e.what());
  }
  const nn::ModelDims d = nn::dims(*model);
  const bool lm = !dec->has_source();
  const int64_t src_vocab = lm ? d.vocab : d.src_vocab, tgt_vocab = dec->vocab_size();
  if (o.prompt_given && !lm)
    throw UsageError("--prompt is for language models; " + o.model + " is a '" + model->arch() +
                     "' seq2seq model (give sources as INPUT)");

  // Tokenizers: -t for the inputs (and, by default, the hypotheses).
  std::optional<Tokenizer> src_tok, tgt_own;
  if (!o.src_tokenizer.empty()) {
    src_tok = Tokenizer::load(o.src_tokenizer);
    tokenize::check_model_vocab(*src_tok, src_vocab, lm ? "model's" : "source", o.model,
                                " (a tokenizer of another model?)");
  }
  if (!o.tgt_tokenizer.empty()) tgt_own = Tokenizer::load(o.tgt_tokenizer);
  const Tokenizer* tgt_tok = tgt_own ? &*tgt_own : src_tok ? &*src_tok : nullptr;
  if (tgt_tok)
    tokenize::check_model_vocab(*tgt_tok, tgt_vocab, lm ? "model's" : "target", o.model,
                                tgt_own ? "" : " (give the target tokenizer with --tgt-tokenizer)");
  if (o.prompt_given && !src_tok) throw UsageError("--prompt needs the model's tokenizer (-t)");
  if (!o.refs.empty() && !tgt_tok) throw UsageError("--ref scores text: give the target tokenizer (-t or --tgt-tokenizer)");

  // The search.
  nn::SearchOptions so = o.search;
  so.eos = formats::kEosId;
  if (so.beam > 1 && o.num_samples > 1) throw UsageError("--num-samples draws samples: use it with --beam 1");
  nn::check_options(*dec, so);
  std::vector<int32_t> prefix;
  if (!o.prefix.empty()) {
    if (tgt_tok) tokenize::Encoder(*tgt_tok).encode(o.prefix, prefix);
    else prefix = parse_ids(o.prefix, "--prefix");
  }

  // Inputs.
  std::unique_ptr<InputSource> inputs;
  if (o.prompt_given) {
    Input x;
    x.text = o.prompt;
    tokenize::Encoder(*src_tok).encode(o.prompt, x.ids);
    inputs = std::make_unique<PromptInput>(std::move(x));
  } else if (src_tok) {
    inputs = std::make_unique<TextInput>(input_paths, *src_tok, o.src_bos, o.src_eos);
  } else {
    if (o.src_bos || o.src_eos) throw UsageError("--bos and --eos shape text sources: they need -t");
    inputs = std::make_unique<TokensInput>(input_paths, src_vocab, lm ? "" : "source", nullptr);
  }
  const bool cap = !o.max_len_given && !so.slide;
  auto request = [&](const Input& x) { return make_request(*dec, x.ids, prefix, cap); };

  // Outputs.
  const bool stream = o.prompt_given && o.format == Format::text;
  std::unique_ptr<Sink> sink;
  std::unique_ptr<StreamSink> streamer;
  if (stream) streamer = std::make_unique<StreamSink>(o.output, *src_tok);
  else if (o.format == Format::tokens)
    sink = std::make_unique<TokensSink>(o.output, tgt_vocab, tgt_tok ? tgt_tok->sha256 : "", o);
  else sink = std::make_unique<TextSink>(o.output, o.format, tgt_tok);
  std::unique_ptr<AttentionSink> att;
  if (!o.attention.empty()) {
    if (o.attention == o.output) throw UsageError("--attention needs its own file (it is also -o)");
    io::refuse_binary_to_terminal(o.attention);
    att = std::make_unique<AttentionSink>(o.attention, *model, !lm);
    so.attention = true;
  }

  score::Lines best;  // the best hypothesis of each input, for --ref
  std::vector<Input> batch;
  int64_t done = 0, hyp_number = 0;  // inputs and hypotheses so far
  const int64_t per_call = std::max<int64_t>(1, o.batch / o.num_samples);
  while (inputs->next(stream ? 1 : per_call, batch)) {
    std::vector<nn::Request> reqs, each;  // reqs: num_samples rows per input; each: one
    for (const auto& x : batch) {
      each.push_back(request(x));
      for (int64_t s = 0; s < o.num_samples; ++s) reqs.push_back(each.back());
    }
    // Checked before anything of the batch is written; "INPUT: input N: ..."
    const std::string& where = input_name;
    so.first_request = static_cast<uint64_t>(done);
    try {
      nn::check_search(*dec, each, so);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what(), e.exit_code());
    }
    for (size_t i = 0; i < each.size(); ++i)  // a transformer's learned positions hold its sources too
      if (!lm && d.max_len > 0 && static_cast<int64_t>(each[i].source.size()) > d.max_len)
        throw DataError(where + ": input " + std::to_string(done + static_cast<int64_t>(i) + 1) + ": a source of " +
                        std::to_string(each[i].source.size()) + " tokens, but " + o.model + " holds " +
                        std::to_string(d.max_len) + " (max_len)");
    // Each row's sampling generator is seeded from its index in the whole run.
    so.first_request = static_cast<uint64_t>(done * o.num_samples);
    std::vector<std::vector<nn::Hypothesis>> out;
    if (stream) {
      for (int64_t s = 0; s < o.num_samples; ++s) {
        streamer->begin(batch[0].text, s);
        nn::SearchOptions one = so;
        one.first_request = so.first_request + static_cast<uint64_t>(s);
        one.on_token = [&](int64_t, int32_t id) { streamer->token(id); };
        auto r = nn::decode(*dec, {reqs[s]}, one);
        streamer->end();
        out.push_back(std::move(r[0]));
      }
    } else {
      out = nn::decode(*dec, reqs, so);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      std::vector<nn::Hypothesis> hyps;
      for (int64_t s = 0; s < o.num_samples; ++s)
        for (auto& h : out[i * o.num_samples + s]) hyps.push_back(std::move(h));
      if (!refs.empty()) best.push_back(rstrip(tgt_tok->decode(hyps[0].ids.data(), hyps[0].ids.size())));
      if (sink) sink->add(done + static_cast<int64_t>(i), batch[i], hyps);
      if (att)
        for (size_t k = 0; k < hyps.size(); ++k)
          att->add(hyp_number + static_cast<int64_t>(k), done + static_cast<int64_t>(i), each[i].context,
                   each[i].source, hyps[k]);
      hyp_number += static_cast<int64_t>(hyps.size());
    }
    done += static_cast<int64_t>(batch.size());
  }
  std::string scores;
  if (!refs.empty())
    scores = score::score_report(best, refs, o.score, input_name +
                                 " (decoded)", o.refs[0]);
  if (att) att->commit(tgt_vocab, src_vocab);
  if (sink) sink->commit();
  if (streamer) streamer->commit();
  report << scores;
}

}  // namespace qkv::decode
