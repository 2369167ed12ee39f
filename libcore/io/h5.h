// HDF5 files in and out, the one way every qkv tool touches HDF5.
//
//   H5Out out(path, "tokens");            // "-" = stdout; nothing touches disk yet
//   out.write("ids", ids);                // int32 (N,)  (groups made as needed)
//   out.set_attr("/", "vocab_size", int64_t{8000});
//   out.commit();                         // + /provenance, atomically to disk or stdout
//
//   H5In in(path);                        // "-" = stdin, read whole as a file image
//   in.expect_kind("tokens");
//   Tensor ids = in.read("ids", DType::i32, 1);
//
// Every file gets root attributes qkv_format (its kind) and qkv_format_version.
// HDF5's own error printing is off; every failure is one DataError naming the
// file, the object and the problem. Sizes are checked against the file's size
// before anything is allocated, so a corrupt header cannot make a tool
// allocate gigabytes. Object timestamps are off, so with --no-provenance the
// bytes of an output depend only on its content.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "io/file_io.h"
#include "io/h5_attr.h"
#include "io/h5_probed.h"
#include "io/provenance.h"
#include "tensor/tensor.h"

namespace qkv::io {

class H5Out {
 public:
  // kind: the qkv_format attribute ("tokens", "model", ...).
  H5Out(std::string path, const std::string& kind, int64_t kind_version = 1);
  ~H5Out();  // without commit(): nothing is written anywhere
  H5Out(const H5Out&) = delete;
  H5Out& operator=(const H5Out&) = delete;

  const std::string& path() const { return path_; }

  // name: "ids" or "params/blocks.0.ln_1.weight"; missing groups are created.
  // compress: deflate level 1-9 on chunked storage (0 = contiguous, uncompressed).
  void write(const std::string& name, const Tensor& t, int compress = 0);
  void write_strings(const std::string& name, const std::vector<std::string>& values);
  void create_group(const std::string& name);

  // object: "/" for the root, else a group or dataset path (a missing group is created).
  void set_attr(const std::string& object, const std::string& name, const AttrValue& value);

  // Adds /provenance (unless disabled) and writes the file: to a temporary
  // name then renamed into place, or to stdout.
  void commit();

  // The finished file's bytes without writing them anywhere (for tests and for
  // tools that embed one file in another).
  std::vector<uint8_t> image();

 private:
  hid_t ensure_group(const std::string& name);
  std::string path_;
  hid_t file_ = -1;
  bool committed_ = false;
};

// H5StreamOut: like H5Out, for outputs too big to hold in memory (the token
// ids of a large corpus, the patches of a large image folder). Arrays grow
// along their first dimension by append() and go to disk one chunk at a time
// (whole chunks are written straight from the caller's memory, without a
// copy); an array that stays within one chunk is written contiguous at
// commit, exactly as H5Out would. Small fixed datasets are written with
// write()/write_strings(), as in H5Out. The file is built as PATH.tmp.XXXXXX
// and renamed into place by commit(); for "-" (or an existing device or FIFO
// such as /dev/null) it is built in $TMPDIR and copied out by commit().
// Without commit() it is removed (on SIGINT/SIGTERM too).
//
//   H5StreamOut out("tokens.h5", "tokens");
//   int ids = out.add_column("ids", DType::i32);
//   out.append(ids, chunk.data(), chunk.size());   // as often as needed
//   int px = out.add_array("patches", DType::u8, {L, D}, 64);  // (N, L, D), 64 rows a chunk
//   out.append(px, rows, n);                       // n rows of L*D values
//   out.set_attr("/", "vocab_size", int64_t{8000});
//   out.commit();
class H5StreamOut {
 public:
  H5StreamOut(std::string path, const std::string& kind, int64_t kind_version = 1);
  ~H5StreamOut();
  H5StreamOut(const H5StreamOut&) = delete;
  H5StreamOut& operator=(const H5StreamOut&) = delete;

  const std::string& path() const { return path_; }
  // A growing 1-D dataset; returns the handle for append().
  int add_column(const std::string& name, DType dtype, size_t chunk_elems = size_t{1} << 20);
  // A growing N-d dataset (rows, row_shape...): chunks of chunk_rows whole
  // rows; compress: deflate level 1-9 (with shuffle), 0 = none.
  int add_array(const std::string& name, DType dtype, const Shape& row_shape, size_t chunk_rows, int compress = 0);
  void append(int column, const void* data, size_t n);  // n rows (elements of a column)
  int64_t column_size(int column) const;                // rows so far
  void write(const std::string& name, const Tensor& t, int compress = 0);
  void write_strings(const std::string& name, const std::vector<std::string>& values);
  void set_attr(const std::string& object, const std::string& name, const AttrValue& value);
  // durable (the default): fsync before the rename, so after a crash the path
  // holds the old file or the whole new one. Off: still atomic for readers
  // (old or whole new file), but a power cut soon after may lose the new one.
  void set_durable(bool on) { durable_ = on; }
  void commit();

 private:
  struct Column;
  hid_t ensure_group(const std::string& name);
  void create_dataset(Column& c, bool final);
  void write_rows(Column& c, const void* data, size_t n);
  void flush_column(Column& c, bool final);
  std::string path_, tmp_path_;
  hid_t file_ = -1;
  bool committed_ = false, durable_ = true, copy_out_ = false;  // copy_out_: stdout or a device
  std::vector<std::unique_ptr<Column>> columns_;
  std::unique_ptr<TempFileGuard> guard_;
};

class H5In {
 public:
  explicit H5In(std::string path);  // throws DataError: missing, not HDF5, truncated...
  // From bytes already in memory; name is used in messages.
  H5In(std::vector<uint8_t> bytes, std::string name);
  ~H5In();
  H5In(const H5In&) = delete;
  H5In& operator=(const H5In&) = delete;

  const std::string& path() const { return path_; }
  const std::string& sha256() const { return sha256_; }
  size_t size_bytes() const { return bytes_.size(); }
  hid_t handle() const { return file_; }

  std::string kind() const;  // qkv_format, or "" for a non-qkv HDF5 file
  // Throws "FILE: is a qkv 'tokens' file, expected 'tokenizer'" (or "not a qkv file").
  void expect_kind(const std::string& kind) const;

  bool has(const std::string& name) const;  // dataset or group exists
  Shape shape(const std::string& name) const;
  // Reads a dataset as dtype (integers convert to integer dtypes with a range
  // check, floats to float32); ndim >= 0 also checks the rank.
  Tensor read(const std::string& name, DType dtype, int ndim = -1) const;
  // Rows [begin, end) of the dataset's first dimension, read as read() does:
  // a batch of a large file without holding the whole dataset in memory.
  Tensor read_rows(const std::string& name, DType dtype, int64_t begin, int64_t end, int ndim = -1) const;
  // The type a dataset is stored as: "uint8", "int32", "float32", "float64", "string", ...
  std::string stored_type(const std::string& name) const;
  std::vector<std::string> read_strings(const std::string& name) const;
  std::vector<std::string> list(const std::string& group) const;  // child names, sorted

  bool has_attr(const std::string& object, const std::string& name) const;
  AttrValue attr(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& object, const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& object, const std::string& name) const;

  const std::vector<ProvenanceRecord>& provenance() const { return provenance_; }

  // Bytes a dataset may decode to, checked before any allocation: its stored
  // size for raw storage, a bounded ratio of it for compressed chunks.
  uint64_t max_decoded_bytes(hid_t dset, const std::string& name) const;

 private:
  void open();
  std::string path_;
  std::vector<uint8_t> bytes_;
  std::string sha256_;
  hid_t file_ = -1;
  std::unique_ptr<detail::ProbedRegistration> probed_;  // its strings and attributes, read by the probe's child
  std::vector<ProvenanceRecord> provenance_;
};

// Text of the innermost HDF5 error on the current stack ("" when none); the
// stack is cleared. For turning an HDF5 failure into one clear line.
std::string h5_error_text();

// HDF5 error printing off for the process (idempotent; H5In/H5Out call it).
void silence_hdf5();

}  // namespace qkv::io
