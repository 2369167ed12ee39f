#include "nn/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "nn/model_budget.h"

namespace qkv::nn {

namespace {

io::AttrValue to_attr(const ConfigValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}

ConfigValue from_attr(const io::AttrValue& v, const std::string& where) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  throw DataError(where + ": expected a scalar attribute, found " + io::attr_value_str(v));
}

std::vector<int64_t> rng_to_ints(const Rng::State& s) {
  std::vector<int64_t> out(4);
  std::memcpy(out.data(), s.data(), sizeof(s));
  return out;
}

Rng::State ints_to_rng(const std::vector<int64_t>& v, const std::string& where) {
  if (v.size() != 4) throw DataError(where + ": expected 4 words of generator state, found " + std::to_string(v.size()));
  Rng::State s;
  std::memcpy(s.data(), v.data(), sizeof(s));
  if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0)
    throw DataError(where + ": generator state is all zero (xoshiro256** would emit only zeros)");
  return s;
}

// Writes a flat-layout buffer as one dataset per parameter under group.
void write_per_param(io::H5Out& out, const std::string& group, const float* flat, const ParamStore& ps) {
  for (const ParamInfo& p : ps.infos()) {
    Tensor t(p.shape);
    std::memcpy(t.data<float>(), flat + p.offset, static_cast<size_t>(p.numel) * sizeof(float));
    out.write(group + "/" + p.name, t);
  }
}

// Reads one dataset per parameter into a flat buffer, validating names and shapes.
void read_per_param(const io::H5In& in, const std::string& group, float* flat, const ParamStore& ps,
                    const std::string& arch) {
  if (!in.has(group)) throw DataError(in.path() + ": no group /" + group);
  for (const ParamInfo& p : ps.infos()) {
    std::string name = group + "/" + p.name;
    if (!in.has(name))
      throw DataError(in.path() + ": missing parameter /" + name + " (" + arch + " expects shape " +
                      shape_str(p.shape) + ")");
    Shape s = in.shape(name);
    if (s != p.shape)
      throw DataError(in.path() + ": /" + name + " has shape " + shape_str(s) + ", " + arch + " expects " +
                      shape_str(p.shape));
    Tensor t = in.read(name, DType::f32);
    const float* v = t.data<float>();
    for (int64_t i = 0; i < p.numel; ++i)
      if (!std::isfinite(v[i]))
        throw DataError(in.path() + ": /" + name + " holds " + (std::isnan(v[i]) ? "NaN" : "an infinity") +
                        " at flat index " + std::to_string(i) + " (a checkpoint of a diverged run?)");
    std::memcpy(flat + p.offset, v, static_cast<size_t>(p.numel) * sizeof(float));
  }
  for (const std::string& n : in.list(group))
    if (ps.find(n) < 0)
      throw DataError(in.path() + ": unexpected parameter /" + group + "/" + n + " (not a parameter of this " +
                      arch + " model; hyperparameters disagree with the weights?)");
}

}  // namespace

void write_model(io::H5Out& out, const Model& m) {
  out.set_attr("/", "arch", m.arch());
  out.set_attr("/", "task", std::string(task_name(m.task())));
  std::vector<std::string> names;
  for (const auto& kv : m.config().items()) {
    out.set_attr("/", kv.first, to_attr(kv.second));
    names.push_back(kv.first);
  }
  out.set_attr("/", "hyperparameters", names);
  out.set_attr("/", "num_params", m.params().num_params());
  out.create_group("params");
  write_per_param(out, "params", m.params().params(), m.params());
}

void write_optimizer(io::H5Out& out, const Optimizer& opt, const ParamStore& ps) {
  out.create_group("optimizer");
  const Config oc = opt.config().to_config();
  for (const auto& kv : oc.items()) out.set_attr("/optimizer", kv.first, to_attr(kv.second));
  out.set_attr("/optimizer", "step", opt.steps());
  write_per_param(out, "optimizer/m", opt.m(), ps);
  if (opt.has_v()) write_per_param(out, "optimizer/v", opt.v(), ps);
}

void write_train_state(io::H5Out& out, const TrainState& ts) {
  out.create_group("train_state");
  out.set_attr("/train_state", "step", ts.step);
  out.set_attr("/train_state", "epoch", ts.epoch);
  out.set_attr("/train_state", "data_position", ts.data_position);
  out.set_attr("/train_state", "model_rng", rng_to_ints(ts.model_rng));
  out.set_attr("/train_state", "data_rng", rng_to_ints(ts.data_rng));
  std::vector<std::string> names;
  for (const auto& kv : ts.extra.items()) {
    out.set_attr("/train_state", kv.first, to_attr(kv.second));
    names.push_back(kv.first);
  }
  out.set_attr("/train_state", "settings", names);
}

void save_checkpoint(const std::string& path, const Model& m, const Optimizer* opt, const TrainState* ts) {
  io::H5Out out(path, "model");
  write_model(out, m);
  if (opt) write_optimizer(out, *opt, m.params());
  if (ts) write_train_state(out, *ts);
  out.commit();
}

std::string read_arch(const io::H5In& in) {
  in.expect_kind("model");
  if (!in.has_attr("/", "arch")) throw DataError(in.path() + ": model file without root attribute 'arch'");
  return in.attr_string("/", "arch");
}

Config read_model_config(const io::H5In& in) {
  in.expect_kind("model");
  Config c;
  if (!in.has_attr("/", "hyperparameters"))
    throw DataError(in.path() + ": model file without root attribute 'hyperparameters'");
  for (const std::string& k : in.attr_strings("/", "hyperparameters")) {
    if (!in.has_attr("/", k))
      throw DataError(in.path() + ": hyperparameter '" + k + "' is listed but has no root attribute");
    c.set(k, from_attr(in.attr("/", k), in.path() + ": /" + k));
  }
  return c;
}

int64_t max_stored_params(const io::H5In& in) {
  // A value takes at least a byte in the file when stored raw; compressed
  // datasets count what they may decode to (H5In::max_decoded_bytes).
  uint64_t raw = 0, decoded = 0;
  if (in.has("params")) {
    for (const std::string& name : in.list("params")) {
      io::detail::Hid d(H5Dopen2(in.handle(), ("/params/" + name).c_str(), H5P_DEFAULT));
      if (!d.valid()) continue;  // load_params names what is missing or wrong
      io::detail::Hid dcpl(H5Dget_create_plist(d.get()));
      if (dcpl.valid() && H5Pget_nfilters(dcpl.get()) > 0)
        decoded += in.max_decoded_bytes(d.get(), name);
      else
        raw = in.size_bytes();
    }
  }
  io::h5_error_text();  // a failed open leaves nothing on the HDF5 error stack
  return static_cast<int64_t>(std::min<uint64_t>(raw + decoded, uint64_t{1} << 62));
}

std::unique_ptr<Model> make_model_from_file(const io::H5In& in, const std::string& arch, const Config& c,
                                            uint64_t seed) {
  ParamBudget budget(max_stored_params(in), in.path() + ": /params");
  try {
    return make_model(arch, c, seed);
  } catch (const UsageError& e) {  // bad hyperparameters in a file are a data problem
    throw DataError(in.path() + ": " + e.what());
  }
}

std::unique_ptr<Model> load_model(const io::H5In& in) {
  std::unique_ptr<Model> m = make_model_from_file(in, read_arch(in), read_model_config(in), 0);
  load_params(in, *m);
  return m;
}

void load_params(const io::H5In& in, Model& m) {
  std::string arch = read_arch(in);
  if (arch != m.arch())
    throw DataError(in.path() + ": is a '" + arch + "' checkpoint, expected a '" + m.arch() + "' model");
  read_per_param(in, "params", m.params().params(), m.params(), arch);
}

bool has_optimizer(const io::H5In& in) { return in.has("optimizer"); }

OptimConfig read_optimizer_config(const io::H5In& in) {
  if (!has_optimizer(in)) throw DataError(in.path() + ": no /optimizer state in this checkpoint");
  Config c;
  for (const char* k : {"optim", "beta1", "beta2", "eps", "momentum", "nesterov", "weight_decay"}) {
    if (!in.has_attr("/optimizer", k)) throw DataError(in.path() + ": /optimizer lacks attribute '" + k + "'");
    c.set(k, from_attr(in.attr("/optimizer", k), in.path() + ": /optimizer"));
  }
  try {
    return OptimConfig::from_config(c);
  } catch (const UsageError& e) {
    throw DataError(in.path() + ": /optimizer: " + e.what());
  }
}

void load_optimizer(const io::H5In& in, Optimizer& opt, const ParamStore& ps) {
  OptimConfig file_cfg = read_optimizer_config(in);
  if (file_cfg.kind != opt.config().kind)
    throw DataError(in.path() + ": /optimizer holds '" + file_cfg.kind + "' state, expected '" + opt.config().kind +
                    "'");
  int64_t step = in.attr_int("/optimizer", "step");
  if (step < 0) throw DataError(in.path() + ": /optimizer step is negative");
  read_per_param(in, "optimizer/m", opt.m(), ps, read_arch(in));
  if (opt.has_v()) read_per_param(in, "optimizer/v", opt.v(), ps, read_arch(in));
  opt.set_steps(step);
}

bool has_train_state(const io::H5In& in) { return in.has("train_state"); }

TrainState load_train_state(const io::H5In& in) {
  if (!has_train_state(in)) throw DataError(in.path() + ": no /train_state in this checkpoint");
  TrainState ts;
  const std::string g = "/train_state";
  for (const char* k : {"step", "epoch", "data_position", "model_rng", "data_rng", "settings"})
    if (!in.has_attr(g, k)) throw DataError(in.path() + ": /train_state lacks attribute '" + k + "'");
  ts.step = in.attr_int(g, "step");
  ts.epoch = in.attr_int(g, "epoch");
  ts.data_position = in.attr_int(g, "data_position");
  if (ts.step < 0 || ts.epoch < 0 || ts.data_position < 0)
    throw DataError(in.path() + ": /train_state has a negative step, epoch or data_position");
  ts.model_rng = ints_to_rng(in.attr_ints(g, "model_rng"), in.path() + ": /train_state/model_rng");
  ts.data_rng = ints_to_rng(in.attr_ints(g, "data_rng"), in.path() + ": /train_state/data_rng");
  for (const std::string& k : in.attr_strings(g, "settings")) {
    if (!in.has_attr(g, k)) throw DataError(in.path() + ": /train_state setting '" + k + "' has no attribute");
    ts.extra.set(k, from_attr(in.attr(g, k), in.path() + ": /train_state/" + k));
  }
  return ts;
}

}  // namespace qkv::nn
