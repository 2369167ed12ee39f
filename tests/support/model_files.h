// A freshly initialized model checkpoint for tool tests: architecture, KEY=VALUE
// hyperparameters (as qkv-model init --set), seed 7; the model is returned
// so a test can compare a tool's output with the model run in-process.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

namespace qkv::test {

inline std::unique_ptr<nn::Model> write_model(const std::string& path, const std::string& arch,
                                              const std::vector<std::string>& sets) {
  nn::Config c;
  for (const auto& s : sets) c.parse_assignment(s);
  auto m = nn::make_model(arch, c, 7);
  io::H5Out out(path, "model");
  nn::write_model(out, *m);
  out.commit();
  return m;
}

// The same with weights drawn from N(0, 0.3^2): peaked outputs, so decisions (greedy tokens) are far from ties.
inline void write_peaked_model(const std::string& path, const std::string& arch, const std::vector<std::string>& sets,
                               uint64_t seed) {
  nn::Config c;
  for (const auto& s : sets) c.parse_assignment(s);
  auto m = nn::make_model(arch, c, seed);
  Rng rng(seed + 1000);
  for (nn::ParamId id = 0; id < m->params().count(); ++id) m->params().init_normal(id, rng, 0.3f);
  io::H5Out out(path, "model");
  nn::write_model(out, *m);
  out.commit();
}

}  // namespace qkv::test
