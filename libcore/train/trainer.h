// The training run behind qkv-train: data in, checked against the model;
// Model + optimizer + schedule + clipping stepped; progress, metrics, plots,
// checkpoints (periodic, final, best by validation loss) out.
//
//   TrainOptions o;  o.task = "lm";  o.train_paths = {"train.h5"};  o.val_fraction = 0.1;
//   o.model.set("n_layer", 2);  o.steps = 100;  o.output = "model.h5";
//   TrainResult r = run_training(o);
//
// The run is setup (options, checkpoint, data, model, optimizer), then a loop
// of train_step() with evaluation and the checkpoint policy between steps.
// train_step() calls a StepReduce between forward and backward and between
// backward and clipping: the seam of data-parallel training.
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

#include "nn/model.h"
#include "nn/optim.h"
#include "train/settings.h"

namespace qkv::train {

struct EvalResult {
  double loss = 0, perplexity = 0, accuracy = 0;  // accuracy: token (lm, seq2seq) or top-1 (vit)
  int64_t targets = 0;
  double wer = -1, ter = -1;  // seq2seq decoding, greedy or --valid-beam (-1 = not measured)
  double bleu = -1, chrf = -1;  // with --valid-metric bleu or chrf: percent, on token ids (train/valid_metric.h)
  int64_t decoded = 0;
};

struct TrainResult {
  int64_t steps_done = 0;
  double last_train_loss = 0;
  EvalResult val;        // last validation (targets == 0 when none)
  double best_val_loss = 0;  // the best --valid-metric value (bleu, chrf: negated, so lower is better)
  bool stopped_by_signal = false;
  bool stopped_early = false;  // --early-stopping ended the run before its last step
  int stop_signal = 0;   // SIGTERM / SIGINT / SIGUSR1 when stopped_by_signal
  double tokens_per_s = 0;
};

// The seam of data-parallel training: train_step() calls whole_batch() after
// forward, backward_begins() before backward and gradients() after it, before
// clipping. A process that
// computed a share of the batch makes its stats those of the whole batch and
// its gradients their sum over processes (dist::SumAllreduce); clipping and
// the update then see the whole batch's gradients.
class StepReduce {
 public:
  virtual ~StepReduce() = default;
  // s: this process's forward stats, replaced by the whole batch's. Returns
  // the weight of this process's mean-loss gradient in the whole batch's mean
  // (its share of the counted targets): backward's scale.
  virtual double whole_batch(nn::Stats& s) = 0;
  // The backward after which gradients() or sum_gradients() comes begins
  // (train_step's; with accumulation the last micro-batch's): the sum may
  // start on gradients that backward has finished while it goes on
  // (train/grad_sum.h). A reduction that does not overlap ignores it.
  virtual void backward_begins(nn::ParamStore& ps) { (void)ps; }
  // The flat gradients (ps.grads(), ps.size() floats), replaced by their sum.
  virtual void gradients(nn::ParamStore& ps) = 0;
  // Gradient accumulation (train/accumulate.h): stats and gradients a process
  // summed over its micro-batches (stand-ins left out), replaced by their sums
  // over processes.
  virtual void sum_stats(nn::Stats& s) = 0;
  virtual void sum_gradients(nn::ParamStore& ps) = 0;
};

struct StepResult {
  nn::Stats stats;        // the forward's loss sum, counted targets and argmax hits
  double grad_norm = 0;   // global gradient norm before clipping (NaN: the loss was not finite, no backward)
  bool stepped = false;   // the optimizer stepped (loss and gradient norm finite)
};

// One optimizer step on one batch: forward (training mode), reduce->whole_batch,
// reduce->backward_begins, backward, reduce->gradients, clipping to clip (0 = off), optimizer step at
// lr. Stops before backward when the loss is not finite, and before the
// optimizer step when the gradient norm is not.
StepResult train_step(nn::Model& model, nn::Optimizer& opt, const nn::Batch& batch, double lr, double clip,
                      StepReduce* reduce = nullptr);

// Runs training (or evaluation with eval_only). Under `mpirun -np N` the
// N processes are one run (data parallel: each computes a contiguous share of
// every batch; only rank 0 writes). Throws DataError / UsageError with one
// clear line on bad input; a NaN loss throws DataError after keeping the last
// good checkpoint.
TrainResult run_training(const TrainOptions& o);

// "model.h5" -> "model.best.h5".
std::string best_path_for(const std::string& output);
// --keep-last: "run/model.h5", 1200 -> "run/model-step1200.h5"; prune_stepped deletes all but the `keep`
// of the highest steps among OUTPUT's stepped checkpoints in its folder.
std::string stepped_path(const std::string& output, int64_t step);
void prune_stepped(const std::string& output, int64_t keep);

}  // namespace qkv::train
