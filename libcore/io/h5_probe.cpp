#include "io/h5_probe.h"

#include <hdf5.h>
// after hdf5.h
#include <H5LTpublic.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <set>

#include "core/error.h"
#include "io/h5_attr.h"
#include "io/h5_probed.h"
#include "io/provenance.h"

#if defined(__SANITIZE_ADDRESS__)
#define QKV_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QKV_ASAN 1
#endif
#endif

namespace qkv::io {

using detail::Hid;

namespace {

// Data the child reads in full (beyond it: the first and last rows of each
// dataset, which walks its chunk index to both ends).
constexpr uint64_t kDataBudget = uint64_t{64} << 20;

struct Walk {
  uint64_t file_bytes = 0;
  uint64_t data_left = kDataBudget;
  bool out_of_memory = false;
};

// Set when a libhdf5 call failed to allocate. Checked from the automatic
// error callback, which runs as the failing API call returns (the next call
// clears the stack, so looking afterwards is too late).
bool g_failed_allocation = false;

herr_t note_failed_allocation(hid_t stack, void*) {
  H5Ewalk2(stack, H5E_WALK_DOWNWARD,
           [](unsigned, const H5E_error2_t* e, void*) -> herr_t {
             if (e->maj_num == H5E_RESOURCE) g_failed_allocation = true;
             return 0;
           },
           nullptr);
  return 0;
}

// Runs one step of the walk: ordinary failures are left to the real readers,
// a failed allocation is recorded.
template <class F>
void step(Walk& w, F&& f) {
  try {
    f();
  } catch (const std::bad_alloc&) {
    w.out_of_memory = true;
  } catch (...) {
  }
  if (g_failed_allocation) w.out_of_memory = true;
}

void read_dataset(Walk& w, hid_t d) {
  Hid type(H5Dget_type(d)), space(H5Dget_space(d)), dcpl(H5Dget_create_plist(d));
  if (!type.valid() || !space.valid()) return;
  if (dcpl.valid()) H5Pget_nfilters(dcpl.get());
  H5Dget_storage_size(d);
  H5Dget_offset(d);
  H5T_class_t cls = H5Tget_class(type.get());
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n <= 0) return;
  if (cls == H5T_STRING) {
    if (static_cast<uint64_t>(n) <= w.file_bytes)
      detail::read_string_values(d, type.get(), space.get(), false, "");
    return;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) return;
  if (!detail::number_type_problem(type.get()).empty()) return;  // every reader refuses it
  const uint64_t elem = 8;  // read as int64 or double
  const hid_t mem = cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
  if (static_cast<uint64_t>(n) <= w.data_left / elem) {
    w.data_left -= static_cast<uint64_t>(n) * elem;
    std::vector<uint8_t> buf(static_cast<size_t>(n) * elem);
    H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    return;
  }
  // Too big to read here: one row at each end of the first dimension.
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank <= 0) return;
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  uint64_t row = 1;
  for (int i = 1; i < rank; ++i) row *= dims[static_cast<size_t>(i)];
  if (row == 0 || row > w.data_left / elem / 2) return;
  std::vector<uint8_t> buf(static_cast<size_t>(row * elem));
  for (hsize_t r : {hsize_t{0}, dims[0] - 1}) {
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = r;
    count[0] = 1;
    Hid fs(H5Scopy(space.get())), ms(H5Screate_simple(rank, count.data(), nullptr));
    H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    H5Dread(d, mem, ms.get(), fs.get(), H5P_DEFAULT, buf.data());
  }
}

// Lists an object's attributes and reads each (recorded for the parent).
void walk_attrs(Walk& w, hid_t obj) {
  std::vector<std::string> names;
  step(w, [&] { names = detail::attr_names(obj, ""); });
  for (const std::string& name : names) step(w, [&] { detail::read_attr(obj, name, ""); });
}

// Every link of a group, depth first: each object's attributes, a dataset's
// data, a group's links. One object failing (a corrupt header) does not end
// the walk, as H5Ovisit's first error would: the readers open objects by
// path, so every path they can reach is walked. A group reached twice (hard
// links, a cycle in a corrupt file) is walked once.
void walk_group(Walk& w, hid_t group, int depth, std::set<haddr_t>& seen) {
  constexpr int kMaxDepth = 32;  // qkv's files are 3 deep
  if (depth > kMaxDepth) return;
  for (const std::string& name : detail::child_names(group)) {
    step(w, [&] {
      H5O_info_t info;
      if (H5Oget_info_by_name2(group, name.c_str(), &info, H5O_INFO_ALL, H5P_DEFAULT) < 0) return;  // ALL: as qkv-inspect asks
      Hid obj(H5Oopen(group, name.c_str(), H5P_DEFAULT));
      if (!obj.valid()) return;
      walk_attrs(w, obj.get());
      if (info.type == H5O_TYPE_DATASET) step(w, [&] { read_dataset(w, obj.get()); });
      if (info.type == H5O_TYPE_GROUP && seen.insert(info.addr).second) walk_group(w, obj.get(), depth + 1, seen);
    });
  }
}

std::string signal_name(int sig) {
  const char* s = sigabbrev_np(sig);
  return s ? std::string("SIG") + s : "signal " + std::to_string(sig);
}

}  // namespace

bool walk_hdf5_image(const std::vector<uint8_t>& bytes) {
  Walk w;
  w.file_bytes = bytes.size();
  if (bytes.empty()) return true;
  g_failed_allocation = false;
  H5Eset_auto2(H5E_DEFAULT, note_failed_allocation, nullptr);
  struct Restore {
    ~Restore() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
  } restore;
  Hid file(H5LTopen_file_image(const_cast<uint8_t*>(bytes.data()), bytes.size(),
                               H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE));
  if (!file.valid()) return !g_failed_allocation;
  // What every reader does first, then everything else in the file.
  step(w, [&] {
    Hid root(H5Oopen(file.get(), "/", H5P_DEFAULT));
    if (root.valid() && detail::attr_exists(root.get(), "qkv_format", "")) detail::read_attr(root.get(), "qkv_format", "");
  });
  step(w, [&] { provenance::read(file.get()); });
  step(w, [&] {
    Hid root(H5Oopen(file.get(), "/", H5P_DEFAULT));
    if (!root.valid()) return;
    walk_attrs(w, root.get());
    H5O_info_t info;
    std::set<haddr_t> seen;
    if (H5Oget_info2(root.get(), &info, H5O_INFO_BASIC) >= 0) seen.insert(info.addr);
    walk_group(w, root.get(), 0, seen);
  });
  // qkv-inspect's own traversal: H5Ovisit asking every object's full info.
  step(w, [&] {
    H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_INC, [](hid_t, const char*, const H5O_info_t*, void*) -> herr_t { return 0; },
              nullptr, H5O_INFO_ALL);
  });
  file.reset();
  return !(w.out_of_memory || g_failed_allocation);
}

std::optional<detail::ProbedFile> probe_hdf5_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  // CPU seconds the child may take (its walk of a real file takes
  // milliseconds; counting CPU time, not wall time, keeps a busy machine from
  // failing a good file), and wall seconds for a child stuck without running.
  const rlim_t cpu_seconds = 2 + (bytes.size() >> 24);
  const unsigned wall_seconds = 60 + static_cast<unsigned>(bytes.size() >> 22);
  std::fflush(nullptr);  // nothing buffered is written twice
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;  // no pipe to spare: read as before
  pid_t pid = fork();
  if (pid < 0) {  // no child to spare: read as before
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) { dup2(null, 1); dup2(null, 2); }
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGALRM, SIGXCPU, SIGPIPE})
      signal(sig, SIG_DFL);
#ifndef QKV_ASAN
    // Memory a file of this size can justify reading: what is mapped already,
    // plus 1 GiB, plus 4 times the file.
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (rlim_t{1} << 30) +
                 4 * static_cast<rlim_t>(bytes.size());
    struct rlimit rl{cap, cap};
    if (pages > 0) setrlimit(RLIMIT_AS, &rl);
#endif
    struct rlimit cpu{cpu_seconds, cpu_seconds + 1};
    setrlimit(RLIMIT_CPU, &cpu);
    alarm(wall_seconds);
    bool ok = false;
    detail::ProbedFile report;
    detail::record_into(&report);
    try {
      ok = walk_hdf5_image(bytes);
    } catch (...) {
    }
    if (ok) {  // the strings and attributes it read, for the parent
      const std::string out = detail::serialize(report);
      for (size_t at = 0; at < out.size();) {
        ssize_t w = ::write(pipe_fds[1], out.data() + at, out.size() - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(4);
        at += static_cast<size_t>(w);
      }
    }
    _exit(ok ? 0 : 3);
  }
  ::close(pipe_fds[1]);
  // The child's report: bounded by the file's size (each string and value is
  // in the file once, a few are read under two names, and a number of one
  // byte is sent as eight).
  const uint64_t max_report = 16 * uint64_t{bytes.size()} + (uint64_t{1} << 20);
  std::string received;
  bool too_much = false;
  for (char buf[1 << 16];;) {
    ssize_t r = ::read(pipe_fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    received.append(buf, static_cast<size_t>(r));
    if (received.size() > max_report) {
      too_much = true;
      kill(pid, SIGKILL);
      break;
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  if (too_much)
    throw DataError(name + ": corrupt HDF5 file: its strings and attributes add up to more than a " +
                    std::to_string(bytes.size()) + "-byte file can hold");
  std::string why;
  if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
    why = "reading its metadata took over " + std::to_string(cpu_seconds) + " s of CPU (a loop in libhdf5)";
  else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    why = "reading its metadata did not finish in " + std::to_string(wall_seconds) + " s";
  else if (WIFSIGNALED(status))
    why = "reading its metadata crashed libhdf5 (" + signal_name(WTERMSIG(status)) + ")";
  else if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
    why = "its headers claim sizes that need more memory than a " + std::to_string(bytes.size()) +
          "-byte file can justify";
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    // Any other end is libhdf5 failing in a way the walk could not report: in
    // a sanitizer build, AddressSanitizer's exit after a memory error inside
    // libhdf5 (an overflow in H5HG_read that a release build reads past
    // silently); the parent must not repeat it.
    why = "reading its metadata failed inside libhdf5 (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
  if (!why.empty()) throw DataError(name + ": corrupt HDF5 file: " + why);
  detail::ProbedFile report;
  if (!detail::parse(received, report)) throw DataError(name + ": corrupt HDF5 file: its probe's report is malformed");
  return report;
}

}  // namespace qkv::io
