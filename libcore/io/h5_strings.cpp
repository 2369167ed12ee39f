#include "io/h5_strings.h"

#include <cstring>
#include <memory>
#include <mutex>

namespace qkv::io::detail {
namespace {

std::mutex g_mutex;
std::map<hid_t, std::shared_ptr<const StringTable>>& registry() {
  static std::map<hid_t, std::shared_ptr<const StringTable>> r;
  return r;
}
StringTable* g_recording = nullptr;

std::string name_of(hid_t id, ssize_t (*get)(hid_t, char*, size_t)) {
  ssize_t n = get(id, nullptr, 0);
  if (n <= 0) return "";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  get(id, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

}  // namespace

std::string string_key(hid_t obj, bool is_attr) {
  std::string key = name_of(obj, H5Iget_name);  // an attribute: its owner's path
  if (is_attr) key += "@" + name_of(obj, [](hid_t a, char* buf, size_t n) { return H5Aget_name(a, n, buf); });
  return key;
}

ProbedStrings::ProbedStrings(hid_t file, StringTable table) : file_(file) {
  std::lock_guard<std::mutex> lock(g_mutex);
  registry()[file_] = std::make_shared<const StringTable>(std::move(table));
}

ProbedStrings::~ProbedStrings() {
  std::lock_guard<std::mutex> lock(g_mutex);
  registry().erase(file_);
}

const StringTable* probed_strings(hid_t obj) {
  hid_t file = H5Iget_file_id(obj);  // the id its H5In holds, one reference more
  if (file < 0) return nullptr;
  const StringTable* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = registry().find(file);
    if (it != registry().end()) t = it->second.get();  // alive while its H5In is
  }
  H5Fclose(file);
  return t;
}

void record_strings(StringTable* table) { g_recording = table; }

void recorded(hid_t obj, bool is_attr, const std::vector<std::string>& values) {
  if (g_recording) (*g_recording)[string_key(obj, is_attr)] = values;
}

std::string serialize(const StringTable& table) {
  std::string out;
  put_u64(out, table.size());
  for (const auto& [key, values] : table) {
    put_str(out, key);
    put_u64(out, values.size());
    for (const std::string& v : values) put_str(out, v);
  }
  return out;
}

bool parse(const std::string& bytes, StringTable& table) {
  size_t at = 0;
  auto u64 = [&](uint64_t& v) {
    if (bytes.size() - at < 8) return false;
    std::memcpy(&v, bytes.data() + at, 8);
    at += 8;
    return true;
  };
  auto str = [&](std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > bytes.size() - at) return false;
    s.assign(bytes, at, static_cast<size_t>(n));
    at += static_cast<size_t>(n);
    return true;
  };
  uint64_t keys = 0;
  if (!u64(keys)) return false;
  for (uint64_t k = 0; k < keys; ++k) {
    std::string key;
    uint64_t n = 0;
    if (!str(key) || !u64(n) || n > (bytes.size() - at) / 8) return false;
    std::vector<std::string> values(static_cast<size_t>(n));
    for (std::string& v : values)
      if (!str(v)) return false;
    table[key] = std::move(values);
  }
  return at == bytes.size();
}

}  // namespace qkv::io::detail
