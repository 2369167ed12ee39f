// The settings of a qkv-train run, each declared once in run_settings(): its
// name, command-line flag and help, default, the tasks that have it, and
// whether a checkpoint records it so that --resume continues with it.
//
//   TrainOptions o;                        // every setting at its default
//   o.task = "lm";  o.train_paths = {"train.h5"};  o.steps = 100;
//   nn::Config saved = saved_settings(o);  // what /train_state records (after resolve_settings)
//
// qkv-train makes its flags from the table (tools/qkv-train/main.cpp), the
// trainer records and restores the saved ones from it (train/trainer.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "nn/arch.h"
#include "nn/config.h"
#include "nn/optim.h"

namespace qkv::train {

struct TrainOptions {
  TrainOptions();  // the defaults of run_settings()

  std::string task;  // the qkv-train subcommand: "lm" | "seq2seq" | "vit" | "rnn" (nn::train_commands())
  std::string arch;  // model architecture; "" = the subcommand's (nn::command_arch(task))

  // Data.
  std::vector<std::string> train_paths;  // one file, or shards 0..N-1 read as one dataset (data.h)
  std::string val_path;
  double val_fraction;         // when no val_path: held out from the training file
  std::string lm_mode;         // lm: "stream" (windows over the concatenation) | "sequence"
  int64_t context;             // lm: tokens per example (0 = the model's context length)
  int64_t window_stride;       // lm stream: training windows start every this many tokens (0 = context)
  int64_t max_src_len, max_tgt_len;  // seq2seq: truncation (0 = none)
  bool bucket;                 // seq2seq: batch similar lengths together
  bool shuffle;
  std::string augment;         // vit: transforms of training images (train/augment.h: parse_augment)

  // Model: hyperparameters given on the command line (the rest take the
  // model's defaults, or the checkpoint's values with init/resume).
  nn::Config model;
  std::string init_path;    // start from these parameters (fresh optimizer, step 0)
  std::string resume_path;  // continue this run exactly

  // Optimization. optim.weight_decay < 0 and schedule.base_lr 0 stand for the
  // optimizer's defaults (resolve_settings).
  nn::OptimConfig optim;
  nn::Schedule schedule;    // total is filled in from steps/epochs
  double clip;              // global-norm clipping (0 = off)
  int64_t batch_size;
  int64_t accum;            // micro-batches per optimizer step (--accum; 1 = none)
  int64_t grad_bucket;      // under mpirun: gradient buckets of at least this many floats (train/grad_sum.h; 0 = one)
  int64_t batch_tokens;     // lm, seq2seq: batches of at most this many padded tokens (0 = -b examples)
  int64_t steps;            // total optimizer steps (0: from epochs)
  double epochs;            // used when steps == 0 (default 1 epoch)
  uint64_t seed;

  // Evaluation, logging, output.
  int64_t eval_every;       // steps between validations (0 = about 10 per run)
  int64_t log_every;        // steps between train metric records (0 = about 100 per run)
  int64_t save_every;       // steps between checkpoints (0 = only at the end; the best at evaluations)
  int64_t val_batches;      // cap on validation batches (0 = the whole validation set)
  int64_t keep_last;        // keep the last N periodic checkpoints, OUTPUT-step<S>.h5 (0 = none)
  int64_t early_stopping;   // stop after N validations in a row without a better --valid-metric (0 = off)
  std::string valid_metric; // what chooses the best checkpoint: loss | bleu | chrf | wer (train/valid_metric.h)
  int64_t valid_beam;       // seq2seq: beam of validation decoding (1 = greedy)
  int64_t decode_limit;     // seq2seq: sources greedily decoded per evaluation (0 = all)
  bool decode_final_only;   // seq2seq: WER/TER only at the end (faster runs)
  std::string output;
  std::string best_path;    // "" = OUTPUT with ".best" before the extension; "none" = off
  std::string metrics_path, plot_path;
  bool eval_only;

  // Settings given explicitly, by their RunSetting::key ("lr", "batch_size",
  // "total_steps", "optim", ...). With --resume, the others come from the checkpoint.
  std::vector<std::string> given;
  bool is_given(const std::string& key) const;
};

enum class Group { data, model, optimization, output };  // where --help lists a flag

struct RunSetting {
  using Field = std::variant<int64_t*, uint64_t*, double*, bool*, std::string*>;
  using Value = std::variant<std::monostate, int64_t, double, bool, const char*>;

  const char* key;    // the name in /train_state and in TrainOptions::given; flags that decide the same
                      // saved value share it (--steps and --epochs: total_steps; the optimizer's: optim)
  const char* flag;   // CLI names, "-b,--batch-size"; "" = none (the task is the subcommand)
  Group group;
  Field (*field)(TrainOptions&);
  const char* help;
  const char* help_lm = nullptr;  // the help of the lm task, where it differs
  Value def;                      // the default (none: 0, false, "")
  unsigned tasks = ~0u;           // the tasks having it: bits 1 << nn::Task
  int saved = 0;                  // its place in /train_state's list of settings (1, 2, ...); 0: not saved there
  bool saved_by_own_tasks = false;  // saved only by the tasks having it (else by every task)
  bool saved_when_set = false;      // saved only when not at its default (checkpoints of runs without it stay
                                    // as they were)
  bool inverted = false;          // a flag that sets false ("--no-shuffle")
  bool show_default = false;      // --help shows =DEFAULT
  bool non_negative = false;      // the command line rejects a negative value
  bool output_file = false;       // a file the run writes: checked writable before the run
  std::vector<std::string> choices;  // the command line accepts only these

  bool applies(nn::Task t) const { return (tasks >> static_cast<unsigned>(t)) & 1u; }
  const char* help_for(nn::Task t) const {
    return t == nn::Task::language_model && help_lm ? help_lm : help;
  }
};

// Every setting, in the order --help lists them within their group.
const std::vector<RunSetting>& run_settings();

// Fills in what the options leave to defaults that depend on other settings
// (learning rate and weight decay by optimizer), checks them, and puts them
// in canonical form (noam -> inv_sqrt, --augment). UsageError on bad values.
void resolve_settings(TrainOptions& o);

// The settings /train_state records, in the order it records them. context and
// steps must be resolved (the values the run uses).
nn::Config saved_settings(const TrainOptions& o);

// --resume: every saved setting the command line leaves out comes from the
// checkpoint (`saved`, and the optimizer's configuration `optim`), so
// `qkv-train lm data.h5 --resume ck.h5` continues the run as it was started.
void restore_settings(TrainOptions& o, const nn::Config& saved, const nn::OptimConfig& optim);

}  // namespace qkv::train
