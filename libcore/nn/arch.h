// The architecture registry: every fact about an architecture that code
// outside its own file needs, declared ONCE, next to its class, in an
// ArchSpec registered with QKV_REGISTER_ARCH. Everything else asks here:
// qkv-train (which data a subcommand reads, which config keys the data sizes,
// its model flags and their defaults), qkv-model (the output shape), decoding
// and attention export (vocabularies, pad/bos/eos ids, maximum lengths).
//
//   const nn::ArchSpec& s = nn::arch_spec("gpt");      // throws UsageError for an unknown name
//   s.task;  s.data.vocab;  s.command;  s.flags;         // Task::language_model, "vocab_size", "lm", ...
//   nn::ModelDims d = nn::dims(model);                   // from a built model's resolved config
//   d.vocab;  d.max_len;  d.pad_id;  d.output_shape(B, T);   // 65, 64, -1, {B, T, 65}
//   nn::Config defaults = nn::default_config("vit");     // every hyperparameter's default, no parameters built
//
// Adding an architecture: one file in libcore/nn with the Model subclass
// (constructor (const Config&, uint64_t seed, Build)), a function returning
// its ArchSpec, and QKV_REGISTER_ARCH(spec, Class); plus its tests. qkv-train
// gains its subcommand and flags, qkv-model its entry, without other edits.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/config.h"
#include "tensor/tensor.h"

namespace qkv::nn {

class Model;

enum class Task {
  language_model,  // inp (B, T) -> next-token logits, targets tgt (B, T)
  seq2seq,         // src (B, S) + tgt_in (B, T) -> logits, targets tgt_out (B, T)
  classify,        // patches (B, P, D) -> class logits, targets labels (B)
};
const char* task_name(Task t);

// The config keys holding what a model needs from its data; "" = the
// architecture has no such setting.
struct DataKeys {
  std::string vocab;      // language model: vocabulary size
  std::string src_vocab;  // seq2seq: source vocabulary size
  std::string tgt_vocab;  // seq2seq: target vocabulary size
  std::string max_len;    // longest sequence it takes: LM context, seq2seq source and target
  std::string pad_id;     // id of padding, ignored as a target
  std::string bos_id, eos_id;  // start/end of a generated sequence
  std::string n_patches, patch_dim;  // vit: patches per image, values per patch
  std::string n_classes;  // classifier: number of classes
  std::string shared_vocab;  // seq2seq: the bool key making source and target one vocabulary (one embedding)
};

// What the logits of one forward look like (Model::logits()).
enum class Output {
  per_position,  // (B, T, n_out): one distribution per position (LM, seq2seq target)
  per_example,   // (B, n_out): one per example (classifier)
};

// A qkv-train command-line flag of a model hyperparameter: `--flag VALUE`
// sets the config key(s) `keys` (comma-separated) only when given; the
// others keep the model's defaults. The help gets the default appended from
// the model's resolved defaults (flag_help()).
struct ArchFlag {
  std::string flag;          // "--layers"
  std::string keys;          // "n_layer", or "n_encoder_layers,n_decoder_layers"
  std::string help;          // "transformer blocks"
  std::string default_from;  // when the default follows another setting: "--hidden" (help: "default: --hidden, else 256")
};

// The flags every transformer block stack shares (--heads --d-model --d-ff
// --dropout --norm --activation), in help order; an architecture appends its own.
std::vector<ArchFlag> transformer_block_flags(const std::string& d_ff_help = "feed-forward width");


// Everything the rest of qkv knows about one architecture.
struct ArchSpec {
  std::string name;     // "gpt": the checkpoint's arch attribute, make_model's key
  std::string summary;  // one line for `qkv-model archs`
  Task task = Task::language_model;
  DataKeys data;
  Output output = Output::per_position;
  std::string output_size;  // config key of n_out, the logits' last axis ("vocab_size")
  // The qkv-train subcommand that trains it by default ("" = none) and that
  // subcommand's one-line description. Any subcommand of the same task takes
  // it with --arch.
  std::string command, command_help;
  std::vector<ArchFlag> flags;  // its qkv-train model flags, in help order
};

// What a built model (its resolved config) takes and gives, per its ArchSpec.
// 0 / -1: the architecture has no such setting.
struct ModelDims {
  Task task = Task::language_model;
  int64_t vocab = 0;                    // language model vocabulary
  int64_t src_vocab = 0, tgt_vocab = 0; // seq2seq vocabularies
  int64_t max_len = 0;                  // longest input sequence (0 = no limit)
  int64_t pad_id = -1, bos_id = -1, eos_id = -1;
  int64_t n_patches = 0, patch_dim = 0; // vit input (B, n_patches, patch_dim)
  int64_t n_classes = 0;
  Output output = Output::per_position;
  int64_t n_out = 0;                    // logits' last axis
  // Shape of the logits for a batch of B examples of T positions:
  // (B, T, n_out) per position, (B, n_out) per example.
  Shape output_shape(int64_t B, int64_t T) const;
};

// Building a model: Build::config_only stops the constructor once the config
// is read, resolved and checked (no parameters allocated); used by
// default_config(). The model so made is not usable otherwise.
enum class Build { full, config_only };
using ModelFactory = std::function<std::unique_ptr<Model>(const Config& config, uint64_t seed, Build build)>;

bool register_arch(ArchSpec spec, ModelFactory make);
std::vector<std::string> arch_names();  // sorted
// The spec of a registered architecture; throws UsageError naming the known ones.
const ArchSpec& arch_spec(const std::string& name);
// Every hyperparameter of `arch` resolved from `given` plus the defaults,
// checked as make_model() checks it, without building parameters (cheap).
Config resolved_config(const std::string& arch, const Config& given);
inline Config default_config(const std::string& arch) { return resolved_config(arch, Config()); }

ModelDims dims(const ArchSpec& spec, const Config& resolved);
ModelDims dims(const Model& model);

// qkv-train subcommands (sorted) and the architecture each trains by default.
std::vector<std::string> train_commands();
// Throws UsageError for an unknown subcommand (listing the known ones).
const ArchSpec& command_arch(const std::string& command);

// A flag's help with its default from the architecture's resolved defaults:
// "transformer blocks (default 4)".
std::string flag_help(const ArchSpec& spec, const ArchFlag& flag);
// `--flag value`: sets each of flag.keys to value in cfg (as key=value, converted when read).
void set_flag(Config& cfg, const ArchFlag& flag, const std::string& value);

#define QKV_REGISTER_ARCH(spec, Class)                                                                             \
  static const bool qkv_registered_arch_##Class = ::qkv::nn::register_arch(                                         \
      spec, [](const ::qkv::nn::Config& c, uint64_t seed, ::qkv::nn::Build build) -> std::unique_ptr<::qkv::nn::Model> { \
        return std::make_unique<Class>(c, seed, build);                                                            \
      })

}  // namespace qkv::nn
