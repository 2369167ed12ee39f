#include "nn/config.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace qkv::nn {

void Config::set(const std::string& key, ConfigValue value) {
  for (auto& kv : items_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  items_.emplace_back(key, std::move(value));
}

void Config::parse_assignment(const std::string& a) {
  auto eq = a.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("hyperparameter '" + a + "': expected key=value, e.g. n_layer=4");
  set(a.substr(0, eq), ConfigValue(a.substr(eq + 1)));
}

const ConfigValue* Config::find(const std::string& key) const {
  for (const auto& kv : items_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

std::string config_value_str(const ConfigValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    std::ostringstream s;
    s.precision(10);
    s << *d;
    return s.str();
  }
  return std::get<std::string>(v);
}

std::string Config::to_string() const {
  std::string s;
  for (const auto& kv : items_) {
    if (!s.empty()) s += ' ';
    s += kv.first + "=" + config_value_str(kv.second);
  }
  return s;
}

void ConfigReader::bad(const std::string& key, const std::string& why) const {
  const ConfigValue* v = given_.find(key);
  throw UsageError(arch_ + " hyperparameter " + key + (v ? "=" + config_value_str(*v) : "") + ": " + why);
}

int64_t ConfigReader::get_int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  int64_t out = def;
  if (const ConfigValue* v = given_.find(key)) {
    if (auto* i = std::get_if<int64_t>(v)) {
      out = *i;
    } else if (auto* d = std::get_if<double>(v)) {
      if (std::floor(*d) != *d) bad(key, "expected an integer");
      out = static_cast<int64_t>(*d);
    } else {
      const std::string& s = std::get<std::string>(*v);
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0' || errno) bad(key, "expected an integer");
      out = x;
    }
  }
  if (out < min || out > max)
    bad(key, "must be in [" + std::to_string(min) + ", " + (max == INT64_MAX ? "inf" : std::to_string(max)) + "]");
  resolved_.set(key, ConfigValue(out));
  return out;
}

double ConfigReader::get_double(const std::string& key, double def, double min, double max) {
  double out = def;
  if (const ConfigValue* v = given_.find(key)) {
    if (auto* i = std::get_if<int64_t>(v)) {
      out = static_cast<double>(*i);
    } else if (auto* d = std::get_if<double>(v)) {
      out = *d;
    } else {
      const std::string& s = std::get<std::string>(*v);
      char* end = nullptr;
      errno = 0;
      out = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0' || errno) bad(key, "expected a number");
    }
  }
  if (!std::isfinite(out) || out < min || out > max) {
    std::ostringstream s;
    s << "must be in [" << min << ", " << max << "]";
    bad(key, s.str());
  }
  resolved_.set(key, ConfigValue(out));
  return out;
}

bool ConfigReader::get_bool(const std::string& key, bool def) {
  bool out = def;
  if (const ConfigValue* v = given_.find(key)) {
    if (auto* i = std::get_if<int64_t>(v)) {
      if (*i != 0 && *i != 1) bad(key, "expected 0/1 or true/false");
      out = *i == 1;
    } else if (std::holds_alternative<double>(*v)) {
      bad(key, "expected 0/1 or true/false");
    } else {
      const std::string& s = std::get<std::string>(*v);
      if (s == "1" || s == "true") out = true;
      else if (s == "0" || s == "false") out = false;
      else bad(key, "expected 0/1 or true/false");
    }
  }
  resolved_.set(key, ConfigValue(int64_t{out ? 1 : 0}));
  return out;
}

std::string ConfigReader::get_string(const std::string& key, const std::string& def) {
  std::string out = def;
  if (const ConfigValue* v = given_.find(key)) out = config_value_str(*v);
  resolved_.set(key, ConfigValue(out));
  return out;
}

std::string ConfigReader::get_choice(const std::string& key, const std::string& def,
                                     const std::vector<std::string>& choices) {
  std::string out = def;
  if (const ConfigValue* v = given_.find(key)) {
    if (!std::holds_alternative<std::string>(*v)) bad(key, "expected a name");
    out = std::get<std::string>(*v);
  }
  bool ok = false;
  std::string list;
  for (const auto& c : choices) {
    ok = ok || c == out;
    list += (list.empty() ? "" : ", ") + c;
  }
  if (!ok) bad(key, "expected one of: " + list);
  resolved_.set(key, ConfigValue(out));
  return out;
}

void ConfigReader::finish() const {
  std::string unknown;
  for (const auto& kv : given_.items())
    if (!resolved_.has(kv.first)) unknown += (unknown.empty() ? "" : ", ") + kv.first;
  if (unknown.empty()) return;
  std::string known;
  for (const auto& kv : resolved_.items()) known += (known.empty() ? "" : ", ") + kv.first;
  throw UsageError("unknown " + arch_ + " hyperparameter(s): " + unknown + " (known: " + known + ")");
}

}  // namespace qkv::nn
