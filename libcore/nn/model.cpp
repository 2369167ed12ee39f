#include "nn/model.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "core/error.h"
#include "nn/decoder.h"

namespace qkv::nn {

const char* task_name(Task t) {
  switch (t) {
    case Task::language_model: return "language_model";
    case Task::seq2seq: return "seq2seq";
    case Task::classify: return "classify";
  }
  return "?";
}

Batch Batch::lm(int64_t B, int64_t T, std::vector<int32_t> inp, std::vector<int32_t> tgt) {
  Batch b;
  b.B = B;
  b.T = T;
  b.inp = std::move(inp);
  b.tgt = std::move(tgt);
  return b;
}

Batch Batch::seq2seq(int64_t B, int64_t S, int64_t T, std::vector<int32_t> src, std::vector<int32_t> tgt_in,
                     std::vector<int32_t> tgt_out) {
  Batch b;
  b.B = B;
  b.S = S;
  b.T = T;
  b.src = std::move(src);
  b.tgt_in = std::move(tgt_in);
  b.tgt_out = std::move(tgt_out);
  return b;
}

Batch Batch::images(int64_t B, int64_t P, int64_t D, std::vector<float> patches, std::vector<int32_t> labels) {
  Batch b;
  b.B = B;
  b.P = P;
  b.D = D;
  b.patches = std::move(patches);
  b.labels = std::move(labels);
  return b;
}

std::unique_ptr<Decoder> Model::decoder() {
  throw UsageError("'" + arch_ + "' is a " + task_name(task()) + " model: it does not generate tokens");
}

namespace {
struct Entry {
  std::string summary;
  ModelFactory make;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

bool register_arch(const std::string& name, const std::string& summary, ModelFactory make) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[name] = Entry{summary, std::move(make)};
  return true;
}

std::vector<std::string> arch_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

std::string arch_summary(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find(name);
  return it == registry().end() ? "" : it->second.summary;
}

std::unique_ptr<Model> make_model(const std::string& arch, const Config& config, uint64_t seed) {
  ModelFactory make;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(arch);
    if (it != registry().end()) make = it->second.make;
  }
  if (!make) {
    std::string known;
    for (const auto& n : arch_names()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("unknown model architecture '" + arch + "' (known: " + known + ")");
  }
  return make(config, seed);
}

}  // namespace qkv::nn
