// HDF5 in and out: round trips, pipes (file images), provenance, byte-identical
// outputs, and every kind of bad file giving one clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <hdf5.h>
#include <pty.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstdio>
#include <thread>

#include "core/error.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "io/h5_global_heap.h"
#include "io/h5_probed.h"
#include "io/sha256.h"
#include "support/test_support.h"
#include "tensor/ops.h"

using namespace qkv;
using io::H5In;
using io::H5Out;
namespace pv = io::provenance;

namespace {

class H5Test : public ::testing::Test {
 protected:
  void SetUp() override { pv::reset_for_tests(); }
  test::TempDir dir;
};

std::vector<uint8_t> sample_image(bool with_provenance = true) {
  pv::set_enabled(with_provenance);
  H5Out out(":memory:", "sample");
  out.write("ids", Tensor::from<int32_t>({1, 2, 3, -4}, {4}));
  out.write("offsets", Tensor::from<int64_t>({0, 1, 4}, {3}));
  out.write("pix", Tensor::from<uint8_t>({0, 127, 255, 9}, {2, 2}));
  out.write("group/sub/w", Tensor::from<float>({0.5f, -1.5f, 2.25f, 3, 4, 5}, {2, 3}), 6);
  out.write_strings("names", {"a", "", "ünïcödé", "tab\there"});
  out.set_attr("/", "vocab_size", int64_t{65});
  out.set_attr("/", "lr", 1e-3);
  out.set_attr("group", "kind", std::string("mlp"));
  out.set_attr("group/sub/w", "dims", std::vector<int64_t>{2, 3});
  out.set_attr("/", "class_names", std::vector<std::string>{"cat", "dog"});
  out.set_attr("/", "mean", std::vector<double>{0.5, 0.25});
  auto img = out.image();
  pv::set_enabled(true);
  return img;
}

}  // namespace

TEST_F(H5Test, RoundTripEveryDtypeStringAndAttribute) {
  H5In in(sample_image(), "sample.h5");
  EXPECT_EQ(in.kind(), "sample");
  EXPECT_NO_THROW(in.expect_kind("sample"));
  EXPECT_EQ(in.attr_int("/", "qkv_format_version"), 1);
  Tensor ids = in.read("ids", DType::i32, 1);
  EXPECT_EQ(std::vector<int32_t>(ids.data<int32_t>(), ids.data<int32_t>() + 4), (std::vector<int32_t>{1, 2, 3, -4}));
  Tensor off = in.read("offsets", DType::i64, 1);
  EXPECT_EQ(off.data<int64_t>()[2], 4);
  Tensor pix = in.read("pix", DType::u8, 2);
  EXPECT_EQ(pix.data<uint8_t>()[2], 255);
  Tensor w = in.read("/group/sub/w", DType::f32, 2);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.data<float>()[2], 2.25f);
  EXPECT_EQ(in.read_strings("names"), (std::vector<std::string>{"a", "", "ünïcödé", "tab\there"}));
  EXPECT_EQ(in.attr_int("/", "vocab_size"), 65);
  EXPECT_DOUBLE_EQ(in.attr_double("/", "lr"), 1e-3);
  EXPECT_EQ(in.attr_string("group", "kind"), "mlp");
  EXPECT_EQ(in.attr_ints("group/sub/w", "dims"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(in.attr_strings("/", "class_names"), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(in.attr_doubles("/", "mean"), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(in.list("group/sub"), (std::vector<std::string>{"w"}));
  EXPECT_TRUE(in.has("group/sub/w"));
  EXPECT_FALSE(in.has("group/nope/w"));
  // Integers widen or narrow with a range check; int -> float is allowed.
  Tensor ids64 = in.read("ids", DType::i64);
  EXPECT_EQ(ids64.data<int64_t>()[3], -4);
  Tensor idsf = in.read("ids", DType::f32);
  EXPECT_EQ(idsf.data<float>()[3], -4.0f);
}

TEST_F(H5Test, WrongKindDtypeRankAndMissingAreClearErrors) {
  H5In in(sample_image(), "sample.h5");
  auto msg = [&](auto f) {
    try {
      f();
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(msg([&] { in.expect_kind("tokens"); }), "sample.h5: is a qkv 'sample' file, expected 'tokens'");
  EXPECT_EQ(msg([&] { in.read("group/sub/w", DType::i32); }),
            "sample.h5: dataset /group/sub/w: expected int32, found float32");
  EXPECT_EQ(msg([&] { in.read("ids", DType::i32, 2); }),
            "sample.h5: dataset /ids: expected 2 dims, found shape [4]");
  EXPECT_EQ(msg([&] { in.read("nope", DType::f32); }), "sample.h5: no dataset /nope");
  EXPECT_NE(msg([&] { in.read("ids", DType::u8); }).find("value -4 at index 3 does not fit uint8"), std::string::npos);
  EXPECT_NE(msg([&] { in.attr_int("/", "missing"); }).find("missing attribute missing"), std::string::npos);
  EXPECT_NE(msg([&] { in.attr_int("group", "kind"); }).find("expected an integer"), std::string::npos);
  EXPECT_NE(msg([&] { in.read_strings("ids"); }).find("expected strings, found int32"), std::string::npos);
}

TEST_F(H5Test, NotHdf5EmptyAndTruncatedFilesAreRejected) {
  std::vector<uint8_t> img = sample_image();
  auto msg = [&](std::vector<uint8_t> bytes) {
    try {
      H5In in(std::move(bytes), "f.h5");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(msg({}), "f.h5: empty file, expected HDF5");
  std::string text = "this is plain text, not HDF5\n";
  EXPECT_EQ(msg(std::vector<uint8_t>(text.begin(), text.end())), "f.h5: not an HDF5 file");
  for (size_t cut : {size_t{8}, size_t{100}, img.size() / 2, img.size() - 1}) {
    std::string m = msg(std::vector<uint8_t>(img.begin(), img.begin() + cut));
    EXPECT_EQ(m.rfind("f.h5: corrupt or truncated HDF5 file", 0), 0u) << cut << ": " << m;
  }
}

// libhdf5 copies a global heap object's claimed size out of its collection
// unchecked; qkv checks every collection's object list first
// (io/h5_global_heap.h), the same way on every run.
TEST_F(H5Test, GlobalHeapObjectsMustFitTheirCollection) {
  std::vector<uint8_t> img = sample_image();
  EXPECT_EQ(io::global_heap_problem(img.data(), img.size()).what, "");
  const uint8_t gcol[] = {'G', 'C', 'O', 'L', 1, 0, 0, 0};
  auto it = std::search(img.begin(), img.end(), gcol, gcol + 8);
  ASSERT_NE(it, img.end()) << "no global heap collection";
  const size_t at = static_cast<size_t>(it - img.begin());
  const std::string where = "global heap collection at byte " + std::to_string(at) + ": ";
  auto msg = [&](size_t offset, uint64_t value) {
    std::vector<uint8_t> bytes = img;
    std::memcpy(&bytes[at + offset], &value, 8);  // little-endian
    try {
      H5In in(std::move(bytes), "f.h5");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Object 1's size (its header starts after the 16-byte collection header).
  EXPECT_EQ(msg(24, uint64_t{1} << 40), "f.h5: corrupt HDF5 file: " + where + "object 1 claims 1099511627776 bytes, " +
                                            std::to_string(4096 - 32) + " remain");
  EXPECT_EQ(msg(24, ~uint64_t{0}).rfind("f.h5: corrupt HDF5 file: " + where + "object 1 claims 18446744073709551615", 0),
            0u);
  // The collection's own size: past the end of the file, or too small for what it holds.
  EXPECT_EQ(msg(8, img.size()), "f.h5: corrupt or truncated HDF5 file (" + where + "claims " +
                                    std::to_string(img.size()) + " bytes, past the end of the " +
                                    std::to_string(img.size()) + "-byte file)");
  EXPECT_EQ(msg(8, 8), "f.h5: corrupt HDF5 file: " + where + "claims 8 bytes, less than its header");
  EXPECT_NE(msg(8, 33).find("f.h5: corrupt HDF5 file: " + where + "object "), std::string::npos);
  // Strings over several collections (4 KB each) are read as written.
  pv::set_enabled(false);
  H5Out out(":memory:", "sample");
  std::vector<std::string> many;
  for (int i = 0; i < 600; ++i) many.push_back("string number " + std::to_string(i) + " of six hundred");
  out.write_strings("many", many);
  std::vector<uint8_t> big = out.image();
  pv::set_enabled(true);
  size_t collections = 0;
  for (auto p = big.begin(); (p = std::search(p, big.end(), gcol, gcol + 8)) != big.end(); ++p) ++collections;
  EXPECT_GE(collections, 2u);
  EXPECT_EQ(io::global_heap_problem(big.data(), big.size()).what, "");
  EXPECT_EQ(H5In(std::move(big), "many.h5").read_strings("many"), many);
}

// An outside file's attributes and variable-length strings are what the
// probe's child read (io/h5_probed.h): libhdf5 decodes an attribute message
// at the size it claims whenever an attribute is looked up, so the tool's own
// process never looks one up.
TEST_F(H5Test, AttributesOfOutsideFilesComeFromTheProbesChild) {
  H5In in(sample_image(), "sample.h5");
  const io::detail::ProbedFile* t = io::detail::probed(in.handle());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->attr_names.at("/"), (std::vector<std::string>{"class_names", "lr", "mean", "qkv_format",
                                                              "qkv_format_version", "vocab_size"}));
  EXPECT_EQ(std::get<int64_t>(t->attrs.at("/@vocab_size").value), 65);
  EXPECT_EQ(std::get<std::string>(t->attrs.at("/group@kind").value), "mlp");
  EXPECT_EQ(std::get<std::vector<int64_t>>(t->attrs.at("/group/sub/w@dims").value), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->strings.at("/names"), (std::vector<std::string>{"a", "", "ünïcödé", "tab\there"}));
  EXPECT_TRUE(t->attr_names.count("/provenance/0000"));
  EXPECT_EQ(in.provenance().size(), 1u);
  // The readers answer from it: a value only the table holds is what they see.
  io::detail::ProbedFile forged = *t;
  forged.attrs["/@vocab_size"].value = int64_t{77};
  forged.attr_names["/group"].clear();
  {
    io::detail::ProbedRegistration swap(in.handle(), forged);
    EXPECT_EQ(in.attr_int("/", "vocab_size"), 77);
    EXPECT_FALSE(in.has_attr("group", "kind"));
  }
  // The report crosses a pipe: every value kind survives, and every cut of it is refused.
  forged.attrs["/@err"] = io::detail::ProbedAttr{false, {}, ": unsupported attribute type"};
  forged.attrs["/@d"].value = 2.5;
  forged.attrs["/@ds"].value = std::vector<double>{1.5, -2};
  forged.attrs["/@empty"].value = std::vector<int64_t>{};  // an empty vector's data() is null: never copied from
  const std::string bytes = io::detail::serialize(forged);
  io::detail::ProbedFile back;
  ASSERT_TRUE(io::detail::parse(bytes, back));
  EXPECT_EQ(io::detail::serialize(back), bytes);
  EXPECT_EQ(back.attrs.at("/@err").error, ": unsupported attribute type");
  EXPECT_EQ(std::get<std::vector<double>>(back.attrs.at("/@ds").value), (std::vector<double>{1.5, -2}));
  EXPECT_TRUE(std::get<std::vector<int64_t>>(back.attrs.at("/@empty").value).empty());
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    io::detail::ProbedFile part;
    EXPECT_FALSE(io::detail::parse(bytes.substr(0, cut), part)) << cut;
  }
}

// libhdf5 1.10.8 converts an integer whose type claims more bits than its
// size through a fixed stack buffer (stack smashing in H5T__bit_get_d, a
// mutated patches file): such a type is refused before any read.
TEST_F(H5Test, NumberTypesClaimingMoreBitsThanTheirSizeAreRefused) {
  pv::set_enabled(false);
  H5Out out(":memory:", "sample");
  out.write("ids", Tensor::from<int32_t>({1, 2, 3, -4}, {4}));
  std::vector<uint8_t> img = out.image();
  pv::set_enabled(true);
  EXPECT_EQ(H5In(img, "f.h5").read("ids", DType::i64).data<int64_t>()[3], -4);
  // The datatype message of a signed little-endian 32-bit integer: class 0 version 1, size 4, offset 0, precision 32.
  const uint8_t i32[] = {0x10, 0x08, 0, 0, 4, 0, 0, 0, 0, 0, 32, 0};
  auto it = std::search(img.begin(), img.end(), i32, i32 + sizeof i32);
  ASSERT_NE(it, img.end());
  it[10] = 188;
  H5In bad(img, "f.h5");
  for (DType t : {DType::i32, DType::i64, DType::f32}) {
    try {
      bad.read("ids", t);
      ADD_FAILURE() << "read a 188-bit int32";
    } catch (const DataError& e) {
      EXPECT_STREQ(e.what(), "f.h5: dataset /ids: its number type claims 188 bits at bit 0 of 32 (corrupt header?)");
    }
  }
  for (hid_t t : {H5T_NATIVE_INT8, H5T_NATIVE_UINT16, H5T_STD_I32BE, H5T_NATIVE_INT64, H5T_NATIVE_FLOAT,
                  H5T_NATIVE_DOUBLE, H5T_IEEE_F32BE})
    EXPECT_EQ(io::detail::number_type_problem(t), "");
  EXPECT_NE(io::detail::number_type_problem(H5T_NATIVE_LDOUBLE), "");  // 128 bits: not read as a number
}

TEST_F(H5Test, AbsurdShapesAreRejectedBeforeAllocating) {
  // A tiny file whose datasets claim terabytes (no storage behind them).
  std::string path = dir.file("absurd.h5");
  {
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t big[2] = {hsize_t{1} << 20, hsize_t{1} << 20};
    hid_t sp = H5Screate_simple(2, big, nullptr);
    hid_t d = H5Dcreate2(f, "huge", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[2] = {1024, 1024};
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 6);
    d = H5Dcreate2(f, "huge_compressed", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
  }
  H5In in(path);
  for (const char* name : {"huge", "huge_compressed"}) {
    try {
      in.read(name, DType::f32);
      FAIL() << name << " was read";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("corrupt header?"), std::string::npos) << e.what();
    }
  }
}

TEST_F(H5Test, ImageBytesAreIdenticalRunToRunWithoutProvenance) {
  auto a = sample_image(false), b = sample_image(false);
  EXPECT_EQ(a, b);
  // With provenance the record (and its time) is there, so the bytes may differ,
  // but the content is the same.
  H5In in(sample_image(true), "p.h5");
  EXPECT_EQ(in.provenance().size(), 1u);
  H5In plain(a, "np.h5");
  EXPECT_TRUE(plain.provenance().empty());
  EXPECT_FALSE(plain.has("provenance"));
}

TEST_F(H5Test, ProvenanceChainsThroughInputs) {
  char arg0[] = "qkv-first", arg1[] = "--flag", arg2[] = "it's";
  char* argv1[] = {arg0, arg1, arg2};
  pv::begin_run("qkv-first", 3, argv1);
  H5Out first(":memory:", "a");
  first.write("x", Tensor::from<float>({1}, {1}));
  std::vector<uint8_t> img1 = first.image();

  char b0[] = "qkv-second";
  char* argv2[] = {b0};
  pv::begin_run("qkv-second", 1, argv2);
  H5In in1(img1, "first.h5");  // notes itself as an input
  pv::note_input("corpus.txt", "abc123");
  H5Out second(":memory:", "b");
  second.write("y", Tensor::from<float>({2}, {1}));
  H5In in2(second.image(), "second.h5");
  const auto& chain = in2.provenance();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].tool, "qkv-first");
  EXPECT_EQ(chain[0].command_line, "qkv-first --flag 'it'\\''s'");
  EXPECT_EQ(chain[1].tool, "qkv-second");
  EXPECT_EQ(chain[1].inputs, (std::vector<std::string>{"first.h5", "corpus.txt"}));
  EXPECT_EQ(chain[1].input_sha256[0], io::sha256_hex(img1.data(), img1.size()));
  EXPECT_EQ(chain[1].input_sha256[1], "abc123");
  EXPECT_EQ(chain[1].time_utc.size(), 20u);  // 2026-11-20T21:57:38Z
}

TEST_F(H5Test, CommitIsAtomicAndUncommittedOutputLeavesNothing) {
  {
    H5Out out(dir.file("never.h5"), "sample");
    out.write("x", Tensor::from<float>({1}, {1}));
  }  // destroyed without commit
  EXPECT_TRUE(dir.entries().empty());
  {
    H5Out out(dir.file("ok.h5"), "sample");
    out.write("x", Tensor::from<float>({1}, {1}));
    out.commit();
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ok.h5"}));
  H5In back(dir.file("ok.h5"));
  EXPECT_EQ(back.read("x", DType::f32).data<float>()[0], 1.0f);
  // A folder that does not exist: clear error naming the path, nothing left behind.
  H5Out bad(dir.file("missing/dir/out.h5"), "sample");
  try {
    bad.commit();
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing/dir/out.h5: cannot create"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ok.h5"}));
}

TEST_F(H5Test, BinaryIsNeverWrittenToATerminal) {
  int master, slave;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  int saved = dup(STDOUT_FILENO);
  std::fflush(stdout);
  dup2(slave, STDOUT_FILENO);
  bool refused = false;
  std::string what;
  try {
    H5Out out("-", "sample");
  } catch (const UsageError& e) {
    refused = true;
    what = e.what();
  }
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(slave);
  close(master);
  EXPECT_TRUE(refused);
  EXPECT_NE(what.find("refusing to write binary HDF5 to a terminal"), std::string::npos);
}

TEST_F(H5Test, ReadsFilesWrittenByH5py) {
  // Committed sample made by scripts/ref/make_h5py_sample.py (h5py 3.7).
  H5In in(test::source_path("tests/data/h5py_sample.h5"));
  EXPECT_EQ(in.kind(), "");
  Tensor a = in.read("float64_matrix", DType::f32, 2);
  EXPECT_EQ(a.shape(), (Shape{3, 4}));
  EXPECT_FLOAT_EQ(a.data<float>()[11], 11.0f / 8);
  Tensor i = in.read("int16_vector", DType::i32, 1);
  EXPECT_EQ(i.data<int32_t>()[2], -300);
  EXPECT_EQ(in.read_strings("strings"), (std::vector<std::string>{"alpha", "βeta", ""}));
  EXPECT_EQ(in.read_strings("fixed_strings"), (std::vector<std::string>{"ab", "c"}));
  Tensor c = in.read("group/compressed", DType::f32, 1);
  EXPECT_EQ(c.numel(), 1000);
  EXPECT_FLOAT_EQ(c.data<float>()[999], 999.0f);
  EXPECT_EQ(in.attr_string("/", "title"), "made by h5py");
  EXPECT_EQ(in.attr_int("group", "answer"), 42);
}

TEST_F(H5Test, WholeFilesTravelThroughPipesAsFileImages) {
  // Write to stdout (a pipe), read the pipe back through stdin: the same bytes
  // and content as a file written to disk.
  int to_reader[2];
  ASSERT_EQ(pipe(to_reader), 0);
  int saved_out = dup(STDOUT_FILENO), saved_in = dup(STDIN_FILENO);
  std::fflush(stdout);
  dup2(to_reader[1], STDOUT_FILENO);
  close(to_reader[1]);
  pv::set_enabled(false);
  {
    H5Out out("-", "sample");
    out.write("x", Tensor::from<float>({1.5f, 2.5f}, {2}));
    out.commit();
  }
  {
    H5Out out(dir.file("disk.h5"), "sample");
    out.write("x", Tensor::from<float>({1.5f, 2.5f}, {2}));
    out.commit();
  }
  dup2(saved_out, STDOUT_FILENO);  // closes the pipe's write end held by stdout
  close(saved_out);
  dup2(to_reader[0], STDIN_FILENO);
  close(to_reader[0]);
  std::vector<uint8_t> piped;
  {
    H5In in("-");
    EXPECT_EQ(in.path(), "stdin");
    EXPECT_EQ(in.read("x", DType::f32).data<float>()[1], 2.5f);
    EXPECT_EQ(in.sha256(), io::sha256_file(dir.file("disk.h5")));
  }
  dup2(saved_in, STDIN_FILENO);
  close(saved_in);
}

TEST_F(H5Test, OutputsIntoFifosAndDevicesAreWrittenNotReplaced) {
  // -o /dev/null or a named pipe must stay what it is (a rename would replace
  // it with a regular file). Tested on a FIFO of our own, never on /dev/null.
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = test::read_file(fifo); });
  io::write_atomically(fifo, "hello", 5);
  reader.join();
  EXPECT_EQ(received, "hello");
  struct stat st;
  ASSERT_EQ(stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"fifo"}));
  EXPECT_THROW(io::write_atomically(dir.path(), "x", 1), UsageError);
}
