// Models described by a file are bounded by that file: hyperparameters in a
// corrupt header (a checkpoint claiming d_model 4096 in 30 KB) must not size
// gigabytes of parameters before load_params finds /params too small.
//
//   auto m = make_model_from_file(in, arch, config, seed);  // refused before allocating when too big
//   load_params(in, *m);
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "io/h5.h"
#include "nn/config.h"
#include "nn/model.h"

namespace qkv::nn {

// While one is alive, ParamStore::finalize() on this thread refuses (DataError
// "WHAT: its hyperparameters make a model of N parameters, more than it can
// hold") a model of more than max_params parameters, before allocating.
class ParamBudget {
 public:
  ParamBudget(int64_t max_params, std::string what);
  ~ParamBudget();
  ParamBudget(const ParamBudget&) = delete;
  ParamBudget& operator=(const ParamBudget&) = delete;
  static const ParamBudget* current();  // the innermost alive on this thread, or nullptr

  const int64_t max_params;
  const std::string what;

 private:
  const ParamBudget* outer_;
};

// The most values a checkpoint's /params can hold: a byte a value for
// datasets stored raw (the file's size), what compressed ones may decode to
// (io::H5In::max_decoded_bytes).
int64_t max_stored_params(const io::H5In& in);

// make_model(arch, c, seed) under ParamBudget(max_stored_params(in)); bad
// hyperparameters (UsageError) become a DataError naming the file. Parameters
// are not loaded (load_params).
std::unique_ptr<Model> make_model_from_file(const io::H5In& in, const std::string& arch, const Config& c,
                                            uint64_t seed);

}  // namespace qkv::nn
