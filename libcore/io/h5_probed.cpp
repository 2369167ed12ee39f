#include "io/h5_probed.h"

#include <cstring>
#include <memory>
#include <mutex>

namespace qkv::io::detail {
namespace {

std::mutex g_mutex;
std::map<hid_t, std::unique_ptr<const ProbedFile>>& registry() {
  static std::map<hid_t, std::unique_ptr<const ProbedFile>> r;
  return r;
}
ProbedFile* g_recording = nullptr;

std::string name_of(hid_t id, ssize_t (*get)(hid_t, char*, size_t)) {
  ssize_t n = get(id, nullptr, 0);
  if (n <= 0) return "";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  get(id, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

// Little-endian-as-stored u64s and length-prefixed strings: the pipe joins
// two processes of one binary.
struct Writer {
  std::string out;
  void u64(uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& s) {
    u64(s.size());
    out += s;
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const std::string& s : v) str(s);
  }
  void lists(const std::map<std::string, std::vector<std::string>>& m) {
    u64(m.size());
    for (const auto& [key, values] : m) {
      str(key);
      strs(values);
    }
  }
  template <class T>
  void nums(const std::vector<T>& v) {
    u64(v.size());
    if (!v.empty()) out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));  // data() may be null
  }
};

struct Reader {
  const std::string& in;
  size_t at = 0;
  bool u64(uint64_t& v) {
    if (in.size() - at < 8) return false;
    std::memcpy(&v, in.data() + at, 8);
    at += 8;
    return true;
  }
  bool str(std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > in.size() - at) return false;
    s.assign(in, at, static_cast<size_t>(n));
    at += static_cast<size_t>(n);
    return true;
  }
  bool strs(std::vector<std::string>& v) {
    uint64_t n = 0;
    if (!u64(n) || n > (in.size() - at) / 8) return false;  // each at least its length
    v.resize(static_cast<size_t>(n));
    for (std::string& s : v)
      if (!str(s)) return false;
    return true;
  }
  bool lists(std::map<std::string, std::vector<std::string>>& m) {
    uint64_t n = 0;
    if (!u64(n)) return false;
    for (uint64_t k = 0; k < n; ++k) {  // each entry takes bytes: a false n runs out
      std::string key;
      if (!str(key) || !strs(m[key])) return false;
    }
    return true;
  }
  template <class T>
  bool nums(std::vector<T>& v) {
    uint64_t n = 0;
    if (!u64(n) || n > (in.size() - at) / sizeof(T)) return false;
    v.resize(static_cast<size_t>(n));
    if (!v.empty()) std::memcpy(v.data(), in.data() + at, v.size() * sizeof(T));  // an empty v's data() may be null
    at += v.size() * sizeof(T);
    return true;
  }
};

// AttrValue's alternatives in the order of its variant, then an error.
constexpr uint64_t kError = 6;

void put_attr(Writer& w, const ProbedAttr& a) {
  if (!a.ok) {
    w.u64(kError);
    w.str(a.error);
    return;
  }
  w.u64(a.value.index());
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) w.str(x);
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) w.strs(x);
        else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) w.nums(std::vector<T>{x});
        else w.nums(x);
      },
      a.value);
}

bool get_attr(Reader& r, ProbedAttr& a) {
  uint64_t tag = 0;
  if (!r.u64(tag)) return false;
  switch (tag) {
    case 0: case 1: {
      std::vector<int64_t> i;
      std::vector<double> d;
      if (tag == 0 ? !r.nums(i) || i.size() != 1 : !r.nums(d) || d.size() != 1) return false;
      a.value = tag == 0 ? AttrValue(i[0]) : AttrValue(d[0]);
      return true;
    }
    case 2: { std::string s; if (!r.str(s)) return false; a.value = std::move(s); return true; }
    case 3: { std::vector<int64_t> v; if (!r.nums(v)) return false; a.value = std::move(v); return true; }
    case 4: { std::vector<double> v; if (!r.nums(v)) return false; a.value = std::move(v); return true; }
    case 5: { std::vector<std::string> v; if (!r.strs(v)) return false; a.value = std::move(v); return true; }
    case kError: a.ok = false; return r.str(a.error);
    default: return false;
  }
}

}  // namespace

std::string object_key(hid_t obj) { return name_of(obj, H5Iget_name); }

std::string attr_key(hid_t obj, const std::string& name) { return object_key(obj) + "@" + name; }

ProbedRegistration::ProbedRegistration(hid_t file, ProbedFile table) : file_(file) {
  std::lock_guard<std::mutex> lock(g_mutex);
  registry()[file_] = std::make_unique<const ProbedFile>(std::move(table));
}

ProbedRegistration::~ProbedRegistration() {
  std::lock_guard<std::mutex> lock(g_mutex);
  registry().erase(file_);
}

const ProbedFile* probed(hid_t obj) {
  hid_t file = H5Iget_file_id(obj);  // the id its H5In holds, one reference more
  if (file < 0) return nullptr;
  const ProbedFile* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = registry().find(file);
    if (it != registry().end()) t = it->second.get();  // alive while its H5In is
  }
  H5Fclose(file);
  return t;
}

void record_into(ProbedFile* table) { g_recording = table; }
ProbedFile* recording() { return g_recording; }

std::string serialize(const ProbedFile& table) {
  Writer w;
  w.lists(table.strings);
  w.lists(table.attr_names);
  w.u64(table.attrs.size());
  for (const auto& [key, attr] : table.attrs) {
    w.str(key);
    put_attr(w, attr);
  }
  return std::move(w.out);
}

bool parse(const std::string& bytes, ProbedFile& table) {
  Reader r{bytes};
  uint64_t n = 0;
  if (!r.lists(table.strings) || !r.lists(table.attr_names) || !r.u64(n)) return false;
  for (uint64_t k = 0; k < n; ++k) {
    std::string key;
    ProbedAttr a;
    if (!r.str(key) || !get_attr(r, a)) return false;
    table.attrs[key] = std::move(a);
  }
  return r.at == bytes.size();
}

}  // namespace qkv::io::detail
