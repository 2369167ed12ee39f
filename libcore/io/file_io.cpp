#include "io/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace qkv::io {
namespace {

// The temporary file being written, for the signal handler (async-signal-safe use only).
char g_tmp_path[4096];
std::atomic<bool> g_tmp_active{false};
std::atomic<bool> g_signal_cleanup{true};
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  if (g_tmp_active.load()) unlink(g_tmp_path);
  // Restore the previous disposition and re-raise, so the exit status tells the signal.
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  raise(sig);
}

void write_fd(int fd, const void* data, size_t n, const std::string& what) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw DataError(what + ": write failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

std::vector<uint8_t> read_all(const std::string& path, uint64_t max_bytes) {
  bool is_stdin = path == "-";
  std::string name = is_stdin ? "stdin" : path;
  if (is_stdin && isatty(STDIN_FILENO))
    throw UsageError("stdin is a terminal: give a file or pipe data in");
  int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(name + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> out;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!is_stdin) ::close(fd);
    throw DataError(name + ": is a directory");
  }
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      if (!is_stdin) ::close(fd);
      throw DataError(name + ": file too large (" + std::to_string(st.st_size) + " bytes)");
    }
    out.reserve(static_cast<size_t>(st.st_size));
  }
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (!is_stdin) ::close(fd);
      throw DataError(name + ": read failed: " + std::strerror(e));
    }
    if (r == 0) break;
    if (out.size() + static_cast<size_t>(r) > max_bytes) {
      if (!is_stdin) ::close(fd);
      throw DataError(name + ": input larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.insert(out.end(), buf, buf + r);
  }
  if (!is_stdin) ::close(fd);
  return out;
}

void refuse_binary_to_terminal(const std::string& path) {
  if (path == "-" && isatty(STDOUT_FILENO))
    throw UsageError("refusing to write binary HDF5 to a terminal: use -o FILE or a pipe");
}

void write_atomically(const std::string& path, const void* data, size_t n, bool durable) {
  if (path == "-") {
    refuse_binary_to_terminal(path);
    write_fd(STDOUT_FILENO, data, n, "stdout");
    return;
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) throw UsageError(path + ": is a directory, expected a file name");
    // A device or FIFO (-o /dev/null, a named pipe): write into it; renaming
    // over it would replace the device with a regular file.
    int dfd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (dfd < 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
    try {
      write_fd(dfd, data, n, path);
    } catch (...) {
      ::close(dfd);
      throw;
    }
    ::close(dfd);
    return;
  }
  std::string tmp;
  int fd = create_temp_beside(path, &tmp);
  const char* name = tmp.c_str();
  TempFileGuard guard(tmp);
  try {
    write_fd(fd, data, n, path);
    if (durable && fsync(fd) != 0 && errno != EINVAL) throw DataError(path + ": fsync failed: " + std::strerror(errno));
    fchmod(fd, 0644 & ~[] { mode_t m = umask(0); umask(m); return m; }());
    if (::close(fd) != 0) {
      fd = -1;
      throw DataError(path + ": close failed: " + std::strerror(errno));
    }
    fd = -1;
    if (std::rename(name, path.c_str()) != 0)
      throw DataError(path + ": cannot rename into place: " + std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    unlink(name);
    throw;
  }
}

namespace {

// "HOST-PID" of this process: the part of a temporary's name that tells whose it is.
std::string temp_owner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !*host) std::strcpy(host, "host");
  for (char* c = host; *c; ++c)
    if (*c == '.' || *c == '/') *c = '_';  // the short name; never a path separator
  return std::string(host) + "-" + std::to_string(getpid());
}

// Removes DIR/BASE.tmp.HOST-PID.XXXXXX of this host whose PID no longer runs.
void reap_dead_temps(const std::string& dir, const std::string& base, const std::string& host) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  const std::string prefix = base + ".tmp." + host + "-";
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(n.c_str() + prefix.size(), &end, 10);
    // PID, then '.' and mkstemp's six characters, nothing else.
    if (pid <= 0 || !end || *end != '.' || std::strlen(end) != 7) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    unlink((dir + "/" + n).c_str());
  }
  closedir(d);
}

}  // namespace

int create_temp_beside(const std::string& target, std::string* name) {
  size_t slash = target.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : target.substr(0, slash);
  std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  std::string owner = temp_owner();
  reap_dead_temps(dir, base, owner.substr(0, owner.rfind('-')));
  std::string tmpl = target + ".tmp." + owner + ".XXXXXX";
  if (tmpl.size() >= sizeof g_tmp_path) throw UsageError(target + ": path too long");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd < 0) throw DataError(target + ": cannot create: " + std::strerror(errno));
  *name = buf.data();
  return fd;
}

void check_writable(const std::string& path) {
  if (path.empty() || path == "-") return;
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw UsageError(path + ": is a directory, expected a file name");
    if (!S_ISREG(st.st_mode)) return;
  }
  std::string tmp;
  ::close(create_temp_beside(path, &tmp));
  unlink(tmp.c_str());
}

void set_signal_cleanup(bool on) { g_signal_cleanup.store(on); }

TempFileGuard::TempFileGuard(const std::string& path) : active_(g_signal_cleanup.load()) {
  if (path.size() >= sizeof g_tmp_path) throw UsageError(path + ": path too long");
  if (!active_) return;
  std::memcpy(g_tmp_path, path.c_str(), path.size() + 1);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  // A signal the program ignores (SIGINT in a shell's background job) stays ignored.
  if (g_old_int.sa_handler == SIG_IGN) sigaction(SIGINT, &g_old_int, nullptr);
  if (g_old_term.sa_handler == SIG_IGN) sigaction(SIGTERM, &g_old_term, nullptr);
  g_tmp_active = true;
}

TempFileGuard::~TempFileGuard() {
  if (!active_) return;
  g_tmp_active = false;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

void sync_filesystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
  int rc = syncfs(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) throw DataError(path + ": sync failed: " + std::strerror(e));
}

int64_t file_size(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return st.st_size;
}

}  // namespace qkv::io
