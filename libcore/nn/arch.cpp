#include "nn/arch.h"

#include <map>
#include <mutex>

#include "core/error.h"
#include "nn/model.h"

namespace qkv::nn {

const char* task_name(Task t) {
  switch (t) {
    case Task::language_model: return "language_model";
    case Task::seq2seq: return "seq2seq";
    case Task::classify: return "classify";
  }
  return "?";
}

Shape ModelDims::output_shape(int64_t B, int64_t T) const {
  return output == Output::per_position ? Shape{B, T, n_out} : Shape{B, n_out};
}

namespace {

struct Entry {
  ArchSpec spec;
  ModelFactory make;
};
// std::map: an entry's address stays valid as others register (Model keeps a pointer to its spec).
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::string known_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

const Entry& entry(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::vector<std::string> names;
    for (const auto& kv : registry()) names.push_back(kv.first);
    throw UsageError("unknown model architecture '" + name + "' (known: " + known_names(names) + ")");
  }
  return it->second;
}

// A data key's value in a resolved config (-1 when the architecture has no such key).
int64_t key_int(const Config& c, const std::string& key, const std::string& arch) {
  if (key.empty()) return -1;
  const ConfigValue* v = c.find(key);
  if (!v) throw DataError(arch + " hyperparameter '" + key + "' is missing");
  if (auto* i = std::get_if<int64_t>(v)) return *i;
  if (auto* s = std::get_if<std::string>(v)) {
    try {
      size_t used = 0;
      int64_t x = std::stoll(*s, &used);
      if (used == s->size()) return x;
    } catch (const std::exception&) {
    }
  }
  throw DataError(arch + " hyperparameter '" + key + "' is not an integer: " + config_value_str(*v));
}

}  // namespace

bool register_arch(ArchSpec spec, ModelFactory make) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const auto& kv : registry())
    QKV_CHECK(spec.command.empty() || kv.first == spec.name || kv.second.spec.command != spec.command,
              "architectures " + kv.first + " and " + spec.name + " both claim qkv-train " + spec.command);
  std::string name = spec.name;
  registry()[name] = Entry{std::move(spec), std::move(make)};
  return true;
}

std::vector<std::string> arch_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

const ArchSpec& arch_spec(const std::string& name) { return entry(name).spec; }

std::unique_ptr<Model> make_model(const std::string& arch, const Config& config, uint64_t seed) {
  return entry(arch).make(config, seed, Build::full);
}

Config resolved_config(const std::string& arch, const Config& given) {
  return entry(arch).make(given, 0, Build::config_only)->config();
}

ModelDims dims(const ArchSpec& s, const Config& c) {
  auto get = [&](const std::string& key) { return key_int(c, key, s.name); };
  auto size = [&](const std::string& key) { return key.empty() ? 0 : get(key); };
  ModelDims d;
  d.task = s.task;
  d.vocab = size(s.data.vocab);
  d.src_vocab = size(s.data.src_vocab);
  d.tgt_vocab = size(s.data.tgt_vocab);
  d.max_len = size(s.data.max_len);
  d.pad_id = get(s.data.pad_id);
  d.bos_id = get(s.data.bos_id);
  d.eos_id = get(s.data.eos_id);
  d.n_patches = size(s.data.n_patches);
  d.patch_dim = size(s.data.patch_dim);
  d.n_classes = size(s.data.n_classes);
  d.output = s.output;
  d.n_out = size(s.output_size);
  return d;
}

ModelDims dims(const Model& m) { return dims(m.spec(), m.config()); }

std::vector<std::string> train_commands() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::map<std::string, int> seen;
  for (const auto& kv : registry())
    if (!kv.second.spec.command.empty()) seen[kv.second.spec.command] = 1;
  std::vector<std::string> names;
  for (const auto& kv : seen) names.push_back(kv.first);
  return names;
}

const ArchSpec& command_arch(const std::string& command) {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (const auto& kv : registry())
      if (kv.second.spec.command == command) return kv.second.spec;
  }
  throw UsageError("unknown qkv-train task '" + command + "' (" + known_names(train_commands()) + ")");
}

std::string flag_help(const ArchSpec& spec, const ArchFlag& flag) {
  std::string first_key = flag.keys.substr(0, flag.keys.find(','));
  const Config defaults = default_config(spec.name);  // kept: v points into it
  const ConfigValue* v = defaults.find(first_key);
  QKV_CHECK(v != nullptr, spec.name + " flag " + flag.flag + " sets '" + first_key + "', not a hyperparameter of it");
  std::string value = config_value_str(*v);
  if (!flag.default_from.empty()) return flag.help + " (default: " + flag.default_from + ", else " + value + ")";
  return flag.help + " (default " + value + ")";
}

void set_flag(Config& cfg, const ArchFlag& flag, const std::string& value) {
  for (size_t a = 0; a <= flag.keys.size();) {
    size_t b = std::min(flag.keys.find(',', a), flag.keys.size());
    cfg.parse_assignment(flag.keys.substr(a, b - a) + "=" + value);
    a = b + 1;
  }
}

std::vector<ArchFlag> transformer_block_flags(const std::string& d_ff_help) {
  return {{"--heads", "n_head", "attention heads", ""},
          {"--d-model", "d_model", "model width", ""},
          {"--d-ff", "d_ff", d_ff_help, ""},
          {"--dropout", "dropout", "dropout probability", ""},
          {"--norm", "norm", "LayerNorm placement: pre | post", ""},
          {"--activation", "activation", "feed-forward activation: gelu | relu | gelu_tanh", ""}};
}

}  // namespace qkv::nn
