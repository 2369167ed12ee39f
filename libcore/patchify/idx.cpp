#include "patchify/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/file_io.h"

namespace qkv::patchify {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Header: returns the byte count of the header and fills dims; checks the
// product against max_values (what the file can hold) with overflow care.
size_t parse_header(const uint8_t* p, size_t n, const std::string& name, std::vector<int64_t>& dims,
                    uint64_t& values) {
  if (n < 4) throw DataError(name + ": not an IDX file (shorter than its 4-byte magic)");
  if (p[0] != 0 || p[1] != 0)
    throw DataError(name + ": not an IDX file (magic starts with " + std::to_string(p[0]) + " " +
                    std::to_string(p[1]) + ", expected 0 0)");
  if (p[2] != 0x08)
    throw DataError(name + ": IDX value type 0x" + (p[2] < 16 ? "0" : "") +
                    [&] { char b[8]; std::snprintf(b, sizeof b, "%x", p[2]); return std::string(b); }() +
                    " is not supported (only 0x08, unsigned bytes, as in MNIST)");
  int ndim = p[3];
  if (ndim < 1 || ndim > 4) throw DataError(name + ": IDX header has " + std::to_string(ndim) + " dimensions (1-4 expected)");
  size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (n < header) throw DataError(name + ": truncated IDX header");
  dims.clear();
  values = 1;
  for (int i = 0; i < ndim; ++i) {
    const uint8_t* q = p + 4 + 4 * i;
    uint64_t d = (uint64_t{q[0]} << 24) | (uint64_t{q[1]} << 16) | (uint64_t{q[2]} << 8) | q[3];
    dims.push_back(static_cast<int64_t>(d));
    if (d == 0) values = 0;
    else if (values > (uint64_t{1} << 40) / d) values = uint64_t{1} << 41;  // absurd: caught by the size check
    else values *= d;
  }
  return header;
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

// gunzip with an output cap: stops once more than cap bytes have come out, so
// a header claiming less than the stream holds is caught without reading it all.
std::vector<uint8_t> gunzip_capped(const std::string& path, uint64_t cap, bool& more) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw DataError(path + ": cannot open: " + std::strerror(errno ? errno : ENOENT));
  gzbuffer(gz, 1 << 17);
  std::vector<uint8_t> out;
  more = false;
  uint8_t buf[1 << 16];
  for (;;) {
    int r = gzread(gz, buf, sizeof buf);
    if (r < 0) {
      int code = 0;
      std::string msg = gzerror(gz, &code);
      gzclose(gz);
      throw DataError(path + ": gzip error: " + msg);
    }
    if (r == 0) break;
    size_t take = static_cast<size_t>(r);
    if (out.size() + take > cap) {
      take = static_cast<size_t>(cap - out.size());
      more = true;
    }
    out.insert(out.end(), buf, buf + take);  // grows only with data actually decompressed
    if (more) break;
  }
  // gzread returns 0 at a truncated stream's end too; gzerror tells them apart.
  int code = 0;
  const char* msg = gzerror(gz, &code);
  std::string err = code != Z_OK && code != Z_STREAM_END ? msg : "";
  gzclose(gz);
  if (!err.empty() && !more) throw DataError(path + ": gzip error: " + err);
  return out;
}

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name) {
  IdxArray a;
  uint64_t values = 0;
  size_t header = parse_header(bytes.data(), bytes.size(), name, a.dims, values);
  uint64_t have = bytes.size() - header;
  if (values != have)
    throw DataError(name + ": IDX header says " + dims_str(a.dims) + " = " + std::to_string(values) +
                    " values, the file holds " + std::to_string(have));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

IdxArray read_idx(const std::string& path) {
  bool gz = ends_with(path, ".gz");
  if (!gz) {
    int64_t size = io::file_size(path);
    if (size < 0) {
      io::read_all(path, 0);  // throws the usual "cannot open" / "is a directory"
      throw DataError(path + ": not a regular file");
    }
    // The file's own size bounds the read, so the header cannot inflate it.
    return parse_idx(io::read_all(path, static_cast<uint64_t>(size)), path);
  }
  // Header first (at most 20 bytes), then exactly the announced values plus one
  // byte to detect a longer stream.
  bool more = false;
  std::vector<uint8_t> head = gunzip_capped(path, 20, more);
  IdxArray a;
  uint64_t values = 0;
  size_t header = parse_header(head.data(), head.size(), path, a.dims, values);
  if (values > (uint64_t{1} << 40))
    throw DataError(path + ": IDX header says " + dims_str(a.dims) + ": implausibly large");
  std::vector<uint8_t> all = gunzip_capped(path, header + values + 1, more);
  uint64_t have = all.size() - header;
  if (have != values)
    throw DataError(path + ": IDX header says " + dims_str(a.dims) + " = " + std::to_string(values) +
                    " values, the decompressed file holds " + (more ? "more" : std::to_string(have)));
  a.data.assign(all.begin() + static_cast<std::ptrdiff_t>(header), all.end());
  return a;
}

bool looks_like_idx(const std::string& path) {
  std::string p = path;
  if (ends_with(p, ".gz")) p.resize(p.size() - 3);
  size_t slash = p.find_last_of('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  for (const char* s : {"idx1-ubyte", "idx2-ubyte", "idx3-ubyte", "idx4-ubyte"})
    if (ends_with(base, s)) return true;
  return false;
}

std::string matching_idx_labels(const std::string& images_path) {
  size_t slash = images_path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : images_path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? images_path : images_path.substr(slash + 1);
  size_t at = base.find("images");
  if (at == std::string::npos) return "";
  base.replace(at, 6, "labels");
  at = base.find("idx3");
  if (at != std::string::npos) base.replace(at, 4, "idx1");
  std::string stem = ends_with(base, ".gz") ? base.substr(0, base.size() - 3) : base;
  for (const std::string& cand : {dir + base, dir + stem, dir + stem + ".gz"})
    if (io::file_size(cand) >= 0) return cand;
  return "";
}

}  // namespace qkv::patchify
