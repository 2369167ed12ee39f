#include "io/provenance.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "core/error.h"
#include "io/h5_attr.h"

namespace qkv::io::provenance {
namespace {

struct RunState {
  std::mutex mu;
  bool enabled = true;
  ProvenanceRecord self{"libcore", QKV_VERSION, "", "", {}, {}};
  std::vector<ProvenanceRecord> inherited;
};

RunState& state() {
  static RunState s;
  return s;
}

std::string now_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Shell-style quoting so the recorded command line can be pasted back.
std::string quote(const std::string& a) {
  if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") ==
                        std::string::npos)
    return a;
  std::string out = "'";
  for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

void begin_run(const std::string& tool, int argc, char** argv) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.self = ProvenanceRecord{tool, QKV_VERSION, "", now_utc(), {}, {}};
  for (int i = 0; i < argc; ++i) s.self.command_line += (i ? " " : "") + quote(argv[i]);
  s.inherited.clear();
}

void set_enabled(bool on) { state().enabled = on; }
bool enabled() { return state().enabled; }

void note_input(const std::string& path, const std::string& sha256, const std::vector<ProvenanceRecord>& records) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  for (const auto& r : records)
    if (std::find(s.inherited.begin(), s.inherited.end(), r) == s.inherited.end()) s.inherited.push_back(r);
  for (size_t i = 0; i < s.self.inputs.size(); ++i)
    if (s.self.inputs[i] == path && s.self.input_sha256[i] == sha256) return;
  s.self.inputs.push_back(path);
  s.self.input_sha256.push_back(sha256);
}

std::vector<ProvenanceRecord> for_output() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<ProvenanceRecord> out = s.inherited;
  if (s.self.time_utc.empty()) s.self.time_utc = now_utc();
  out.push_back(s.self);
  return out;
}

void write(hid_t file, const std::vector<ProvenanceRecord>& records) {
  using detail::Hid;
  Hid gcpl(detail::object_create_plist(H5P_GROUP_CREATE));
  Hid g(H5Gcreate2(file, "provenance", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  if (!g.valid()) throw DataError("cannot create /provenance");
  for (size_t i = 0; i < records.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%04zu", i);
    Hid r(H5Gcreate2(g.get(), name, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
    const auto& rec = records[i];
    detail::write_attr(r.get(), "tool", rec.tool);
    detail::write_attr(r.get(), "version", rec.version);
    detail::write_attr(r.get(), "command_line", rec.command_line);
    detail::write_attr(r.get(), "time_utc", rec.time_utc);
    detail::write_attr(r.get(), "inputs", rec.inputs);
    detail::write_attr(r.get(), "input_sha256", rec.input_sha256);
  }
}

std::vector<ProvenanceRecord> read(hid_t file) {
  using detail::Hid;
  std::vector<ProvenanceRecord> out;
  if (H5Lexists(file, "provenance", H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return out;
  }
  Hid g(H5Gopen2(file, "provenance", H5P_DEFAULT));
  if (!g.valid()) throw DataError("/provenance is not a group");
  std::vector<std::string> names = detail::child_names(g.get());
  if (names.size() > 100000) throw DataError("/provenance has an absurd number of records");
  auto str = [](const AttrValue& v) { auto* p = std::get_if<std::string>(&v); return p ? *p : attr_value_str(v); };
  auto strs = [](const AttrValue& v) {
    if (auto* p = std::get_if<std::vector<std::string>>(&v)) return *p;
    if (auto* p = std::get_if<std::string>(&v)) return std::vector<std::string>{*p};
    return std::vector<std::string>{};
  };
  for (const auto& n : names) {
    Hid r(H5Gopen2(g.get(), n.c_str(), H5P_DEFAULT));
    if (!r.valid()) continue;
    std::string where = "/provenance/" + n;
    ProvenanceRecord rec;
    auto get = [&](const char* a) { return detail::attr_exists(r.get(), a, where) ? detail::read_attr(r.get(), a, where) : AttrValue(std::string()); };
    rec.tool = str(get("tool"));
    rec.version = str(get("version"));
    rec.command_line = str(get("command_line"));
    rec.time_utc = str(get("time_utc"));
    rec.inputs = strs(get("inputs"));
    rec.input_sha256 = strs(get("input_sha256"));
    out.push_back(std::move(rec));
  }
  return out;
}

void reset_for_tests() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.enabled = true;
  s.self = ProvenanceRecord{"libcore", QKV_VERSION, "", "", {}, {}};
  s.inherited.clear();
}

}  // namespace qkv::io::provenance
