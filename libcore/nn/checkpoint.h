// Model checkpoints: qkv_format = "model" (layout in docs/FORMATS.md).
//
//   /                      attrs: arch, every hyperparameter (one attribute each),
//                                 hyperparameters (string[]: their names, in order),
//                                 num_params, task
//   /params/<name>         float32, PyTorch name and shape (state_dict order)
//   /optimizer             attrs: optim hyperparameters, step;
//   /optimizer/m/<name>    adamw exp_avg / sgd momentum_buffer, shaped as the param
//   /optimizer/v/<name>    adamw exp_avg_sq
//   /train_state           attrs: step, epoch, data_position, model_rng, data_rng
//                          (xoshiro256** states, 4 words stored as int64 bit patterns),
//                          plus the trainer's own settings (TrainState::extra)
//
//   save_checkpoint("ck.h5", model, &opt, &ts);          // atomically, with provenance
//   io::H5In in("ck.h5");
//   auto m = load_model(in);                            // arch + hyperparameters from the file
//   Optimizer opt(read_optimizer_config(in), m->params());  load_optimizer(in, opt);
//   TrainState ts = load_train_state(in);
#pragma once
#include <memory>
#include <string>

#include "core/rng.h"
#include "io/h5.h"
#include "nn/config.h"
#include "nn/model.h"
#include "nn/optim.h"

namespace qkv::nn {

struct TrainState {
  int64_t step = 0;           // optimizer updates done
  int64_t epoch = 0;
  int64_t data_position = 0;  // position in the data order (trainer-defined unit)
  Rng::State model_rng{};     // Model::rng() (dropout)
  Rng::State data_rng{};      // the trainer's data-order generator
  Config extra;               // trainer settings (lr, schedule, batch size, ...) as /train_state attributes
};

// Pieces, for tools that add their own datasets before commit().
void write_model(io::H5Out& out, const Model& m);
void write_optimizer(io::H5Out& out, const Optimizer& opt, const ParamStore& ps);
void write_train_state(io::H5Out& out, const TrainState& ts);
// All of it, committed to path ("-" = stdout). opt and ts may be null.
void save_checkpoint(const std::string& path, const Model& m, const Optimizer* opt, const TrainState* ts);

// Arch and hyperparameters of a "model" file (checks qkv_format).
std::string read_arch(const io::H5In& in);
Config read_model_config(const io::H5In& in);
// Builds the model the file describes and loads its parameters.
std::unique_ptr<Model> load_model(const io::H5In& in);
// Loads parameters into an existing model: the file's arch must match and it
// must hold exactly the model's parameters with the same shapes.
void load_params(const io::H5In& in, Model& m);

bool has_optimizer(const io::H5In& in);
OptimConfig read_optimizer_config(const io::H5In& in);
// Loads moments and step count (kind must match opt's).
void load_optimizer(const io::H5In& in, Optimizer& opt, const ParamStore& ps);

bool has_train_state(const io::H5In& in);
TrainState load_train_state(const io::H5In& in);

}  // namespace qkv::nn
