// A freshly initialized model checkpoint for tool tests: architecture, KEY=VALUE
// hyperparameters (as qkv-model init --set), seed 7; the model is returned
// so a test can compare a tool's output with the model run in-process.
#pragma once
#include <memory>
#include <string>
#include <vector>

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

}  // namespace qkv::test
