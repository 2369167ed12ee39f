// Config: a model's hyperparameters as ordered key = value pairs (int64,
// double or string; booleans are int64 0/1). They become the checkpoint's root
// attributes, so a checkpoint alone rebuilds its model.
//
// A model reads its config through ConfigReader, which applies defaults,
// checks ranges, records the resolved value of every key (so config() of a
// model lists every hyperparameter, defaults included) and, in finish(),
// rejects keys the model does not know with the list of those it does.
//
//   Config c;  c.set("n_layer", int64_t{4});  c.parse_assignment("dropout=0.1");
//   ConfigReader r(c, "gpt");
//   int64_t L = r.get_int("n_layer", 4, 1);          // default 4, minimum 1
//   bool tie = r.get_bool("tie_weights", true);
//   std::string act = r.get_choice("activation", "gelu", {"gelu", "relu"});
//   r.finish();  Config resolved = r.resolved();
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace qkv::nn {

using ConfigValue = std::variant<int64_t, double, std::string>;

class Config {
 public:
  void set(const std::string& key, ConfigValue value);  // replaces an existing key in place
  void set(const std::string& key, int value) { set(key, ConfigValue(int64_t{value})); }
  void set(const std::string& key, int64_t value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, double value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, const std::string& value) { set(key, ConfigValue(value)); }
  void set(const std::string& key, bool value) { set(key, ConfigValue(int64_t{value ? 1 : 0})); }
  void set(const std::string& key, const char* value) { set(key, ConfigValue(std::string(value))); }
  // "key=value": the value is kept as a string and converted when read.
  // Throws UsageError on a malformed assignment.
  void parse_assignment(const std::string& assignment);
  bool has(const std::string& key) const { return find(key) != nullptr; }
  const ConfigValue* find(const std::string& key) const;
  const std::vector<std::pair<std::string, ConfigValue>>& items() const { return items_; }
  std::string to_string() const;  // "d_model=128 n_layer=4 ..."

 private:
  std::vector<std::pair<std::string, ConfigValue>> items_;
};

std::string config_value_str(const ConfigValue& v);

class ConfigReader {
 public:
  ConfigReader(const Config& given, std::string arch) : given_(given), arch_(std::move(arch)) {}
  int64_t get_int(const std::string& key, int64_t def, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  double get_double(const std::string& key, double def, double min = -1e300, double max = 1e300);
  bool get_bool(const std::string& key, bool def);
  std::string get_choice(const std::string& key, const std::string& def, const std::vector<std::string>& choices);
  std::string get_string(const std::string& key, const std::string& def);
  // Throws UsageError naming unknown keys (and listing the known ones).
  void finish() const;
  const Config& resolved() const { return resolved_; }

 private:
  [[noreturn]] void bad(const std::string& key, const std::string& why) const;
  const Config& given_;
  std::string arch_;
  Config resolved_;
};

}  // namespace qkv::nn
