// Where the data's dimensions meet the models' hyperparameters: a new model
// sized from its data (vocabularies, context, patch shape, classes; the keys
// come from the architecture's registered nn::DataKeys) and the checks that
// data fits a model built earlier (--init, --resume).
#pragma once
#include <cstdint>
#include <string>

#include "nn/arch.h"
#include "nn/config.h"
#include "nn/model.h"
#include "train/data.h"

namespace qkv::train {

// Fill in what the data decides, unless the user gave it (the given value is
// then checked against the data once the model exists). A vocabulary far
// larger than the ids in use (a corrupt vocab_size attribute) is refused.
void set_data_dims_lm(const std::string& arch, nn::Config& cfg, const Sequences& data, int64_t context);
// A shared vocabulary needs one tokenizer for both sides.
void set_data_dims_seq2seq(const std::string& arch, nn::Config& cfg, const Pairs& data);
void set_data_dims_vit(const std::string& arch, nn::Config& cfg, const Patches& x);

// Patch count and size must equal the model's; labels must be below its class count.
void check_patches_fit(const Patches& x, const nn::ModelDims& model, const std::string& model_what);

// Hyperparameters that change training but not the parameters' shapes or
// meaning (dropout, label smoothing): --init may set them anew.
bool is_training_only_key(const std::string& key);

// Hyperparameters given on the command line must agree with a checkpoint's.
void check_flags_match_checkpoint(const nn::Config& given, const nn::Config& file, const std::string& path);

}  // namespace qkv::train
