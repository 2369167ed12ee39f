// Where the data's dimensions meet the models' hyperparameters: the config
// keys that size a model from its data (vocabularies, context, patch shape,
// classes) and the checks that data fits a model built earlier (--init,
// --resume). The one place that knows those key names.
#pragma once
#include <cstdint>
#include <string>

#include "nn/config.h"
#include "nn/model.h"
#include "train/data.h"

namespace qkv::train {

// Vocabulary size of a model: its only one (lm), or its source / target one (seq2seq).
int64_t model_vocab(const std::string& arch, const nn::Config& cfg, bool target);
// Longest sequence a language model takes (0: no such limit).
int64_t model_context(const std::string& arch, const nn::Config& cfg);
// The padding id a seq2seq model ignores (-1: the model has no such setting).
int64_t model_pad_id(const std::string& arch, const nn::Config& cfg);

// Fill in what the data decides, unless the user gave it (the given value is
// then checked against the data once the model exists).
void set_data_dims_lm(const std::string& arch, nn::Config& cfg, const Vocab& v, int64_t context);
void set_data_dims_seq2seq(const std::string& arch, nn::Config& cfg, const Vocab& src, const Vocab& tgt);
void set_data_dims_vit(const std::string& arch, nn::Config& cfg, const Patches& x);

// Patch count and size must equal the model's; labels must be below its class count.
void check_patches_fit(const std::string& arch, const Patches& x, const nn::Config& cfg,
                       const std::string& model_what);

// Hyperparameters that change training but not the parameters' shapes or
// meaning (dropout, label smoothing): --init may set them anew.
bool is_training_only_key(const std::string& key);

// Hyperparameters given on the command line must agree with a checkpoint's.
void check_flags_match_checkpoint(const nn::Config& given, const nn::Config& file, const std::string& path);

}  // namespace qkv::train
