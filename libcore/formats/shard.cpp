#include "formats/shard.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "io/file_io.h"

namespace qkv::formats {

void Shard::cover(int64_t items) {
  total = items;
  begin = items * index / count;
  end = items * (index + 1) / count;
}

std::string Shard::str() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard parse_shard(const std::string& spec, const std::string& option) {
  size_t slash = spec.find('/');
  auto number = [&](const std::string& t, int64_t& v) {
    char* end = nullptr;
    if (t.empty() || t[0] == '-') return false;
    v = std::strtoll(t.c_str(), &end, 10);
    return *end == '\0';
  };
  Shard s;
  if (slash == std::string::npos || !number(spec.substr(0, slash), s.index) || !number(spec.substr(slash + 1), s.count))
    throw UsageError(option + " " + spec + ": expected K/N, the K-th of N shards counted from 0 (e.g. 0/4)");
  if (s.count < 1 || s.index >= s.count)
    throw UsageError(option + " " + spec + ": K must be in 0.." + (s.count < 1 ? "N-1 with N >= 1" : std::to_string(s.count - 1)));
  return s;
}

std::optional<Shard> read_shard(const io::H5In& in) {
  if (!in.has_attr("/", "shard_index")) return std::nullopt;
  Shard s;
  s.index = in.attr_int("/", "shard_index");
  s.count = in.attr_int("/", "shard_count");
  std::vector<int64_t> r = in.attr_ints("/", "shard_range");
  if (r.size() != 3 || s.count < 1 || s.index < 0 || s.index >= s.count || r[0] < 0 || r[0] > r[1] || r[1] > r[2])
    throw DataError(in.path() + ": inconsistent shard attributes (shard_index, shard_count, shard_range)");
  s.begin = r[0];
  s.end = r[1];
  s.total = r[2];
  return s;
}

void check_shards(const std::vector<std::pair<std::string, std::optional<Shard>>>& files) {
  if (files.size() <= 1 && (files.empty() || !files[0].second)) return;
  const auto& [first_path, first] = files[0];
  if (std::none_of(files.begin(), files.end(), [](const auto& f) { return f.second.has_value(); }))
    throw DataError(first_path + " and " + files[1].first + ": several files are read as one dataset only when they "
                    "are the shards 0..N-1 of one (qkv-tokenize encode --shard K/N, qkv-patchify --shard K/N)");
  for (const auto& [path, s] : files)
    if (!s)
      throw DataError(path + ": is not a shard, but " + (first ? first_path : files.back().first) +
                      " is: give the whole file alone, or every shard of one split (qkv-tokenize encode --shard K/N)");
  const int64_t n = first->count;
  for (size_t k = 0; k < files.size(); ++k) {
    const auto& [path, s] = files[k];
    if (s->count != n || s->total != first->total)
      throw DataError(path + ": is shard " + s->str() + " of " + std::to_string(s->total) + " items, but " + first_path +
                      " is shard " + first->str() + " of " + std::to_string(first->total) + ": shards of different splits");
    if (s->index != static_cast<int64_t>(k)) {
      std::string expected = std::to_string(k) + "/" + std::to_string(n);
      throw DataError(path + ": is shard " + s->str() + ", but shard " + expected + " should come " +
                      (k == 0 ? "first" : "after " + files[k - 1].first) +
                      (s->index > static_cast<int64_t>(k) ? " (missing)" : " (shards out of order)"));
    }
  }
  if (static_cast<int64_t>(files.size()) != n)
    throw DataError(files.back().first + ": is shard " + files.back().second->str() + ", but shard " +
                    std::to_string(files.size()) + "/" + std::to_string(n) + " is missing after it");
}

std::vector<std::string> expand_list_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (p.empty() || p[0] != '@') {
      out.push_back(p);
      continue;
    }
    std::string list = p.substr(1);
    std::vector<uint8_t> bytes = io::read_all(list, 64 << 20);
    std::istringstream lines(std::string(bytes.begin(), bytes.end()));
    size_t before = out.size();
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && line[0] != '#') out.push_back(line);
    if (out.size() == before) throw DataError(list + ": lists no files (one path per line)");
  }
  for (const auto& p : out)
    if (p == "-" && out.size() > 1) throw UsageError("stdin (-) can only be the one input file");
  return out;
}

std::string files_name(const std::vector<std::string>& paths) {
  if (paths.size() == 1) return paths[0];
  return paths.front() + " .. " + paths.back() + " (" + std::to_string(paths.size()) + " files)";
}

}  // namespace qkv::formats
