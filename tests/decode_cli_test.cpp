// `qkv-decode -m MODEL INPUT` as a user runs it, for every architecture that
// generates (gpt, transformer, rnn): tokens files and text in, tokens files,
// text and fairseq columns out, equal to nn::decode called directly; n-best
// with scores; the same output in any batch size and thread count; prompts
// streamed; --ref; and bad input refused with one line and no output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "formats/tokens.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoding.h"
#include "support/bad_input.h"
#include "support/test_support.h"
#include "tokenize/tokenizer.h"

using namespace qkv;
using qkv::test::run;
using qkv::test::TempDir;
using qkv::test::write_file;

namespace {

constexpr int32_t kBos = 1, kEos = 2;

nn::Config cfg(std::initializer_list<std::pair<const char*, nn::ConfigValue>> kv) {
  nn::Config c;
  for (const auto& [k, v] : kv) c.set(k, v);
  return c;
}

// A checkpoint with peaked random weights (decisions far from ties).
void save_random(const std::string& arch, const nn::Config& c, uint64_t seed, const std::string& path) {
  auto m = nn::make_model(arch, c, seed);
  Rng rng(seed + 1000);
  for (nn::ParamId id = 0; id < m->params().count(); ++id) m->params().init_normal(id, rng, 0.3f);
  nn::save_checkpoint(path, *m, nullptr, nullptr);
}

struct Hyps {
  formats::Sequences seqs;
  std::vector<float> scores, normalized, logprobs;
  int64_t n_best = 0, inputs = 0, num_samples = 0;
};

Hyps read_hyps(const std::string& path) {
  io::H5In in(path);
  Hyps h;
  h.seqs = formats::TokensReader(in).read_all();
  auto floats = [&](const char* name) {
    Tensor t = in.read(name, DType::f32, 1);
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  };
  h.scores = floats("scores");
  h.normalized = floats("normalized_scores");
  h.logprobs = floats("token_logprobs");
  h.n_best = in.attr_int("/", "n_best");
  h.inputs = in.attr_int("/", "inputs");
  h.num_samples = in.attr_int("/", "num_samples");
  return h;
}

std::vector<int32_t> ids_of(const Hyps& h, int64_t i) { return {h.seqs.seq(i), h.seqs.seq(i) + h.seqs.len(i)}; }

class DecodeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Source text with an empty line (an empty source, decoded like any other).
    write_file(words(), "hello\nworld\n\nabc\nhollow\ndew\nlow\nbead\ncold\n");
    ASSERT_EQ(run("qkv-tokenize -q learn --model char " + words() + " -o " + tok()).exit_code, 0);
    ASSERT_EQ(run("qkv-tokenize -q encode -t " + tok() + " " + words() + " -o " + src()).exit_code, 0);
    V = tokenize::Tokenizer::load(tok()).vocab_size();
    save_random("transformer",
                cfg({{"src_vocab_size", V}, {"tgt_vocab_size", V}, {"d_model", int64_t{16}}, {"n_head", int64_t{2}},
                     {"n_encoder_layers", int64_t{1}}, {"n_decoder_layers", int64_t{2}}, {"d_ff", int64_t{20}},
                     {"dropout", 0.0}, {"max_len", int64_t{24}}}),
                3, model("transformer"));
    save_random("gpt",
                cfg({{"vocab_size", V}, {"n_layer", int64_t{2}}, {"n_head", int64_t{2}}, {"d_model", int64_t{16}},
                     {"block_size", int64_t{32}}}),
                4, model("gpt"));
    save_random("rnn",
                cfg({{"src_vocab_size", V}, {"tgt_vocab_size", V}, {"d_emb", int64_t{8}}, {"d_hidden", int64_t{12}},
                     {"d_attn", int64_t{10}}, {"dropout", 0.0}}),
                5, model("rnn"));
  }
  std::string words() const { return dir.file("words.txt"); }
  std::string tok() const { return dir.file("chars.h5"); }
  std::string src() const { return dir.file("src.h5"); }
  std::string model(const std::string& arch) const { return dir.file(arch + ".h5"); }

  // What nn::decode gives for the sources of src() (as prompts for gpt).
  std::vector<std::vector<nn::Hypothesis>> library(const std::string& arch, nn::SearchOptions so) {
    io::H5In in(model(arch));
    auto m = nn::load_model(in);
    auto dec = m->decoder();
    formats::Sequences s = formats::read_tokens(src());
    std::vector<nn::Request> reqs;
    for (int64_t i = 0; i < s.n(); ++i) {
      std::vector<int32_t> x(s.seq(i), s.seq(i) + s.len(i));
      if (arch == "gpt") reqs.push_back({{}, x.empty() ? std::vector<int32_t>{kBos} : x, {}});
      else reqs.push_back({x, {kBos}, {}});
    }
    so.eos = kEos;
    return nn::decode(*dec, reqs, so);
  }
  TempDir dir;
  int64_t V = 0;
};

}  // namespace

// Tokens file in, tokens file out, for every architecture: the ids and scores
// nn::decode gives, greedy and beam 3 with 2-best; text in (-t) gives the same.
TEST_F(DecodeCli, EveryArchitectureTokensInTokensOutEqualsTheLibrary) {
  for (std::string arch : {"transformer", "gpt", "rnn"}) {
    for (int beam : {1, 3}) {
      SCOPED_TRACE(arch + " beam " + std::to_string(beam));
      const std::string out = dir.file("h.h5"), flags = " --max-len 12 --beam " + std::to_string(beam) +
                                                         " --n-best " + std::to_string(beam == 1 ? 1 : 2) +
                                                         " --length-penalty 0.6 --batch 4";
      auto r = run("qkv-decode -m " + model(arch) + " " + src() + flags + " -o " + out);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      Hyps h = read_hyps(out);
      nn::SearchOptions so;
      so.beam = beam;
      so.n_best = beam == 1 ? 1 : 2;
      so.max_len = 12;
      so.length_penalty = 0.6;
      auto want = library(arch, so);
      ASSERT_EQ(h.inputs, 9);
      ASSERT_EQ(h.n_best, so.n_best);
      ASSERT_EQ(h.seqs.n(), 9 * so.n_best);
      ASSERT_EQ(h.seqs.vocab.vocab_size, V);
      int64_t lp = 0;
      for (int64_t i = 0; i < h.seqs.n(); ++i) {
        const nn::Hypothesis& w = want[i / so.n_best][i % so.n_best];
        EXPECT_EQ(ids_of(h, i), w.ids) << "hypothesis " << i;
        EXPECT_NEAR(h.scores[i], w.score, 1e-5);
        EXPECT_NEAR(h.normalized[i], w.normalized_score, 1e-5);
        double sum = 0;  // per-token log-probabilities: len + 1 (EOS) each, summing to the score
        for (int64_t k = 0; k <= h.seqs.len(i); ++k) sum += h.logprobs[lp + k];
        lp += h.seqs.len(i) + 1;
        EXPECT_NEAR(sum, h.scores[i], 1e-4);
      }
      EXPECT_EQ(lp, static_cast<int64_t>(h.logprobs.size()));
      if (beam > 1)  // n-best sorted by normalized score
        for (int64_t i = 0; i < 9; ++i) EXPECT_GE(h.normalized[2 * i], h.normalized[2 * i + 1]);
      // Text in (one source per line, the empty line an empty source) gives the same file content.
      const std::string out2 = dir.file("h2.h5");
      r = run("qkv-decode -m " + model(arch) + " -t " + tok() + " " + words() + flags + " -o " + out2);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      Hyps h2 = read_hyps(out2);
      EXPECT_EQ(h2.seqs.ids, h.seqs.ids);
      EXPECT_EQ(h2.seqs.offsets, h.seqs.offsets);
      EXPECT_EQ(h2.scores, h.scores);
    }
  }
}

// --text is qkv-tokenize decode of the tokens output; fairseq columns carry
// the source, normalized score, text and per-token log-probabilities.
TEST_F(DecodeCli, TextAndFairseqOutput) {
  const std::string flags = " -m " + model("transformer") + " -t " + tok() + " --max-len 10 --beam 2 --n-best 2 ";
  ASSERT_EQ(run("qkv-decode" + flags + words() + " -o " + dir.file("h.h5")).exit_code, 0);
  auto dec = run("qkv-tokenize decode -t " + tok() + " " + dir.file("h.h5"));
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  auto text = run("qkv-decode" + flags + "--text " + words());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, dec.out);
  EXPECT_EQ(std::count(text.out.begin(), text.out.end(), '\n'), 18);
  // Through pipes: a tokens file on stdin, text on stdin.
  auto piped = run("qkv-tokenize -q encode -t " + tok() + " " + words() + " | qkv-decode" + flags.substr(0, flags.find(" -t ")) +
                   flags.substr(flags.find(" --max-len")) + "--text --tgt-tokenizer " + tok() + " -");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, text.out);
  auto text_in = run("cat " + words() + " | qkv-decode" + flags + "--text -");
  EXPECT_EQ(text_in.out, text.out) << text_in.err;
  // --prefix: text in the target tokenizer, or ids without one; every hypothesis starts with it.
  auto pre = run("qkv-decode" + flags + "--text --prefix ol " + words());
  ASSERT_EQ(pre.exit_code, 0) << pre.err;
  EXPECT_EQ(std::count(pre.out.begin(), pre.out.end(), '\n'), 18);
  for (size_t b = 0; b < pre.out.size(); b = pre.out.find('\n', b) + 1) EXPECT_EQ(pre.out.substr(b, 2), "ol") << pre.out;
  auto ids = run("qkv-decode -m " + model("rnn") + " " + src() + " --max-len 6 --prefix '5 6' -o " + dir.file("p.h5"));
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  Hyps ph = read_hyps(dir.file("p.h5"));
  for (int64_t i = 0; i < ph.seqs.n(); ++i) {
    ASSERT_GE(ph.seqs.len(i), 2);
    EXPECT_EQ(ph.seqs.seq(i)[0], 5);
    EXPECT_EQ(ph.seqs.seq(i)[1], 6);
  }
  auto fs = run("qkv-decode" + flags + "--format fairseq " + words() + " -o " + dir.file("f.txt"));
  ASSERT_EQ(fs.exit_code, 0) << fs.err;
  EXPECT_EQ(fs.out, "");
  std::string f = test::read_file(dir.file("f.txt"));
  Hyps h = read_hyps(dir.file("h.h5"));
  EXPECT_EQ(f.substr(0, 10), "S-0\thello\n") << f;
  char line[64];
  std::snprintf(line, sizeof line, "\nH-0\t%.4f\t", h.normalized[0]);
  EXPECT_NE(f.find(line), std::string::npos) << f;
  EXPECT_NE(f.find("\nS-2\t\n"), std::string::npos) << f;  // the empty source
  EXPECT_EQ(std::count(f.begin(), f.end(), '\n'), 9 + 9 * 2 * 2);
}

// Item 1 through the tool: greedy output is the same decoded alone (--batch 1)
// or in padded batches of 8, and on 1 or 2 threads; sampling with a seed too.
TEST_F(DecodeCli, SameOutputInAnyBatchAndThreadCount) {
  for (std::string arch : {"transformer", "gpt", "rnn"}) {
    for (std::string search : {"--max-len 12", "--max-len 12 --top-k 5 --temperature 1.3 --seed 7 --num-samples 2"}) {
      SCOPED_TRACE(arch + " " + search);
      std::string base = "qkv-decode -m " + model(arch) + " -t " + tok() + " --text " + search + " " + words();
      auto alone = run(base + " --batch 1 --threads 1");
      auto eight = run(base + " --batch 8 --threads 2");
      ASSERT_EQ(alone.exit_code, 0) << alone.err;
      ASSERT_EQ(eight.exit_code, 0) << eight.err;
      EXPECT_EQ(alone.out, eight.out);
      EXPECT_EQ(std::count(alone.out.begin(), alone.out.end(), '\n'), search.size() > 12 ? 18 : 9);
    }
  }
  // Different seeds draw different samples.
  std::string base = "qkv-decode -m " + model("gpt") + " -t " + tok() + " --text --max-len 12 --top-k 5 " + words();
  EXPECT_NE(run(base + " --seed 1").out, run(base + " --seed 2").out);
}

// Several inputs as one (issue 16 item 3): the shards 0..N-1 of qkv-tokenize
// encode --shard K/N, given in order or through @LIST, decode exactly as the
// unsharded file; a missing or misplaced shard is refused naming the gap;
// text files are read one after the other.
TEST_F(DecodeCli, ShardsInOrderDecodeAsTheWholeFile) {
  for (int k = 0; k < 3; ++k)
    ASSERT_EQ(run("qkv-tokenize -q encode -t " + tok() + " --shard " + std::to_string(k) + "/3 " + words() + " -o " +
                  dir.file("s" + std::to_string(k) + ".h5"))
                  .exit_code,
              0);
  const std::string s0 = dir.file("s0.h5"), s1 = dir.file("s1.h5"), s2 = dir.file("s2.h5");
  const std::string base = "qkv-decode -m " + model("transformer") + " --tgt-tokenizer " + tok() + " --text --beam 2 ";
  auto whole = run(base + src());
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(std::count(whole.out.begin(), whole.out.end(), '\n'), 9);
  auto shards = run(base + s0 + " " + s1 + " " + s2);
  ASSERT_EQ(shards.exit_code, 0) << shards.err;
  EXPECT_EQ(shards.out, whole.out);
  write_file(dir.file("list.txt"), s0 + "\n" + s1 + "\n# a comment\n" + s2 + "\n");
  auto listed = run(base + "@" + dir.file("list.txt"));
  EXPECT_EQ(listed.out, whole.out) << listed.err;
  auto gap = run(base + s0 + " " + s2 + " -o " + dir.file("gap.txt"));
  EXPECT_NE(gap.exit_code, 0);
  EXPECT_EQ(std::count(gap.err.begin(), gap.err.end(), '\n'), 1) << gap.err;
  EXPECT_NE(gap.err.find(s2), std::string::npos) << gap.err;
  EXPECT_FALSE(test::exists(dir.file("gap.txt")));
  auto swapped = run(base + s1 + " " + s0 + " " + s2);
  EXPECT_NE(swapped.exit_code, 0);
  // Text: two files are their lines one after the other.
  write_file(dir.file("a.txt"), "hello\nworld\n\n");
  write_file(dir.file("b.txt"), "abc\nhollow\ndew\nlow\nbead\ncold\n");
  auto texts = run(base + "-t " + tok() + " " + dir.file("a.txt") + " " + dir.file("b.txt"));
  EXPECT_EQ(texts.out, whole.out) << texts.err;
}

// --prompt streams prompt + continuation; --num-samples draws several, the
// same as the text output of the same prompt read from a file.
TEST_F(DecodeCli, PromptStreamsSamples) {
  const std::string m = " -m " + model("gpt") + " -t " + tok();
  auto r = run("qkv-decode" + m + " --prompt low --max-new 20 --temperature 0.8 --top-k 4 --seed 1 --num-samples 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  write_file(dir.file("p.txt"), "low\n");
  auto t = run("qkv-decode" + m + " --text --max-new 20 --temperature 0.8 --top-k 4 --seed 1 --num-samples 3 " +
               dir.file("p.txt"));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  std::vector<std::string> lines;  // the three continuations
  for (size_t b = 0; b < t.out.size();) {
    size_t e = t.out.find('\n', b);
    lines.push_back(t.out.substr(b, e - b));
    b = e + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(r.out, "low" + lines[0] + "\n---------------\nlow" + lines[1] + "\n---------------\nlow" + lines[2] + "\n");
  EXPECT_FALSE(lines[0] == lines[1] && lines[1] == lines[2]) << t.out;
  // Greedy from the prompt: the continuation of the prompt in the tokens file too.
  auto g = run("qkv-decode" + m + " --prompt low --max-new 20");
  auto gt = run("qkv-decode" + m + " --text --max-new 20 " + dir.file("p.txt"));
  EXPECT_EQ(g.out, "low" + gt.out);
  // Past the model's 32 positions: --slide (the window itself is tested in nn_decoding_test).
  const std::string slide = " --prompt low --max-new 60 --min-len 60 --slide --top-k 3 --seed 2";
  auto st = run("qkv-decode" + m + slide);
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_EQ(st.out.substr(0, 3), "low");
  auto sf = run("qkv-decode" + m + slide + " --format tokens -o " + dir.file("slide.h5"));
  ASSERT_EQ(sf.exit_code, 0) << sf.err;
  Hyps h = read_hyps(dir.file("slide.h5"));
  EXPECT_EQ(h.seqs.len(0), 60);  // 3 + 60 tokens through 32 positions
  auto back = run("qkv-tokenize decode -t " + tok() + " " + dir.file("slide.h5"));
  EXPECT_EQ("low" + back.out, st.out);
}

// Text to a FIFO (or a device such as /dev/null) is written into it: the
// path stays what it was, never replaced by a renamed temporary file.
TEST_F(DecodeCli, TextIntoAFifoKeepsTheFifo) {
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(run("mkfifo " + fifo).exit_code, 0);
  const std::string base = "qkv-decode -m " + model("rnn") + " -t " + tok() + " --max-len 6 --text " + words();
  auto r = run("timeout 60 cat " + fifo + " > " + dir.file("got.txt") + " & " + base + " -o " + fifo + "; s=$?; wait; exit $s");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(dir.file("got.txt")), run(base).out);
  EXPECT_EQ(run("test -p " + fifo).exit_code, 0) << "the FIFO was replaced";
  for (const auto& e : dir.entries()) EXPECT_EQ(e.find(".tmp."), std::string::npos) << e;
}

// --ref on a decode run: the scores of `qkv-decode score` on the written hypotheses.
TEST_F(DecodeCli, RefScoresTheBestHypotheses) {
  write_file(dir.file("refs.txt"), "h e l l o\nw o r l d\n\na b c\nh o l l o w\nd e w\nl o w\nb e a d\nc o l d\n");
  const std::string base = "qkv-decode -m " + model("rnn") + " -t " + tok() + " --beam 3 --max-len 10 " + words();
  auto r = run(base + " --text -o " + dir.file("h.txt") + " --ref " + dir.file("refs.txt") + " --metrics wer,chrf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = run("qkv-decode score -m wer,chrf -r " + dir.file("refs.txt") + " " + dir.file("h.txt"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(r.out, s.out);
  EXPECT_NE(r.out.find("WER|nrefs:1"), std::string::npos) << r.out;
  // Hypotheses on stdout: the scores go to stderr.
  auto both = run(base + " --text --ref " + dir.file("refs.txt") + " --metrics wer");
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, test::read_file(dir.file("h.txt")));
  EXPECT_NE(both.err.find("WER|nrefs:1"), std::string::npos) << both.err;
}

// Item 6: each bad input is one line naming the file or option, exit 1 or 2,
// and no output file.
TEST_F(DecodeCli, BadInputIsRefusedWithOneLineAndNoOutput) {
  // A tokenizer with another vocabulary, a vit checkpoint, ids outside the model's vocabulary.
  write_file(dir.file("other.txt"), "xyz\n");
  ASSERT_EQ(run("qkv-tokenize -q learn --model char " + dir.file("other.txt") + " -o " + dir.file("other.h5")).exit_code,
            0);
  ASSERT_EQ(run("qkv-model init vit --set n_patches=4 --set patch_dim=3 --set d_model=8 --set n_head=2 --set n_layer=1 "
                "--set d_ff=8 -o " + dir.file("vit.h5")).exit_code, 0);
  {
    io::H5Out o(dir.file("wide.h5"), "tokens");  // vocab_size V + 5: encoded with another tokenizer
    o.write("ids", Tensor::from<int32_t>(std::vector<int32_t>{5, static_cast<int32_t>(V + 2)}, {2}));
    o.write("offsets", Tensor::from<int64_t>(std::vector<int64_t>{0, 2}, {2}));
    o.set_attr("/", "vocab_size", int64_t{V + 5});
    o.commit();
    io::H5Out b(dir.file("bad_ids.h5"), "tokens");  // an id outside its own vocabulary
    b.write("ids", Tensor::from<int32_t>(std::vector<int32_t>{5, static_cast<int32_t>(V)}, {2}));
    b.write("offsets", Tensor::from<int64_t>(std::vector<int64_t>{0, 2}, {2}));
    b.set_attr("/", "vocab_size", V);
    b.commit();
  }
  write_file(dir.file("refs3.txt"), "a\nb\nc\n");
  write_file(dir.file("long.txt"), "abc\n" + std::string(30, 'a') + "\n");
  const std::string tr = "-m " + model("transformer") + " ";
  std::vector<test::BadCase> cases = {
      {tr + "-t " + dir.file("other.h5") + " " + words(), 1, "other.h5: a vocabulary of"},
      {tr + "-t " + tok() + " --tgt-tokenizer " + dir.file("other.h5") + " " + words(), 1,
       "other.h5: a vocabulary of"},
      {"-m " + dir.file("vit.h5") + " " + src(), 1, "vit.h5: 'vit' is a classify model: it does not generate"},
      {tr + dir.file("wide.h5"), 1, "wide.h5: ids of a vocabulary of"},
      {tr + dir.file("bad_ids.h5"), 1, "bad_ids.h5: token id " + std::to_string(V) + " at position 1 is outside"},
      {tr + src() + " --max-len 30", 2, "exceed the model's 24 positions"},
      {"-m " + model("gpt") + " -t " + tok() + " --prompt hello --max-new 40", 2,
       "exceed the model's 32 positions (lower --max-len, or --slide)"},
      {tr + src() + " --slide", 2, "--slide is for language models"},
      {tr + src() + " --beam 0", 2, "--beam must be >= 1"},
      {tr + src() + " --top-p 1.5", 2, "--top-p must be in (0, 1]"},
      {tr + src() + " --n-best 3 --beam 2", 2, "--n-best must be in [1, beam]"},
      {tr + "-t " + tok() + " --text " + words() + " --ref " + dir.file("refs3.txt"), 1,
       "9 lines, but " + dir.file("refs3.txt") + " has 3"},
      {tr + "-t " + tok() + " " + words() + " --ref " + dir.file("missing.txt"), 1, "missing.txt"},
      {tr + dir.file("missing.h5"), 1, "missing.h5"},
      {"-m " + src() + " " + src(), 1, "src.h5: is a qkv 'tokens' file, expected 'model'"},
      {tr + "--prompt hi -t " + tok(), 2, "--prompt is for language models"},
      {tr + src() + " --format xml", 2, "unknown format 'xml'"},
      {src(), 2, "-m/--model is required"},
      {tr + "-t " + tok() + " " + src(), 1, "src.h5: an HDF5 file, but -t reads text lines"},
      {tr + "-t " + tok() + " " + dir.file("long.txt"), 1, "long.txt: input 2: a source of 30 tokens, but"},
  };
  test::expect_refused("qkv-decode", cases, dir);
}

// --attention FILE: every hypothesis's attention in qkv-attend's layout, equal
// to the AttentionTrace nn::decode returns, rows summing to 1 over the keys
// the query saw, causal self-attention, cross-attention over its own source.
TEST_F(DecodeCli, AttentionOfEveryHypothesisInQkvAttendsLayout) {
  struct Case {
    std::string arch;
    std::vector<std::string> kinds;
  };
  for (const Case& c : {Case{"transformer", {"decoder_self", "cross"}}, Case{"gpt", {"self"}},
                        Case{"rnn", {"additive"}}}) {
    SCOPED_TRACE(c.arch);
    const std::string att = dir.file("att.h5");
    auto r = run("qkv-decode -m " + model(c.arch) + " " + src() + " --max-len 7 --beam 2 --n-best 2 --batch 3 -o " +
                 dir.file("h.h5") + " --attention " + att);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nn::SearchOptions so;
    so.beam = 2;
    so.n_best = 2;
    so.max_len = 7;
    so.attention = true;
    auto want = library(c.arch, so);  // one batch: its cross keys padded wider, the same weights
    io::H5In in(att);
    EXPECT_EQ(in.kind(), "attention");
    EXPECT_EQ(in.attr_strings("/", "kinds"), c.kinds);
    ASSERT_EQ(in.attr_int("/", "n_examples"), 18);
    Tensor source = in.read("examples/source", DType::i64, 1);
    formats::Sequences toks = formats::TokensReader(in, "/tokens").read_all();
    formats::Sequences inputs = formats::read_tokens(src());
    for (const std::string& kind : c.kinds) {
      Tensor tq = in.read(kind + "/tq", DType::i64, 1), tk = in.read(kind + "/tk", DType::i64, 1);
      Tensor off = in.read(kind + "/offsets", DType::i64, 1), w = in.read(kind + "/weights", DType::f32, 1);
      const int64_t layers = static_cast<int64_t>(in.attr_ints(kind, "layers").size());
      const int64_t heads = static_cast<int64_t>(in.attr_ints(kind, "heads").size());
      const bool self = kind != "cross" && kind != "additive";
      for (int64_t e = 0; e < 18; ++e) {
        const nn::Hypothesis& h = want[e / 2][e % 2];
        const int64_t input = source.data<int64_t>()[e], Q = tq.data<int64_t>()[e], K = tk.data<int64_t>()[e];
        ASSERT_EQ(input, e / 2);
        ASSERT_EQ(Q, static_cast<int64_t>(h.ids.size()) + 1);
        const int64_t ctx = c.arch == "gpt" ? std::max<int64_t>(1, inputs.len(input)) : 1;
        ASSERT_EQ(K, self ? ctx + Q - 1 : inputs.len(input));
        ASSERT_EQ(toks.len(e), ctx + Q);  // context, hypothesis, EOS
        ASSERT_EQ(off.data<int64_t>()[e + 1] - off.data<int64_t>()[e], layers * heads * Q * K);
        const float* p = w.data<float>() + off.data<int64_t>()[e];
        int64_t l = 0;
        for (const auto& a : h.attention) {
          if (a.kind != kind) continue;
          for (int64_t hd = 0; hd < heads; ++hd)
            for (int64_t q = 0; q < Q; ++q) {
              double sum = 0;
              for (int64_t k = 0; k < K; ++k) {
                const float v = p[((l * heads + hd) * Q + q) * K + k];
                EXPECT_NEAR(v, a.weights[(q * a.heads + hd) * a.keys + k], 1e-6);
                if (self && k > ctx - 1 + q) EXPECT_EQ(v, 0.0f) << "query " << q << " sees a later key";
                sum += v;
              }
              if (K > 0) EXPECT_NEAR(sum, 1.0, 1e-5) << kind << " example " << e;
            }
          ++l;
        }
        EXPECT_EQ(l, layers);
      }
    }
  }
  // Refused: the same file as -o; nothing written on a bad run.
  auto r = run("qkv-decode -m " + model("gpt") + " " + src() + " -o " + dir.file("a.h5") + " --attention " +
               dir.file("a.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run("qkv-decode -m " + model("gpt") + " " + src() + " --beam 0 -o " + dir.file("b.h5") + " --attention " +
          dir.file("c.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(test::exists(dir.file("b.h5")) || test::exists(dir.file("c.h5")));
}
