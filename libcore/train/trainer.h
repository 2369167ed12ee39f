// The training run behind qkv-train: data in, checked against the model;
// Model + optimizer + schedule + clipping stepped; progress, metrics, plots,
// checkpoints (periodic, final, best by validation loss) out.
//
//   TrainOptions o;  o.task = "lm";  o.train_paths = {"train.h5"};  o.val_fraction = 0.1;
//   o.model.set("n_layer", 2);  o.steps = 100;  o.output = "model.h5";
//   TrainResult r = run_training(o);
//
// Determinism: the data order is a function of (seed, epoch), the model's
// dropout generator and the optimizer state are saved in every checkpoint,
// so the same inputs, flags, seed and thread count give the same bytes
// (with --no-provenance), and a run resumed from any checkpoint ends exactly
// where an uninterrupted run would.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/config.h"
#include "nn/optim.h"
#include "train/augment.h"

namespace qkv::train {

struct TrainOptions {
  std::string task;  // "lm" | "seq2seq" | "vit" | "rnn"
  std::string arch;  // model architecture; "" = the task's default (gpt, transformer, vit, rnn)

  // Data.
  std::vector<std::string> train_paths;  // one file, or shards 0..N-1 read as one dataset (data.h)
  std::string val_path;
  double val_fraction = 0;     // when no val_path: held out from the training file
  std::string lm_mode = "stream";  // lm: "stream" (windows over the concatenation) | "sequence"
  int64_t context = 0;         // lm: tokens per example (0 = the model's context length)
  int64_t window_stride = 0;   // lm stream: training windows start every this many tokens (0 = context)
  int64_t max_src_len = 0, max_tgt_len = 0;  // seq2seq: truncation (0 = none)
  bool bucket = false;         // seq2seq: batch similar lengths together
  bool shuffle = true;
  Augment augment;             // vit: transforms of training images (validation images stay as they are)

  // Model: hyperparameters given on the command line (the rest take the
  // model's defaults, or the checkpoint's values with init/resume).
  nn::Config model;
  std::string init_path;    // start from these parameters (fresh optimizer, step 0)
  std::string resume_path;  // continue this run exactly

  // Optimization.
  nn::OptimConfig optim;
  nn::Schedule schedule;    // total is filled in from steps/epochs
  double clip = 1.0;        // global-norm clipping (0 = off)
  int64_t batch_size = 32;
  int64_t steps = 0;        // total optimizer steps (0: from epochs)
  double epochs = 0;        // used when steps == 0 (default 1 epoch)
  uint64_t seed = 1;

  // Evaluation, logging, output.
  int64_t eval_every = 0;   // steps between validations (0 = about 10 per run)
  int64_t log_every = 0;    // steps between train metric records (0 = about 100 per run)
  int64_t save_every = 0;   // steps between checkpoints (0 = only at evaluations and the end)
  int64_t val_batches = 0;  // cap on validation batches (0 = the whole validation set)
  int64_t decode_limit = 0; // seq2seq: sources greedily decoded per evaluation (0 = all)
  bool decode_final_only = false;  // seq2seq: WER/TER only at the end (faster runs)
  std::string output = "model.h5";
  std::string best_path;    // "" = OUTPUT with ".best" before the extension; "none" = off
  std::string metrics_path, plot_path;
  bool eval_only = false;

  // Settings given explicitly (names as in /train_state: "lr", "batch_size",
  // "total_steps", "optim", ...). With --resume, the others come from the checkpoint.
  std::vector<std::string> given;
};

struct EvalResult {
  double loss = 0, perplexity = 0, accuracy = 0;  // accuracy: token (lm, seq2seq) or top-1 (vit)
  int64_t targets = 0;
  double wer = -1, ter = -1;  // seq2seq greedy decoding (-1 = not measured)
  int64_t decoded = 0;
};

struct TrainResult {
  int64_t steps_done = 0;
  double last_train_loss = 0;
  EvalResult val;        // last validation (targets == 0 when none)
  double best_val_loss = 0;
  bool stopped_by_signal = false;
  int stop_signal = 0;   // SIGTERM / SIGINT / SIGUSR1 when stopped_by_signal
  double tokens_per_s = 0;
};

// Default architecture of a task ("lm" -> "gpt", "seq2seq" -> "transformer", ...).
std::string default_arch(const std::string& task);

// Runs training (or evaluation with eval_only). Throws DataError / UsageError
// with one clear line on bad input; a NaN loss throws DataError after
// keeping the last good checkpoint.
TrainResult run_training(const TrainOptions& o);

// "model.h5" -> "model.best.h5".
std::string best_path_for(const std::string& output);

}  // namespace qkv::train
