// qkv-tokenize as a user runs it: file layouts read back, paired files,
// vocab listing, determinism, threads, and every bad input failing with one
// clear line, a non-zero exit and no output file.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "io/h5.h"
#include "io/sha256.h"
#include "support/test_support.h"
#include "tokenize/tokenizer.h"

using qkv::test::run;
using qkv::test::TempDir;
using qkv::test::read_file;
using qkv::test::write_file;

namespace {

const char* kText = "the cat sat on the mat\nthe dog sat on the log\nthen the cat ran\n";

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir.file("c.txt"), kText);
    auto r = run("qkv-tokenize learn --vocab-size 270 " + dir.file("c.txt") + " -o " + tok());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string tok() const { return dir.file("tok.h5"); }
  // A failing command: exit code, one error line naming what is wrong, no output file.
  void expect_fails(const std::string& cmd, int code, const std::string& needle, const std::string& out_name) {
    auto r = run(cmd);
    EXPECT_EQ(r.exit_code, code) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << "stderr: " << r.err;
    EXPECT_FALSE(qkv::test::exists(dir.file(out_name))) << cmd;
  }
  TempDir dir;
};

}  // namespace

TEST_F(TokenizeCli, TokenizerFileLayout) {
  qkv::io::H5In in(tok());
  EXPECT_EQ(in.kind(), "tokenizer");
  EXPECT_EQ(in.attr_string("/", "model"), "bpe");
  EXPECT_EQ(in.attr_int("/", "vocab_size"), 270);
  EXPECT_EQ(in.attr_int("/", "pad_id"), 0);
  EXPECT_EQ(in.attr_int("/", "bos_id"), 1);
  EXPECT_EQ(in.attr_int("/", "eos_id"), 2);
  EXPECT_EQ(in.attr_int("/", "unk_id"), 3);
  EXPECT_EQ(in.attr_int("/", "first_base_id"), 4);
  auto off = in.read("piece_offsets", qkv::DType::i64, 1);
  auto bytes = in.read("pieces", qkv::DType::u8, 1);
  ASSERT_EQ(off.numel(), 271);
  const int64_t* o = off.data<int64_t>();
  std::string p4(reinterpret_cast<const char*>(bytes.data<uint8_t>()) + o[4], o[5] - o[4]);
  EXPECT_EQ(p4, std::string(1, '\0'));  // byte 0 is id 4
  auto merges = in.read("merges", qkv::DType::i32, 2);
  EXPECT_EQ(merges.dim(0), 270 - 260);
}

TEST_F(TokenizeCli, TokensFileLayout) {
  auto r = run("qkv-tokenize encode --bos --eos -t " + tok() + " " + dir.file("c.txt") + " -o " + dir.file("t.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(dir.file("t.h5"));
  EXPECT_EQ(in.kind(), "tokens");
  auto ids = in.read("ids", qkv::DType::i32, 1);
  auto off = in.read("offsets", qkv::DType::i64, 1);
  ASSERT_EQ(off.numel(), 4);
  EXPECT_EQ(off.data<int64_t>()[3], ids.numel());
  EXPECT_EQ(ids.data<int32_t>()[0], 1);
  EXPECT_EQ(ids.data<int32_t>()[off.data<int64_t>()[1] - 1], 2);
  EXPECT_EQ(in.attr_int("/", "vocab_size"), 270);
  EXPECT_EQ(in.attr_int("/", "eos_id"), 2);
  EXPECT_EQ(in.attr_string("/", "tokenizer_sha256"), qkv::io::sha256_file(tok()));
}

TEST_F(TokenizeCli, MaxLenTruncatesKeepingEos) {
  auto r = run("qkv-tokenize encode --bos --eos --max-len 4 -t " + tok() + " " + dir.file("c.txt") + " -o " +
               dir.file("t.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(dir.file("t.h5"));
  auto ids = in.read("ids", qkv::DType::i32, 1);
  auto off = in.read("offsets", qkv::DType::i64, 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(off.data<int64_t>()[i + 1] - off.data<int64_t>()[i], 4);
    EXPECT_EQ(ids.data<int32_t>()[off.data<int64_t>()[i + 1] - 1], 2);
  }
  EXPECT_EQ(in.attr_int("/", "truncated"), 3);
}

TEST_F(TokenizeCli, TsvGivesPairedFileWithTwoTokenizers) {
  write_file(dir.file("words.txt"), "HELLO\nWORLD\n");
  write_file(dir.file("phones.txt"), "HH AH0 L OW1\nW ER1 L D\n");
  write_file(dir.file("pairs.tsv"), "HELLO\tHH AH0 L OW1\r\nWORLD\tW ER1 L D\n\nLOW\tL OW1\n");
  ASSERT_EQ(run("qkv-tokenize learn --model char " + dir.file("words.txt") + " -o " + dir.file("g.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-tokenize learn --model word " + dir.file("phones.txt") + " -o " + dir.file("p.h5")).exit_code, 0);
  auto r = run("qkv-tokenize encode --tsv --eos -t " + dir.file("g.h5") + " --tgt-tokenizer " + dir.file("p.h5") + " " +
               dir.file("pairs.tsv") + " -o " + dir.file("pairs.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  qkv::io::H5In in(dir.file("pairs.h5"));
  EXPECT_EQ(in.kind(), "token_pairs");
  auto so = in.read("src/offsets", qkv::DType::i64, 1);
  auto to = in.read("tgt/offsets", qkv::DType::i64, 1);
  ASSERT_EQ(so.numel(), 4);  // 3 pairs: the empty line is skipped
  ASSERT_EQ(to.numel(), 4);
  EXPECT_EQ(so.data<int64_t>()[1], 6);  // H E L L O <eos>
  EXPECT_EQ(to.data<int64_t>()[1], 5);  // HH AH0 L OW1 <eos>
  EXPECT_EQ(in.attr_int("/src", "vocab_size"), 4 + 7);  // D E H L O R W
  EXPECT_EQ(in.attr_string("/tgt", "tokenizer_sha256"), qkv::io::sha256_file(dir.file("p.h5")));
  r = run("qkv-tokenize decode -t " + dir.file("g.h5") + " --tgt-tokenizer " + dir.file("p.h5") + " " +
          dir.file("pairs.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "HELLO\tHH AH0 L OW1\nWORLD\tW ER1 L D\nLOW\tL OW1\n");
  r = run("qkv-tokenize encode --pieces --tsv -t " + dir.file("g.h5") + " --tgt-tokenizer " + dir.file("p.h5") + " " +
          dir.file("pairs.tsv"));
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "H E L L O\tHH AH0 L OW1");
  write_file(dir.file("bad.tsv"), "HELLO\tHH\nWORLD no tab\n");
  expect_fails("qkv-tokenize encode --tsv -t " + dir.file("g.h5") + " " + dir.file("bad.tsv") + " -o " +
                   dir.file("bad.h5"),
               1, "bad.tsv:2: no tab", "bad.h5");
}

TEST_F(TokenizeCli, VocabListsIdsPiecesCountsAndRanks) {
  auto r = run("qkv-tokenize vocab -t " + tok());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 270);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "0\t<pad>\tcontrol\t0\t-");
  EXPECT_NE(r.out.find("\n36\t\xE2\x96\x81\tbyte\t"), std::string::npos);  // space, shown as U+2581
  EXPECT_NE(r.out.find("\tmerge\t"), std::string::npos);
  size_t last = r.out.rfind('\n', r.out.size() - 2);
  // Hand-counted: he 6 = th 6 (tie: 'h' < 't'), the 6, at 5, " the" 3, ...
  EXPECT_NE(r.out.find("\n260\the\tmerge\t6\t0\n261\tthe\tmerge\t6\t1\n262\tat\tmerge\t5\t2\n"), std::string::npos);
  EXPECT_EQ(r.out.substr(last + 1), "269\t\xE2\x96\x81on\tmerge\t2\t9\n");
}

TEST_F(TokenizeCli, SameInputGivesIdenticalFilesAnyThreadCount) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big += std::to_string(i * 7919 % 1000) + " " + kText;
  write_file(dir.file("big.txt"), big);
  for (const char* th : {"1", "2", "2"}) {
    std::string n = std::string("tok") + th + ".h5";
    auto r = run(std::string("qkv-tokenize --no-provenance --threads ") + th + " learn --vocab-size 600 " +
                 dir.file("big.txt") + " -o " + dir.file(n));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run(std::string("qkv-tokenize --no-provenance --threads ") + th + " encode -t " + dir.file(n) + " " +
            dir.file("big.txt") + " -o " + dir.file(std::string("ids") + th + ".h5"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(read_file(dir.file("tok1.h5")), read_file(dir.file("tok2.h5")));
  qkv::io::H5In a(dir.file("ids1.h5")), b(dir.file("ids2.h5"));
  auto ia = a.read("ids", qkv::DType::i32, 1), ib = b.read("ids", qkv::DType::i32, 1);
  ASSERT_EQ(ia.numel(), ib.numel());
  EXPECT_TRUE(std::equal(ia.data<int32_t>(), ia.data<int32_t>() + ia.numel(), ib.data<int32_t>()));
}

TEST_F(TokenizeCli, MissingFile) {
  expect_fails("qkv-tokenize learn " + dir.file("nope.txt") + " -o " + dir.file("o.h5"), 1, "nope.txt: cannot open",
               "o.h5");
  expect_fails("qkv-tokenize encode -t " + tok() + " " + dir.file("nope.txt") + " -o " + dir.file("o.h5"), 1,
               "nope.txt: cannot open", "o.h5");
  expect_fails("qkv-tokenize encode -t " + dir.file("none.h5") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"),
               1, "none.h5", "o.h5");
}

TEST_F(TokenizeCli, UnreadableFile) {
  if (getuid() == 0) GTEST_SKIP() << "running as root: permissions do not stop reads";
  write_file(dir.file("secret.txt"), "x\n");
  chmod(dir.file("secret.txt").c_str(), 0);
  expect_fails("qkv-tokenize learn " + dir.file("secret.txt") + " -o " + dir.file("o.h5"), 1, "secret.txt", "o.h5");
}

TEST_F(TokenizeCli, DirectoryAsInput) {
  expect_fails("qkv-tokenize learn " + dir.path() + " -o " + dir.file("o.h5"), 1, "directory", "o.h5");
}

TEST_F(TokenizeCli, OtherKindAsTokenizer) {
  ASSERT_EQ(run("qkv-tokenize encode -t " + tok() + " " + dir.file("c.txt") + " -o " + dir.file("t.h5")).exit_code, 0);
  expect_fails("qkv-tokenize encode -t " + dir.file("t.h5") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 1,
               "is a qkv 'tokens' file, expected 'tokenizer'", "o.h5");
  expect_fails("qkv-tokenize decode -t " + dir.file("t.h5") + " " + dir.file("t.h5") + " -o " + dir.file("o.txt"), 1,
               "expected 'tokenizer'", "o.txt");
  expect_fails("qkv-tokenize decode -t " + tok() + " " + tok() + " -o " + dir.file("o.txt"), 1,
               "is a qkv 'tokenizer' file, expected 'tokens'", "o.txt");
  expect_fails("qkv-tokenize encode -t " + dir.file("c.txt") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 1,
               "c.txt", "o.h5");
}

TEST_F(TokenizeCli, IdsOutsideVocabulary) {
  qkv::io::H5Out out(dir.file("bad.h5"), "tokens");
  out.write("ids", qkv::Tensor::from(std::vector<int32_t>{5, 6, 270, 7}, {4}));
  out.write("offsets", qkv::Tensor::from(std::vector<int64_t>{0, 2, 4}, {3}));
  out.set_attr("/", "vocab_size", int64_t{270});
  out.commit();
  expect_fails("qkv-tokenize decode -t " + tok() + " " + dir.file("bad.h5") + " -o " + dir.file("o.txt"), 1,
               "id 270 at position 2 is outside the vocabulary", "o.txt");
  qkv::io::H5Out neg(dir.file("neg.h5"), "tokens");
  neg.write("ids", qkv::Tensor::from(std::vector<int32_t>{-1}, {1}));
  neg.write("offsets", qkv::Tensor::from(std::vector<int64_t>{0, 1}, {2}));
  neg.set_attr("/", "vocab_size", int64_t{270});
  neg.commit();
  expect_fails("qkv-tokenize decode -t " + tok() + " " + dir.file("neg.h5") + " -o " + dir.file("o.txt"), 1,
               "id -1 at position 0", "o.txt");
  // Offsets that do not match ids.
  qkv::io::H5Out off(dir.file("off.h5"), "tokens");
  off.write("ids", qkv::Tensor::from(std::vector<int32_t>{5}, {1}));
  off.write("offsets", qkv::Tensor::from(std::vector<int64_t>{0, 3}, {2}));
  off.commit();
  expect_fails("qkv-tokenize decode -t " + tok() + " " + dir.file("off.h5") + " -o " + dir.file("o.txt"), 1,
               "offsets end at 3", "o.txt");
  // Encoded with another tokenizer: vocabulary sizes differ.
  ASSERT_EQ(run("qkv-tokenize learn --vocab-size 265 " + dir.file("c.txt") + " -o " + dir.file("small.h5")).exit_code, 0);
  ASSERT_EQ(run("qkv-tokenize encode -t " + tok() + " " + dir.file("c.txt") + " -o " + dir.file("t.h5")).exit_code, 0);
  expect_fails("qkv-tokenize decode -t " + dir.file("small.h5") + " " + dir.file("t.h5") + " -o " + dir.file("o.txt"),
               1, "270-piece vocabulary", "o.txt");
}

TEST_F(TokenizeCli, EmptyCorpus) {
  write_file(dir.file("empty.txt"), "");
  expect_fails("qkv-tokenize learn " + dir.file("empty.txt") + " -o " + dir.file("o.h5"), 1, "empty corpus", "o.h5");
  write_file(dir.file("blank.txt"), "\n\n\n");
  expect_fails("qkv-tokenize learn --model word " + dir.file("blank.txt") + " -o " + dir.file("o.h5"), 1,
               "empty corpus", "o.h5");
}

TEST_F(TokenizeCli, VocabSizeSmallerThanAlphabet) {
  expect_fails("qkv-tokenize learn --vocab-size 259 " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 2,
               "smaller than the base alphabet", "o.h5");
  expect_fails("qkv-tokenize learn --special X --vocab-size 260 " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 2,
               "smaller than the base alphabet", "o.h5");
  // char: "the cat sat..." has 15 distinct characters.
  expect_fails("qkv-tokenize learn --model char --vocab-size 10 " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 2,
               "smaller than the base alphabet", "o.h5");
}

TEST_F(TokenizeCli, BadOptions) {
  expect_fails("qkv-tokenize learn --special '<pad>' " + dir.file("c.txt") + " -o " + dir.file("o.h5"), 2,
               "already a fixed special token", "o.h5");
  expect_fails("qkv-tokenize learn --model char --pretokenize gpt2 " + dir.file("c.txt") + " -o " + dir.file("o.h5"),
               2, "char model", "o.h5");
  expect_fails("cat " + tok() + " | qkv-tokenize encode -t - -o " + dir.file("o.h5"), 2, "stdin (-) can feed only one",
               "o.h5");
  expect_fails("qkv-tokenize decode -t - - -o " + dir.file("o.txt"), 2, "stdin (-) can feed only one", "o.txt");
  expect_fails("qkv-tokenize encode --tsv --document -t " + tok() + " " + dir.file("c.txt") + " -o " +
                   dir.file("o.h5"),
               2, "cannot be combined", "o.h5");
}

TEST_F(TokenizeCli, TruncatedTokenizerFile) {
  std::string bytes = read_file(tok());
  write_file(dir.file("trunc.h5"), bytes.substr(0, bytes.size() / 2));
  expect_fails("qkv-tokenize encode -t " + dir.file("trunc.h5") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"),
               1, "trunc.h5", "o.h5");
}

TEST_F(TokenizeCli, PipesAndProgress) {
  std::string big;
  for (int i = 0; i < 200; ++i) big += kText;
  write_file(dir.file("big.txt"), big);
  auto r = run("cat " + dir.file("big.txt") + " | qkv-tokenize learn --vocab-size 300 | qkv-tokenize encode -t - " +
               dir.file("big.txt") + " -o " + dir.file("x.h5"));
  // -t - reads the tokenizer from the pipe.
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(run("cat " + dir.file("big.txt") + " | qkv-tokenize learn --vocab-size 300 -o " + tok()).exit_code, 0);
  r = run("cat " + dir.file("big.txt") + " | qkv-tokenize encode -t " + tok() + " | qkv-tokenize decode -t " + tok() +
          " | cmp - " + dir.file("big.txt"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run("qkv-tokenize decode -t " + tok() + " " + dir.file("x.h5") + " | cmp - " + dir.file("big.txt"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(TokenizeCli, BinaryNeverToTerminalButPiecesMay) {
  auto r = run("qkv-tokenize encode -t " + tok() + " " + dir.file("c.txt") + " --pieces");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "the \xE2\x96\x81" "cat \xE2\x96\x81s at \xE2\x96\x81on \xE2\x96\x81the \xE2\x96\x81 m at");
}

TEST_F(TokenizeCli, SampleLearnsFromAFixedRandomSubset) {
  std::string big;
  for (int i = 0; i < 1000; ++i) big += "line " + std::to_string(i) + " " + kText;
  write_file(dir.file("big.txt"), big);
  std::string cmd = "qkv-tokenize --no-provenance learn --sample 50 --vocab-size 300 " + dir.file("big.txt") + " -o ";
  auto r = run(cmd + dir.file("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sampled 50 of 3000 lines"), std::string::npos) << r.err;
  ASSERT_EQ(run(cmd + dir.file("b.h5")).exit_code, 0);
  EXPECT_EQ(read_file(dir.file("a.h5")), read_file(dir.file("b.h5")));
}

TEST_F(TokenizeCli, InterruptedEncodeLeavesNoFile) {
  // The input pipe stays open, so encode is still running (its output being
  // built in a temporary file) when SIGTERM arrives. (A shell's background
  // job ignores SIGINT, and so does the tool then.)
  std::string fifo = dir.file("in.fifo");
  auto r = run("mkfifo " + fifo + "; qkv-tokenize encode -t " + tok() + " -o " + dir.file("o.h5") + " < " + fifo +
               " 2>/dev/null & pid=$!; exec 3>" + fifo + "; printf 'the cat\\n' >&3; " +
               "for i in $(seq 200); do ls " + dir.path() + " | grep -q o.h5.tmp && break; sleep 0.05; done; ls " +
               dir.path() + "; kill -TERM $pid; wait $pid; echo exit=$?; exec 3>&-; rm " + fifo);
  EXPECT_NE(r.out.find("o.h5.tmp."), std::string::npos) << r.out;  // the temporary file existed
  EXPECT_NE(r.out.find("exit=143"), std::string::npos) << r.out;
  EXPECT_FALSE(qkv::test::exists(dir.file("o.h5")));
  for (auto& e : dir.entries()) EXPECT_EQ(e.find("o.h5"), std::string::npos) << e;
}

// A copy of tok() at path with its piece_offsets and merges changed by edit.
void write_edited_tokenizer(const std::string& from, const std::string& path,
                            const std::function<void(qkv::Tensor& offsets, qkv::Tensor& merges)>& edit) {
  qkv::io::H5In in(from);
  qkv::Tensor offsets = in.read("piece_offsets", qkv::DType::i64, 1);  // (V+1)
  qkv::Tensor merges = in.read("merges", qkv::DType::i32, 2);          // (M, 2)
  edit(offsets, merges);
  qkv::io::H5Out out(path, "tokenizer");
  for (const char* name : {"pieces", "piece_types"}) out.write(name, in.read(name, qkv::DType::u8, 1));
  out.write("piece_offsets", offsets);
  out.write("piece_counts", in.read("piece_counts", qkv::DType::i64, 1));
  out.write("merges", merges);
  for (const char* a : {"model", "pretokenizer"}) out.set_attr("/", a, in.attr_string("/", a));
  for (const char* a : {"vocab_size", "num_user_specials"}) out.set_attr("/", a, in.attr_int("/", a));
  out.commit();
}

TEST_F(TokenizeCli, InconsistentTokenizerIsRefused) {
  // A tokenizer file whose first merge names a later piece: one clear line, no output.
  write_edited_tokenizer(tok(), dir.file("bad_tok.h5"),
                         [](qkv::Tensor&, qkv::Tensor& merges) { merges.data<int32_t>()[0] = 269; });
  expect_fails("qkv-tokenize encode -t " + dir.file("bad_tok.h5") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"),
               1, "bad_tok.h5: merge 0 joins ids (269, ", "o.h5");
}

TEST_F(TokenizeCli, InteriorPieceOffsetBeyondThePiecesIsRefused) {
  // Found by fuzzing: an interior offset far past /pieces, the next one back in
  // range; read before it was checked, it copied memory beyond the buffer.
  write_edited_tokenizer(tok(), dir.file("bad_tok.h5"),
                         [](qkv::Tensor& offsets, qkv::Tensor&) { offsets.data<int64_t>()[1] = 1 << 30; });
  expect_fails("qkv-tokenize encode -t " + dir.file("bad_tok.h5") + " " + dir.file("c.txt") + " -o " + dir.file("o.h5"),
               1, "bad_tok.h5: piece_offsets decrease at 1", "o.h5");
}
