// qkv-attend's inputs beyond one HDF5 file, as a user gives them: text with
// -t (gpt: a sequence per line; transformer: source<TAB>target lines, or a
// source alone whose target the model decodes greedily first) attends exactly
// as the tokens / token pairs file qkv-tokenize encode makes of the same text;
// the pieces label the output file and the pictures; several files (the
// shards 0..N-1 of one, in order, or through @LIST) attend exactly as the
// whole file; a missing or misplaced shard is one clear line.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/tokens.h"
#include "io/h5.h"
#include "support/model_files.h"
#include "support/test_support.h"
#include "tokenize/tokenizer.h"

using namespace qkv;
using qkv::test::run;
using qkv::test::write_file;
namespace fs = std::filesystem;

namespace {

template <class T>
std::vector<T> values(const io::H5In& in, const std::string& name, DType dt) {
  Tensor t = in.read(name, dt);
  return {t.data<T>(), t.data<T>() + t.numel()};
}

// Datasets of two attention files equal, value for value (names present in a).
void expect_same(const std::string& a, const std::string& b, const std::vector<std::string>& names) {
  io::H5In x(a), y(b);
  for (const std::string& n : names) {
    ASSERT_TRUE(x.has(n)) << a << ": " << n;
    ASSERT_TRUE(y.has(n)) << b << ": " << n;
    const bool f = n.find("weights") != std::string::npos || n.find("rollout") != std::string::npos;
    const bool i32 = n.find("ids") != std::string::npos;
    if (f) EXPECT_EQ((values<float>(x, n, DType::f32)), (values<float>(y, n, DType::f32))) << n;
    else if (i32) EXPECT_EQ((values<int32_t>(x, n, DType::i32)), (values<int32_t>(y, n, DType::i32))) << n;
    else EXPECT_EQ((values<int64_t>(x, n, DType::i64)), (values<int64_t>(y, n, DType::i64))) << n;
  }
}

std::vector<std::string> seq2seq_sets() {
  std::vector<std::string> n = {"examples/index", "examples/source", "examples/start", "source_tokens/ids",
                                "source_tokens/offsets", "tokens/ids", "tokens/offsets"};
  for (const char* k : {"encoder_self", "decoder_self", "cross"})
    for (const char* d : {"/weights", "/offsets", "/tq", "/tk"}) n.push_back(std::string(k) + d);
  return n;
}

class AttendInput : public ::testing::Test {
 protected:
  void SetUp() override {
    // letters -> capitals: the two sides have their own char tokenizers (vocabularies of different sizes)
    write_file(f("pairs.tsv"), "hello\tHELO\nworld\tWORLD\ncold\tCOLD\nabc\tABC\nbead\tBED\ndew\tDU\n");
    write_file(f("letters.txt"), "helloworldcoldabcbeadew\n");
    write_file(f("caps.txt"), "HELOWRDCABU\n");
    ASSERT_EQ(run("qkv-tokenize -q learn --model char " + f("letters.txt") + " -o " + f("letters.h5")).exit_code, 0);
    ASSERT_EQ(run("qkv-tokenize -q learn --model char " + f("caps.txt") + " -o " + f("caps.h5")).exit_code, 0);
    Vs = tokenize::Tokenizer::load(f("letters.h5")).vocab_size();
    Vt = tokenize::Tokenizer::load(f("caps.h5")).vocab_size();
    ASSERT_NE(Vs, Vt);
    test::write_peaked_model(f("s2s.h5"), "transformer",
                             {"n_encoder_layers=2", "n_decoder_layers=2", "n_head=2", "d_model=8", "d_ff=12",
                              "src_vocab_size=" + std::to_string(Vs), "tgt_vocab_size=" + std::to_string(Vt),
                              "dropout=0", "max_len=16"},
                             3);
    test::write_peaked_model(f("lm.h5"), "gpt",
                             {"n_layer=2", "n_head=2", "d_model=8", "block_size=4",
                              "vocab_size=" + std::to_string(Vs)},
                             5);
  }
  std::string f(const std::string& name) const { return dir.file(name); }
  test::TempDir dir;
  int64_t Vs = 0, Vt = 0;
};

}  // namespace

// gpt: each text line is a sequence, cut into windows of block_size (4) as the tokens file's sequences are.
TEST_F(AttendInput, LmTextAttendsAsItsTokensFile) {
  write_file(f("lines.txt"), "hello world\ncold\n\nabcbead\n");
  ASSERT_EQ(run("qkv-tokenize -q encode -t " + f("letters.h5") + " " + f("lines.txt") + " -o " + f("lines.h5")).exit_code, 0);
  const std::string base = "qkv-attend -m " + f("lm.h5") + " --rollout ";
  auto r = run(base + f("lines.h5") + " -o " + f("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run(base + "-t " + f("letters.h5") + " " + f("lines.txt") + " -o " + f("b.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same(f("a.h5"), f("b.h5"),
              {"examples/source", "examples/start", "tokens/ids", "tokens/offsets", "self/weights", "self/offsets",
               "self/rollout"});
  io::H5In b(f("b.h5"));
  EXPECT_EQ(b.attr_int("/", "n_examples"), 3 + 1 + 0 + 2);  // 11 tokens -> 3 windows, 4 -> 1, 0 -> none, 7 -> 2
  const tokenize::Tokenizer tok = tokenize::Tokenizer::load(f("letters.h5"));
  const std::vector<std::string> pieces = b.read_strings("tokens/pieces");
  ASSERT_EQ(static_cast<int64_t>(pieces.size()), Vs);
  for (int32_t id = 0; id < Vs; ++id) EXPECT_EQ(pieces[id], tok.display_piece(id));
  EXPECT_EQ(values<int64_t>(b, "examples/source", DType::i64), (std::vector<int64_t>{0, 0, 0, 1, 3, 3}));
}

// transformer: source<TAB>target lines attend as the token pairs file `encode --tsv --bos --eos` makes of them.
TEST_F(AttendInput, Seq2seqTsvAttendsAsItsPairsFile) {
  ASSERT_EQ(run("qkv-tokenize -q encode --tsv --bos --eos -t " + f("letters.h5") + " --tgt-tokenizer " + f("caps.h5") +
                " " + f("pairs.tsv") + " -o " + f("pairs.h5"))
                .exit_code,
            0);
  const std::string base = "qkv-attend -m " + f("s2s.h5") + " ";
  auto r = run(base + f("pairs.h5") + " -o " + f("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run(base + "-t " + f("letters.h5") + " --tgt-tokenizer " + f("caps.h5") + " --bos --eos " + f("pairs.tsv") +
          " -o " + f("b.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same(f("a.h5"), f("b.h5"), seq2seq_sets());
  io::H5In b(f("b.h5"));
  EXPECT_EQ(values<int32_t>(b, "examples/decoded", DType::i32), std::vector<int32_t>(6, 0));
  EXPECT_EQ(b.read_strings("source_tokens/pieces").size(), static_cast<size_t>(Vs));
  EXPECT_EQ(b.read_strings("tokens/pieces").size(), static_cast<size_t>(Vt));
  // Without --bos/--eos the sources differ (the model was given them in training): not the same numbers.
  r = run(base + "-t " + f("letters.h5") + " --tgt-tokenizer " + f("caps.h5") + " " + f("pairs.tsv") + " -o " +
          f("c.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(values<int32_t>(io::H5In(f("c.h5")), "source_tokens/ids", DType::i32),
            values<int32_t>(b, "source_tokens/ids", DType::i32));
}

// A source without a target: the model's greedy output, exactly as qkv-decode decodes it, is the target
// whose attention is exported; examples/decoded says which; an empty line is no example.
TEST_F(AttendInput, SourcesAloneAttendOverTheModelsOwnOutput) {
  write_file(f("mixed.txt"), "hello\nworld\tWORLD\n\nabc\n");
  write_file(f("sources.txt"), "hello\nworld\n\nabc\n");
  const std::string toks = " -t " + f("letters.h5") + " --tgt-tokenizer " + f("caps.h5") + " --bos --eos ";
  auto r = run("qkv-decode -m " + f("s2s.h5") + toks + f("sources.txt") + " -o " + f("hyps.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const formats::Sequences hyps = formats::read_tokens(f("hyps.h5"));
  r = run("qkv-attend -m " + f("s2s.h5") + toks + f("mixed.txt") + " --png " + f("maps") + " -o " + f("att.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::H5In a(f("att.h5"));
  EXPECT_EQ(values<int64_t>(a, "examples/source", DType::i64), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(values<int32_t>(a, "examples/decoded", DType::i32), (std::vector<int32_t>{1, 0, 1}));
  const std::vector<int32_t> ids = values<int32_t>(a, "tokens/ids", DType::i32);
  const std::vector<int64_t> off = values<int64_t>(a, "tokens/offsets", DType::i64);
  auto target = [&](int e) { return std::vector<int32_t>(ids.begin() + off[e] + 1, ids.begin() + off[e + 1] - 1); };
  EXPECT_EQ(target(0), std::vector<int32_t>(hyps.seq(0), hyps.seq(0) + hyps.len(0)));
  EXPECT_EQ(target(2), std::vector<int32_t>(hyps.seq(3), hyps.seq(3) + hyps.len(3)));
  EXPECT_FALSE(target(0).empty()) << "a peaked model writes something";
  std::vector<int32_t> world;  // the given target, teacher-forced
  const tokenize::Tokenizer caps = tokenize::Tokenizer::load(f("caps.h5"));
  tokenize::Encoder enc(caps);
  enc.encode("WORLD", world);
  EXPECT_EQ(target(1), world);
  // cross: (T, S) = (target + 1, source with <bos> <eos>)
  const std::vector<int64_t> tq = values<int64_t>(a, "cross/tq", DType::i64), tk = values<int64_t>(a, "cross/tk", DType::i64);
  EXPECT_EQ(tq[1], 6);
  EXPECT_EQ(tk[1], 7);

  // The pictures are labelled with the pieces the file stores: drawn again without the tokenizers, the same
  // pixels; with ids instead (a token pairs file, no tokenizer), other labels.
  ASSERT_TRUE(fs::exists(f("maps/ex0-cross.png")));
  r = run("qkv-attend draw " + f("att.h5") + " --png " + f("again"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const cv::Mat p = cv::imread(f("maps/ex1-cross.png")), q = cv::imread(f("again/ex1-cross.png"));
  ASSERT_FALSE(p.empty());
  ASSERT_EQ(p.size(), q.size());
  EXPECT_EQ(cv::norm(p, q, cv::NORM_INF), 0.0);
  write_file(f("world.tsv"), "world\tWORLD\n");
  ASSERT_EQ(run("qkv-tokenize -q encode --tsv --bos --eos -t " + f("letters.h5") + " --tgt-tokenizer " + f("caps.h5") +
                " " + f("world.tsv") + " -o " + f("world.h5"))
                .exit_code,
            0);
  r = run("qkv-attend -m " + f("s2s.h5") + " " + f("world.h5") + " --png " + f("ids") + " -o " + f("ids.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const cv::Mat i = cv::imread(f("ids/ex0-cross.png"));
  ASSERT_FALSE(i.empty());
  EXPECT_NE(i.size(), p.size());  // "12" is wider than "W"
}

// Several files as one (issue 16 item 3): the shards of qkv-tokenize encode --shard and qkv-patchify
// --shard, in order or through @LIST, attend as the whole file; a gap or a swap is one line naming it.
TEST_F(AttendInput, ShardsInOrderAttendAsTheWholeFile) {
  write_file(f("lines.txt"), "hello world\ncold\nabcbead\ndew\nbead\n");
  const std::string enc = "qkv-tokenize -q encode -t " + f("letters.h5") + " ";
  ASSERT_EQ(run(enc + f("lines.txt") + " -o " + f("whole.h5")).exit_code, 0);
  std::string shards;
  for (int k = 0; k < 3; ++k) {
    const std::string s = f("s" + std::to_string(k) + ".h5");
    ASSERT_EQ(run(enc + "--shard " + std::to_string(k) + "/3 " + f("lines.txt") + " -o " + s).exit_code, 0);
    shards += s + " ";
  }
  const std::string base = "qkv-attend -m " + f("lm.h5") + " --rollout --stats ";
  ASSERT_EQ(run(base + f("whole.h5") + " -o " + f("w.h5")).exit_code, 0);
  auto r = run(base + shards + "-o " + f("sh.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lm = {"examples/index", "examples/source", "examples/start", "tokens/ids",
                                       "tokens/offsets", "self/weights", "self/offsets", "self/rollout"};
  expect_same(f("w.h5"), f("sh.h5"), lm);
  const std::vector<float> sw = values<float>(io::H5In(f("w.h5")), "self/head_stats", DType::f32),
                           ss = values<float>(io::H5In(f("sh.h5")), "self/head_stats", DType::f32);
  ASSERT_EQ(sw.size(), ss.size());
  EXPECT_EQ(std::memcmp(sw.data(), ss.data(), sw.size() * sizeof(float)), 0);  // bit for bit (NaN where n/a)
  write_file(f("list.txt"), f("s0.h5") + "\n# shard 1 next\n" + f("s1.h5") + "\n" + f("s2.h5") + "\n");
  r = run(base + "@" + f("list.txt") + " --examples 1-4 -o " + f("l.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(run(base + f("whole.h5") + " --examples 1-4 -o " + f("w14.h5")).exit_code, 0);
  expect_same(f("w14.h5"), f("l.h5"), lm);

  // (files, the one the message names)
  for (const auto& [bad, named] : std::vector<std::pair<std::string, std::string>>{
           {f("s0.h5") + " " + f("s2.h5"), f("s2.h5: is shard 2/3, but shard 1/3 should come after")},
           {f("s1.h5") + " " + f("s0.h5") + " " + f("s2.h5"), f("s1.h5: is shard 1/3")},
           {f("whole.h5") + " " + f("whole.h5"), "several files are read as one dataset only when"}}) {
    r = run(base + bad + " -o " + f("bad.h5"));
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(f("bad.h5")));
  }

  // token pairs: two shards
  const std::string tsv = "qkv-tokenize -q encode --tsv --bos --eos -t " + f("letters.h5") + " --tgt-tokenizer " +
                          f("caps.h5") + " " + f("pairs.tsv");
  ASSERT_EQ(run(tsv + " -o " + f("pw.h5")).exit_code, 0);
  ASSERT_EQ(run(tsv + " --shard 0/2 -o " + f("p0.h5")).exit_code, 0);
  ASSERT_EQ(run(tsv + " --shard 1/2 -o " + f("p1.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-attend -m " + f("s2s.h5") + " " + f("pw.h5") + " -o " + f("pa.h5")).exit_code, 0);
  r = run("qkv-attend -m " + f("s2s.h5") + " " + f("p0.h5") + " " + f("p1.h5") + " -o " + f("pb.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same(f("pa.h5"), f("pb.h5"), seq2seq_sets());

  // patches: three shards of 5 images; the overlay pictures come from the right shard
  fs::create_directories(f("img/a"));
  for (int i = 0; i < 5; ++i) {
    cv::Mat im(8, 8, CV_8UC1, cv::Scalar(30 * i));
    im.at<uint8_t>(i, i) = 255;
    ASSERT_TRUE(cv::imwrite(f("img/a/" + std::to_string(i) + ".png"), im));
  }
  const std::string patchify = "qkv-patchify -q " + f("img") + " --patch 4 ";
  ASSERT_EQ(run(patchify + "-o " + f("iw.h5")).exit_code, 0);
  std::string ishards;
  for (int k = 0; k < 3; ++k) {
    const std::string s = f("i" + std::to_string(k) + ".h5");
    ASSERT_EQ(run(patchify + "--shard " + std::to_string(k) + "/3 -o " + s).exit_code, 0);
    ishards += s + " ";
  }
  test::write_model(f("vit.h5"), "vit", {"n_layer=2", "n_head=2", "d_model=8", "n_patches=4", "patch_dim=16", "n_classes=2"});
  const std::string vit = "qkv-attend -m " + f("vit.h5") + " --rollout --png-examples 5 ";
  ASSERT_EQ(run(vit + f("iw.h5") + " --png " + f("mw") + " -o " + f("va.h5")).exit_code, 0);
  r = run(vit + ishards + "--png " + f("ms") + " -o " + f("vb.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same(f("va.h5"), f("vb.h5"), {"examples/source", "self/weights", "self/offsets", "self/rollout"});
  for (int e = 0; e < 5; ++e) {
    const std::string png = "/ex" + std::to_string(e) + "-image.png";
    const cv::Mat a = cv::imread(f("mw") + png), b = cv::imread(f("ms") + png);
    ASSERT_FALSE(a.empty()) << png;
    ASSERT_EQ(a.size(), b.size()) << png;
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0) << png;
  }
}
