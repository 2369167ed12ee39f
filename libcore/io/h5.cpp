#include "io/h5.h"

#include <H5LTpublic.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <limits>

#include "core/error.h"
#include "core/memory.h"
#include "io/file_io.h"
#include "io/h5_global_heap.h"
#include "io/h5_probe.h"
#include "io/sha256.h"

namespace qkv::io {

using detail::Hid;

void silence_hdf5() {
  static bool done = [] {
    // No H5_term_library at exit: after a failed H5Fclose (a full disk) it
    // crashed the process (SIGSEGV) on its way out. qkv closes every file it
    // opens itself, so there is nothing left for it to do.
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {
// Silence HDF5 as soon as libcore loads, before any tool touches a file.
const bool g_silenced = [] { silence_hdf5(); return true; }();

herr_t collect_error(unsigned, const H5E_error2_t* e, void* data) {
  auto* msgs = static_cast<std::vector<std::string>*>(data);
  if (e->desc && *e->desc) msgs->emplace_back(e->desc);
  return 0;
}

// "a/b/c" -> {"a", "b", "c"}; leading and repeated slashes ignored.
std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : p) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// "a/b/c" -> {"/a/b", "c"}; throws on an empty name.
std::pair<std::string, std::string> parent_and_leaf(const std::string& name) {
  auto parts = split_path(name);
  if (parts.empty()) throw UsageError("empty dataset name");
  std::string parent;
  for (size_t i = 0; i + 1 < parts.size(); ++i) parent += "/" + parts[i];
  return {parent, parts.back()};
}

std::string norm(const std::string& name) {
  std::string out;
  for (auto& p : split_path(name)) out += "/" + p;
  return out.empty() ? "/" : out;
}

hid_t file_type_of(DType dt) {
  switch (dt) {
    case DType::f32: return H5T_IEEE_F32LE;
    case DType::i32: return H5T_STD_I32LE;
    case DType::i64: return H5T_STD_I64LE;
    case DType::u8: return H5T_STD_U8LE;
  }
  return H5T_IEEE_F32LE;
}

hid_t mem_type_of(DType dt) {
  switch (dt) {
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::i32: return H5T_NATIVE_INT32;
    case DType::i64: return H5T_NATIVE_INT64;
    case DType::u8: return H5T_NATIVE_UINT8;
  }
  return H5T_NATIVE_FLOAT;
}

uint64_t physical_ram() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return uint64_t{8} << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

bool has_hdf5_signature(const std::vector<uint8_t>& b) {
  static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (size_t off = 0; off + 8 <= b.size(); off = off ? off * 2 : 512)
    if (std::memcmp(b.data() + off, sig, 8) == 0) return true;
  return false;
}

// Opens group name in file, creating missing groups; caller closes. path: for messages.
hid_t open_or_create_group(hid_t file, const std::string& name, const std::string& path) {
  hid_t cur = H5Gopen2(file, "/", H5P_DEFAULT);
  for (const auto& part : split_path(name)) {
    hid_t next;
    if (H5Lexists(cur, part.c_str(), H5P_DEFAULT) > 0) {
      next = H5Gopen2(cur, part.c_str(), H5P_DEFAULT);
    } else {
      Hid gcpl(detail::object_create_plist(H5P_GROUP_CREATE));
      next = H5Gcreate2(cur, part.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT);
    }
    H5Gclose(cur);
    if (next < 0) throw DataError(path + ": cannot create group " + norm(name) + ": " + h5_error_text());
    cur = next;
  }
  return cur;
}

void set_attr_in(hid_t file, const std::string& object, const std::string& name, const AttrValue& value,
                 const std::string& path) {
  std::string obj = norm(object);
  Hid o;
  if (obj == "/" || H5Lexists(file, obj.c_str(), H5P_DEFAULT) > 0)
    o = Hid(H5Oopen(file, obj.c_str(), H5P_DEFAULT));
  else
    o = Hid(open_or_create_group(file, obj, path));
  if (!o.valid()) throw DataError(path + ": cannot open " + obj + " for attribute " + name);
  detail::write_attr(o.get(), name, value);
}

// The bodies of H5Out::write/write_strings, shared with H5StreamOut.
void write_tensor_in(hid_t file, const std::string& name, const Tensor& t, int compress, const std::string& path) {
  auto [parent, leaf] = parent_and_leaf(name);
  Hid group(open_or_create_group(file, parent, path));
  if (H5Lexists(group.get(), leaf.c_str(), H5P_DEFAULT) > 0)
    throw DataError(path + ": " + norm(name) + " written twice");
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  Hid space(t.ndim() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t.ndim(), dims.data(), nullptr));
  Hid dcpl(detail::object_create_plist(H5P_DATASET_CREATE));
  if (compress > 0 && t.numel() > 0 && t.ndim() > 0) {
    // Chunks of whole rows of about 1 MiB.
    std::vector<hsize_t> chunk = dims;
    uint64_t row_bytes = dtype_size(t.dtype());
    for (int i = 1; i < t.ndim(); ++i) row_bytes *= dims[i];
    chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], (1u << 20) / std::max<uint64_t>(1, row_bytes)));
    H5Pset_chunk(dcpl.get(), t.ndim(), chunk.data());
    H5Pset_shuffle(dcpl.get());
    H5Pset_deflate(dcpl.get(), static_cast<unsigned>(std::min(compress, 9)));
  }
  Hid d(H5Dcreate2(group.get(), leaf.c_str(), file_type_of(t.dtype()), space.get(), H5P_DEFAULT, dcpl.get(),
                   H5P_DEFAULT));
  if (!d.valid()) throw DataError(path + ": cannot create dataset " + norm(name) + ": " + h5_error_text());
  if (t.numel() > 0 && H5Dwrite(d.get(), mem_type_of(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()) < 0)
    throw DataError(path + ": cannot write dataset " + norm(name) + ": " + h5_error_text());
}

void write_strings_in(hid_t file, const std::string& name, const std::vector<std::string>& values,
                      const std::string& path) {
  auto [parent, leaf] = parent_and_leaf(name);
  Hid group(open_or_create_group(file, parent, path));
  hsize_t n = values.size();
  Hid space(H5Screate_simple(1, &n, nullptr));
  Hid type(detail::utf8_vlen_string_type());
  Hid dcpl(detail::object_create_plist(H5P_DATASET_CREATE));
  Hid d(H5Dcreate2(group.get(), leaf.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!d.valid()) throw DataError(path + ": cannot create dataset " + norm(name) + ": " + h5_error_text());
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (auto& s : values) ptrs.push_back(s.c_str());
  if (n && H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    throw DataError(path + ": cannot write dataset " + norm(name) + ": " + h5_error_text());
}

std::atomic<uint64_t> g_out_counter{0};

}  // namespace

std::string h5_error_text() {
  std::vector<std::string> msgs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &msgs);
  H5Eclear2(H5E_DEFAULT);
  if (msgs.empty()) return "";
  if (msgs.size() == 1) return msgs[0];
  return msgs.front() + ": " + msgs.back();
}

// ---------------------------------------------------------------------------
// H5Out

H5Out::H5Out(std::string path, const std::string& kind, int64_t kind_version) : path_(std::move(path)) {
  silence_hdf5();
  refuse_binary_to_terminal(path_);
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/0);
  Hid fcpl(detail::object_create_plist(H5P_FILE_CREATE));
  std::string mem_name = "qkv-out-" + std::to_string(getpid()) + "-" + std::to_string(g_out_counter++);
  file_ = H5Fcreate(mem_name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (file_ < 0) throw DataError(path_ + ": cannot create HDF5 image in memory: " + h5_error_text());
  set_attr("/", "qkv_format", kind);
  set_attr("/", "qkv_format_version", kind_version);
}

H5Out::~H5Out() {
  if (file_ >= 0) H5Fclose(file_);
}

hid_t H5Out::ensure_group(const std::string& name) { return open_or_create_group(file_, name, path_); }

void H5Out::create_group(const std::string& name) { H5Gclose(ensure_group(name)); }

void H5Out::write(const std::string& name, const Tensor& t, int compress) {
  write_tensor_in(file_, name, t, compress, path_);
}

void H5Out::write_strings(const std::string& name, const std::vector<std::string>& values) {
  write_strings_in(file_, name, values, path_);
}

void H5Out::set_attr(const std::string& object, const std::string& name, const AttrValue& value) {
  set_attr_in(file_, object, name, value, path_);
}

std::vector<uint8_t> H5Out::image() {
  if (!committed_) {
    if (provenance::enabled()) provenance::write(file_, provenance::for_output());
    committed_ = true;
  }
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0) throw DataError(path_ + ": flush failed: " + h5_error_text());
  ssize_t n = H5Fget_file_image(file_, nullptr, 0);
  if (n < 0) throw DataError(path_ + ": cannot get file image: " + h5_error_text());
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(n));
  advise_huge_pages(bytes.data(), bytes.capacity());  // big images: 2 MiB page faults, not 4 KiB
  bytes.resize(static_cast<size_t>(n));
  if (H5Fget_file_image(file_, bytes.data(), bytes.size()) < 0)
    throw DataError(path_ + ": cannot get file image: " + h5_error_text());
  return bytes;
}

void H5Out::commit() {
  std::vector<uint8_t> bytes = image();
  write_atomically(path_, bytes);
}

// ---------------------------------------------------------------------------
// H5StreamOut

struct H5StreamOut::Column {
  std::string name;
  DType dtype;
  std::vector<hsize_t> row_dims;  // dims after the first; empty for a 1-D column
  size_t row_bytes;               // bytes of one row (one element of a column)
  size_t chunk_rows;
  int compress = 0;
  std::vector<uint8_t> buf;  // rows not yet on disk (less than one chunk after append)
  uint64_t on_disk = 0;      // rows written to the dataset
  Hid dset;                  // created when the first chunk fills
};

H5StreamOut::H5StreamOut(std::string path, const std::string& kind, int64_t kind_version) : path_(std::move(path)) {
  silence_hdf5();
  refuse_binary_to_terminal(path_);
  struct stat st;
  if (path_ != "-" && stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) throw UsageError(path_ + ": is a directory, expected a file name");
    copy_out_ = true;  // a device or FIFO: built aside, written into it at commit (never renamed over it)
  }
  copy_out_ = copy_out_ || path_ == "-";
  std::string target = path_;
  if (copy_out_) {
    const char* dir = std::getenv("TMPDIR");
    target = std::string(dir && *dir ? dir : "/tmp") + "/qkv-stream";
  }
  ::close(create_temp_beside(target, &tmp_path_));
  try {
    guard_ = std::make_unique<TempFileGuard>(tmp_path_);
    Hid fcpl(detail::object_create_plist(H5P_FILE_CREATE));
    // HDF5 creates the file anew (O_EXCL) on the name mkstemp reserved: its
    // O_TRUNC open of the existing empty file would make ext4 (auto_da_alloc)
    // flush all the data written since, synchronously at close: 0.12 s per
    // 450 MB of output measured (bench/patchify_bench.cpp).
    unlink(tmp_path_.c_str());
    file_ = H5Fcreate(tmp_path_.c_str(), H5F_ACC_EXCL, fcpl.get(), H5P_DEFAULT);
    if (file_ < 0) throw DataError(path_ + ": cannot create HDF5 file " + tmp_path_ + ": " + h5_error_text());
    set_attr("/", "qkv_format", kind);
    set_attr("/", "qkv_format_version", kind_version);
  } catch (...) {
    unlink(tmp_path_.c_str());
    throw;
  }
}

H5StreamOut::~H5StreamOut() {
  columns_.clear();
  if (file_ >= 0) H5Fclose(file_);
  if (!committed_) unlink(tmp_path_.c_str());
}

int H5StreamOut::add_column(const std::string& name, DType dtype, size_t chunk_elems) {
  return add_array(name, dtype, {}, chunk_elems);
}

int H5StreamOut::add_array(const std::string& name, DType dtype, const Shape& row_shape, size_t chunk_rows,
                           int compress) {
  auto c = std::make_unique<Column>();
  c->name = norm(name);
  c->dtype = dtype;
  c->row_bytes = dtype_size(dtype);
  for (int64_t d : row_shape) {
    QKV_CHECK(d > 0, "add_array: row dimensions must be positive");
    c->row_dims.push_back(static_cast<hsize_t>(d));
    c->row_bytes *= static_cast<size_t>(d);
  }
  c->chunk_rows = std::max<size_t>(1, chunk_rows);
  c->compress = std::min(std::max(compress, 0), 9);
  columns_.push_back(std::move(c));
  return static_cast<int>(columns_.size()) - 1;
}

int64_t H5StreamOut::column_size(int column) const {
  const Column& c = *columns_.at(static_cast<size_t>(column));
  return static_cast<int64_t>(c.on_disk + c.buf.size() / c.row_bytes);
}

namespace {
// dims of n rows of column c: {n, row dims...}
std::vector<hsize_t> rows_dims(hsize_t n, const std::vector<hsize_t>& row_dims) {
  std::vector<hsize_t> d{n};
  d.insert(d.end(), row_dims.begin(), row_dims.end());
  return d;
}
}  // namespace

// Rows go to disk in whole chunks: buffered rows first complete the pending
// chunk; further whole chunks are written straight from data (no copy); the
// remainder waits in the buffer.
void H5StreamOut::append(int column, const void* data, size_t n) {
  Column& c = *columns_.at(static_cast<size_t>(column));
  const size_t chunk_bytes = c.chunk_rows * c.row_bytes;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t bytes = n * c.row_bytes;
  if (!c.buf.empty()) {
    size_t take = std::min(bytes, chunk_bytes - c.buf.size());
    c.buf.insert(c.buf.end(), p, p + take);
    p += take;
    bytes -= take;
    if (c.buf.size() == chunk_bytes) flush_column(c, false);
  }
  if (bytes >= chunk_bytes) {
    size_t whole = bytes / chunk_bytes * chunk_bytes;
    write_rows(c, p, whole / c.row_bytes);
    p += whole;
    bytes -= whole;
  }
  if (bytes) c.buf.insert(c.buf.end(), p, p + bytes);
}

// Creates the dataset: chunked and growing, or (final, never a whole chunk)
// contiguous of its exact size.
void H5StreamOut::create_dataset(Column& c, bool final) {
  auto [parent, leaf] = parent_and_leaf(c.name);
  Hid group(open_or_create_group(file_, parent, path_));
  Hid dcpl(detail::object_create_plist(H5P_DATASET_CREATE));
  Hid dapl(H5Pcreate(H5P_DATASET_ACCESS));
  Hid space;
  const hsize_t n = c.buf.size() / c.row_bytes;
  if (final) {
    std::vector<hsize_t> dims = rows_dims(n, c.row_dims);
    space = Hid(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  } else {
    std::vector<hsize_t> dims = rows_dims(0, c.row_dims), maxdims = dims, chunk = rows_dims(c.chunk_rows, c.row_dims);
    maxdims[0] = H5S_UNLIMITED;
    space = Hid(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()));
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (c.compress > 0) {
      H5Pset_shuffle(dcpl.get());
      H5Pset_deflate(dcpl.get(), static_cast<unsigned>(c.compress));
    }
    // Only whole chunks are ever written: no chunk cache, each goes straight to the file.
    H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0);
  }
  c.dset = Hid(H5Dcreate2(group.get(), leaf.c_str(), file_type_of(c.dtype), space.get(), H5P_DEFAULT, dcpl.get(),
                          dapl.get()));
  if (!c.dset.valid()) throw DataError(path_ + ": cannot create dataset " + c.name + ": " + h5_error_text());
}

void H5StreamOut::write_rows(Column& c, const void* data, size_t n) {
  if (!c.dset.valid()) create_dataset(c, false);
  if (n == 0) return;
  std::vector<hsize_t> start = rows_dims(c.on_disk, c.row_dims), count = rows_dims(n, c.row_dims),
                       total = rows_dims(c.on_disk + n, c.row_dims);
  std::fill(start.begin() + 1, start.end(), 0);
  if (H5Dset_extent(c.dset.get(), total.data()) < 0)
    throw DataError(path_ + ": cannot grow dataset " + c.name + ": " + h5_error_text());
  Hid fspace(H5Dget_space(c.dset.get()));
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Hid mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  if (H5Dwrite(c.dset.get(), mem_type_of(c.dtype), mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0)
    throw DataError(path_ + ": cannot write dataset " + c.name + ": " + h5_error_text());
  c.on_disk += n;
}

// Writes the buffered rows: the first full chunk creates a chunked, growing
// dataset; a column that never filled a chunk becomes a contiguous dataset of
// its exact size at commit.
void H5StreamOut::flush_column(Column& c, bool final) {
  const hsize_t n = c.buf.size() / c.row_bytes;
  if (!c.dset.valid() && final) {
    create_dataset(c, true);
    if (n > 0 && H5Dwrite(c.dset.get(), mem_type_of(c.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, c.buf.data()) < 0)
      throw DataError(path_ + ": cannot write dataset " + c.name + ": " + h5_error_text());
    c.on_disk = n;
  } else {
    write_rows(c, c.buf.data(), n);
  }
  c.buf.clear();
}

void H5StreamOut::write(const std::string& name, const Tensor& t, int compress) {
  write_tensor_in(file_, name, t, compress, path_);
}

void H5StreamOut::write_strings(const std::string& name, const std::vector<std::string>& values) {
  write_strings_in(file_, name, values, path_);
}

void H5StreamOut::set_attr(const std::string& object, const std::string& name, const AttrValue& value) {
  set_attr_in(file_, object, name, value, path_);
}

void H5StreamOut::commit() {
  if (committed_) throw DataError(path_ + ": committed twice");
  for (auto& c : columns_) flush_column(*c, true);
  columns_.clear();  // closes the datasets
  if (provenance::enabled()) provenance::write(file_, provenance::for_output());
  herr_t rc = H5Fclose(file_);
  file_ = -1;
  if (rc < 0) throw DataError(path_ + ": cannot finish HDF5 file: " + h5_error_text());
  if (path_ != "-" && copy_out_) {  // a device or FIFO: one open, one write
    write_atomically(path_, read_all(tmp_path_));
    return;  // the destructor removes the temporary file
  }
  int fd = ::open(tmp_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(path_ + ": cannot reopen " + tmp_path_ + ": " + std::strerror(errno));
  if (path_ == "-") {
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int e = errno;
        ::close(fd);
        throw DataError(tmp_path_ + ": read failed: " + std::strerror(e));
      }
      if (r == 0) break;
      try {
        write_atomically("-", buf.data(), static_cast<size_t>(r));
      } catch (...) {
        ::close(fd);
        throw;
      }
    }
    ::close(fd);
    return;  // the destructor removes the temporary file
  }
  if (durable_ && fsync(fd) != 0 && errno != EINVAL) {
    int e = errno;
    ::close(fd);
    throw DataError(path_ + ": fsync failed: " + std::strerror(e));
  }
  ::close(fd);
  chmod(tmp_path_.c_str(), 0644 & ~[] { mode_t m = umask(0); umask(m); return m; }());
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw DataError(path_ + ": cannot rename into place: " + std::strerror(errno));
  committed_ = true;
}

// ---------------------------------------------------------------------------
// H5In

H5In::H5In(std::string path) : path_(std::move(path)) {
  // Read whole: the same path for files and pipes, and the size every
  // allocation is checked against.
  bytes_ = read_all(path_);
  if (path_ == "-") path_ = "stdin";
  open();
}

H5In::H5In(std::vector<uint8_t> bytes, std::string name) : path_(std::move(name)), bytes_(std::move(bytes)) {
  open();
}

void H5In::open() {
  silence_hdf5();
  if (bytes_.empty()) throw DataError(path_ + ": empty file, expected HDF5");
  if (!has_hdf5_signature(bytes_)) throw DataError(path_ + ": not an HDF5 file");
  sha256_ = sha256_hex(bytes_.data(), bytes_.size());
  // Global heap objects larger than their collection: libhdf5 copies past it.
  HeapProblem heap = global_heap_problem(bytes_.data(), bytes_.size());
  if (heap.truncated) throw DataError(path_ + ": corrupt or truncated HDF5 file (" + heap.what + ")");
  if (!heap.what.empty()) throw DataError(path_ + ": corrupt HDF5 file: " + heap.what);
  // libhdf5's crashes and hangs happen in a child, not here; its strings and attributes come from there.
  std::optional<detail::ProbedFile> probed = probe_hdf5_image(bytes_, path_);
  file_ = H5LTopen_file_image(bytes_.data(), bytes_.size(),
                              H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
  if (file_ < 0) {
    std::string why = h5_error_text();
    throw DataError(path_ + ": corrupt or truncated HDF5 file" + (why.empty() ? "" : " (" + why + ")"));
  }
  if (probed) probed_ = std::make_unique<detail::ProbedRegistration>(file_, std::move(*probed));
  try {
    provenance_ = provenance::read(file_);
  } catch (const DataError& e) {
    throw DataError(path_ + ": bad /provenance: " + e.what());
  }
  provenance::note_input(path_, sha256_, provenance_);
}

H5In::~H5In() {
  probed_.reset();  // before its file id can be reused
  if (file_ >= 0) H5Fclose(file_);
}

std::string H5In::kind() const {
  Hid root(H5Oopen(file_, "/", H5P_DEFAULT));
  if (!detail::attr_exists(root.get(), "qkv_format", path_ + ": /")) return "";
  AttrValue v = detail::read_attr(root.get(), "qkv_format", path_ + ": /");
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  throw DataError(path_ + ": attribute qkv_format is not a string");
}

void H5In::expect_kind(const std::string& want) const {
  std::string k = kind();
  if (k.empty()) throw DataError(path_ + ": not a qkv file (no qkv_format attribute), expected a qkv '" + want + "' file");
  if (k != want) throw DataError(path_ + ": is a qkv '" + k + "' file, expected '" + want + "'");
}

bool H5In::has(const std::string& name) const {
  std::string cur;
  for (auto& p : split_path(name)) {
    cur += "/" + p;
    if (H5Lexists(file_, cur.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

std::vector<std::string> H5In::list(const std::string& group) const {
  Hid g(H5Gopen2(file_, norm(group).c_str(), H5P_DEFAULT));
  if (!g.valid()) throw DataError(path_ + ": no group " + norm(group));
  return detail::child_names(g.get());
}

Shape H5In::shape(const std::string& name) const {
  if (!has(name)) throw DataError(path_ + ": no dataset " + norm(name));
  Hid d(H5Dopen2(file_, norm(name).c_str(), H5P_DEFAULT));
  if (!d.valid()) throw DataError(path_ + ": " + norm(name) + " is not a dataset");
  Hid space(H5Dget_space(d.get()));
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw DataError(path_ + ": " + norm(name) + ": unreadable dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  Shape s;
  for (hsize_t v : dims) {
    if (v > static_cast<hsize_t>(std::numeric_limits<int64_t>::max() / 2))
      throw DataError(path_ + ": " + norm(name) + ": absurd dimension " + std::to_string(v));
    s.push_back(static_cast<int64_t>(v));
  }
  return s;
}

uint64_t H5In::max_decoded_bytes(hid_t dset, const std::string& name) const {
  Hid dcpl(H5Dget_create_plist(dset));
  int nfilters = dcpl.valid() ? H5Pget_nfilters(dcpl.get()) : 0;
  uint64_t file_bytes = bytes_.size();
  if (nfilters <= 0) return file_bytes;
  // Compressed chunks: deflate tops out near 1032:1; allow a little more,
  // and never more than half the machine's memory.
  hsize_t stored = H5Dget_storage_size(dset);
  (void)name;
  return std::min<uint64_t>(std::min<uint64_t>(stored, file_bytes) * 1100 + 4096, physical_ram() / 2);
}

std::string H5In::stored_type(const std::string& name) const {
  shape(name);  // exists and is a dataset
  Hid d(H5Dopen2(file_, norm(name).c_str(), H5P_DEFAULT));
  Hid t(H5Dget_type(d.get()));
  return detail::type_name(t.get());
}

Tensor H5In::read(const std::string& name, DType dtype, int ndim) const {
  Shape s = shape(name);
  return read_rows(name, dtype, 0, s.empty() ? 0 : s[0], ndim);
}

Tensor H5In::read_rows(const std::string& name, DType dtype, int64_t begin, int64_t end, int ndim) const {
  std::string where = path_ + ": dataset " + norm(name);
  Shape s = shape(name);
  if (ndim >= 0 && static_cast<int>(s.size()) != ndim)
    throw DataError(where + ": expected " + std::to_string(ndim) + " dims, found shape " + shape_str(s));
  // A scalar dataset is read whole; otherwise rows [begin, end) of dimension 0.
  const bool whole = s.empty() || (begin == 0 && end == s[0]);
  if (!s.empty()) {
    if (begin < 0 || begin > end || end > s[0])
      throw DataError(where + ": rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside its " +
                      std::to_string(s[0]));
    s[0] = end - begin;
  }
  Hid d(H5Dopen2(file_, norm(name).c_str(), H5P_DEFAULT));
  Hid ftype(H5Dget_type(d.get()));
  H5T_class_t cls = H5Tget_class(ftype.get());
  bool want_int = dtype != DType::f32;
  if ((want_int && cls != H5T_INTEGER) || (!want_int && cls != H5T_FLOAT && cls != H5T_INTEGER))
    throw DataError(where + ": expected " + dtype_name(dtype) + ", found " + detail::type_name(ftype.get()));
  if (std::string bad = detail::number_type_problem(ftype.get()); !bad.empty()) throw DataError(where + ": " + bad);
  // Size checks before allocating anything.
  uint64_t numel = 1;
  for (int64_t v : s) {
    if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(v))
      throw DataError(where + ": absurd shape " + shape_str(s));
    numel *= static_cast<uint64_t>(v);
  }
  uint64_t elem = H5Tget_size(ftype.get());
  uint64_t limit = max_decoded_bytes(d.get(), name);
  if (elem == 0 || numel > limit / elem)
    throw DataError(where + ": shape " + shape_str(s) + " needs " + std::to_string(numel) + " x " +
                    std::to_string(elem) + " bytes, more than the " + std::to_string(bytes_.size()) +
                    "-byte file can hold (corrupt header?)");
  Tensor t(s, dtype);
  if (numel == 0) return t;
  // The rows' selection in the file and a memory space of their shape.
  Hid fspace(H5Dget_space(d.get())), mspace;
  if (!whole) {
    std::vector<hsize_t> start(s.size(), 0), count(s.begin(), s.end());
    start[0] = static_cast<hsize_t>(begin);
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    mspace = Hid(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  }
  const hid_t ms = whole ? H5S_ALL : mspace.get(), fs = whole ? H5S_ALL : fspace.get();
  herr_t rc;
  bool narrow_int = want_int && (dtype_size(dtype) < elem || (H5Tget_sign(ftype.get()) == H5T_SGN_NONE) !=
                                                                 (dtype == DType::u8));
  if (!narrow_int) {
    rc = H5Dread(d.get(), mem_type_of(dtype), ms, fs, H5P_DEFAULT, t.raw());
  } else {
    // Read as int64 and check each value fits: never a silent wrap or clip.
    std::vector<int64_t> wide(numel);
    rc = H5Dread(d.get(), H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, wide.data());
    if (rc >= 0) {
      int64_t lo = dtype == DType::u8 ? 0 : dtype == DType::i32 ? INT32_MIN : INT64_MIN;
      int64_t hi = dtype == DType::u8 ? 255 : dtype == DType::i32 ? INT32_MAX : INT64_MAX;
      for (uint64_t i = 0; i < numel; ++i) {
        if (wide[i] < lo || wide[i] > hi)
          throw DataError(where + ": value " + std::to_string(wide[i]) + " at index " + std::to_string(i) +
                          " does not fit " + dtype_name(dtype));
      }
      for (uint64_t i = 0; i < numel; ++i) {
        switch (dtype) {
          case DType::u8: t.data<uint8_t>()[i] = static_cast<uint8_t>(wide[i]); break;
          case DType::i32: t.data<int32_t>()[i] = static_cast<int32_t>(wide[i]); break;
          case DType::i64: t.data<int64_t>()[i] = wide[i]; break;
          default: break;
        }
      }
    }
  }
  if (rc < 0) throw DataError(where + ": cannot read (" + h5_error_text() + ")");
  return t;
}

std::vector<std::string> H5In::read_strings(const std::string& name) const {
  std::string where = path_ + ": dataset " + norm(name);
  if (!has(name)) throw DataError(path_ + ": no dataset " + norm(name));
  Hid d(H5Dopen2(file_, norm(name).c_str(), H5P_DEFAULT));
  if (!d.valid()) throw DataError(where + ": not a dataset");
  Hid type(H5Dget_type(d.get()));
  if (H5Tget_class(type.get()) != H5T_STRING)
    throw DataError(where + ": expected strings, found " + detail::type_name(type.get()));
  Hid space(H5Dget_space(d.get()));
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  // Each string takes at least a few bytes in the file.
  if (n < 0 || static_cast<uint64_t>(n) > bytes_.size())
    throw DataError(where + ": " + std::to_string(n) + " strings cannot fit in the file (corrupt header?)");
  return detail::read_string_values(d.get(), type.get(), space.get(), false, where);
}

bool H5In::has_attr(const std::string& object, const std::string& name) const {
  if (norm(object) != "/" && !has(object)) return false;
  Hid o(H5Oopen(file_, norm(object).c_str(), H5P_DEFAULT));
  if (!o.valid()) throw DataError(path_ + ": " + norm(object) + ": cannot open (" + h5_error_text() + ")");
  return detail::attr_exists(o.get(), name, path_ + ": " + norm(object));
}

AttrValue H5In::attr(const std::string& object, const std::string& name) const {
  std::string where = path_ + ": " + norm(object);
  if (!has_attr(object, name)) throw DataError(where + ": missing attribute " + name);
  Hid o(H5Oopen(file_, norm(object).c_str(), H5P_DEFAULT));
  return detail::read_attr(o.get(), name, where);
}

namespace {
template <class T>
T attr_as(const H5In& in, const AttrValue& v, const std::string& object, const std::string& name, const char* want) {
  if (auto* p = std::get_if<T>(&v)) return *p;
  if constexpr (std::is_same_v<T, double>) {
    if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  }
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (auto* i = std::get_if<std::vector<int64_t>>(&v)) return T(i->begin(), i->end());
  }
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double> || std::is_same_v<T, std::string>) {
    using V = std::vector<T>;
    if (auto* vec = std::get_if<V>(&v); vec && vec->size() == 1) return (*vec)[0];
  }
  throw DataError(in.path() + ": " + object + " attribute " + name + ": expected " + want + ", found " +
                  attr_value_str(v));
}
}  // namespace

int64_t H5In::attr_int(const std::string& o, const std::string& n) const {
  return attr_as<int64_t>(*this, attr(o, n), o, n, "an integer");
}
double H5In::attr_double(const std::string& o, const std::string& n) const {
  return attr_as<double>(*this, attr(o, n), o, n, "a number");
}
std::string H5In::attr_string(const std::string& o, const std::string& n) const {
  return attr_as<std::string>(*this, attr(o, n), o, n, "a string");
}
std::vector<int64_t> H5In::attr_ints(const std::string& o, const std::string& n) const {
  AttrValue v = attr(o, n);
  if (auto* i = std::get_if<int64_t>(&v)) return {*i};
  return attr_as<std::vector<int64_t>>(*this, v, o, n, "integers");
}
std::vector<double> H5In::attr_doubles(const std::string& o, const std::string& n) const {
  AttrValue v = attr(o, n);
  if (auto* d = std::get_if<double>(&v)) return {*d};
  if (auto* i = std::get_if<int64_t>(&v)) return {static_cast<double>(*i)};
  return attr_as<std::vector<double>>(*this, v, o, n, "numbers");
}
std::vector<std::string> H5In::attr_strings(const std::string& o, const std::string& n) const {
  AttrValue v = attr(o, n);
  if (auto* s = std::get_if<std::string>(&v)) return {*s};
  return attr_as<std::vector<std::string>>(*this, v, o, n, "strings");
}

}  // namespace qkv::io
