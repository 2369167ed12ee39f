#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "core/clock.h"
#include "core/error.h"
#include "core/progress.h"
#include "dist/comm.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model_budget.h"
#include "nn/model.h"
#include "train/accumulate.h"
#include "train/data.h"
#include "train/data_parallel.h"
#include "train/evaluate.h"
#include "train/examples.h"
#include "train/metrics.h"
#include "train/model_keys.h"
#include "train/order.h"
#include "train/plot.h"
#include "train/signals.h"
#include "train/valid_metric.h"

namespace qkv::train {
namespace {

// The data of a run, loaded and split.
struct Data {
  Sequences lm_train, lm_val;
  Pairs pairs_train, pairs_val;
  Patches patches_train, patches_val;
  std::unique_ptr<Examples> train, val;
  bool has_val = false;
  std::string val_name;  // for messages
};

// Example indices held out for validation: a seeded selection of `fraction` of n.
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, double fraction, uint64_t seed) {
  std::vector<int64_t> order = epoch_order(n, mix_seed(seed, 0x5eed), 0, true);
  int64_t n_val = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  n_val = std::clamp<int64_t>(n_val, n > 1 ? 1 : 0, n - 1);
  std::vector<int64_t> val(order.begin(), order.begin() + n_val), train(order.begin() + n_val, order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {train, val};
}

void check_fraction(const TrainOptions& o) {
  if (o.val_fraction < 0 || o.val_fraction >= 1) throw UsageError("--val-fraction must be in [0, 1)");
  if (!o.val_path.empty() && o.val_fraction > 0) throw UsageError("give --val or --val-fraction, not both");
}

// Splits a token stream's tail off (LM stream mode: contiguous text must not
// leak across the split, so the last fraction of tokens is held out).
void split_stream_tail(const Sequences& all, double fraction, Sequences& train, Sequences& val) {
  int64_t total = static_cast<int64_t>(all.ids.size());
  int64_t cut = total - static_cast<int64_t>(std::llround(fraction * static_cast<double>(total)));
  train = Sequences();
  val = Sequences();
  train.vocab = val.vocab = all.vocab;
  train.path = val.path = all.path;
  train.push(all.ids.data(), cut);
  val.push(all.ids.data() + cut, total - cut);
}

// Reads the training (and validation) files of the task; no model needed yet.
void read_data(const TrainOptions& o, nn::Task task, Data& d) {
  check_fraction(o);
  d.has_val = !o.val_path.empty() || o.val_fraction > 0;
  d.val_name = !o.val_path.empty() ? o.val_path : "validation split of " + files_name(o.train_paths);
  if (task == nn::Task::language_model) {
    if (o.lm_mode != "stream" && o.lm_mode != "sequence") throw UsageError("--lm-mode must be stream or sequence");
    d.lm_train = read_tokens_files(o.train_paths);
    if (!o.val_path.empty()) {
      d.lm_val = read_tokens(o.val_path);
      check_same_vocab(d.lm_train.vocab, d.lm_train.path, d.lm_val.vocab, d.lm_val.path, "validation data");
    }
  } else if (task == nn::Task::seq2seq) {
    d.pairs_train = read_token_pairs_files(o.train_paths);
    if (!o.val_path.empty()) {
      d.pairs_val = read_token_pairs(o.val_path);
      check_same_vocab(d.pairs_train.src.vocab, d.pairs_train.path, d.pairs_val.src.vocab, d.pairs_val.path, "its /src");
      check_same_vocab(d.pairs_train.tgt.vocab, d.pairs_train.path, d.pairs_val.tgt.vocab, d.pairs_val.path, "its /tgt");
    }
  } else {
    d.patches_train = load_patches_files(o.train_paths);
    if (!o.val_path.empty()) {
      d.patches_val = load_patches(o.val_path);
      if (d.patches_val.num_patches() != d.patches_train.num_patches() ||
          d.patches_val.patch_dim() != d.patches_train.patch_dim())
        throw DataError(o.val_path + ": patches of shape " + shape_str({d.patches_val.num_patches(), d.patches_val.patch_dim()}) +
                        " differ from the training file's " +
                        shape_str({d.patches_train.num_patches(), d.patches_train.patch_dim()}));
    }
  }
}

// Checks the data against the model, splits off validation data, makes the examples.
void prepare_data(const TrainOptions& o, const nn::Model& model, int64_t context, Data& d) {
  nn::Task task = model.task();
  const nn::ModelDims dims = nn::dims(model);
  std::string model_what = "the model's (" + model.arch() + ")";
  if (task == nn::Task::language_model) {
    check_vocab_fits(d.lm_train.vocab, d.lm_train.path, dims.vocab, model_what);
    if (o.val_path.empty() && o.val_fraction > 0) {
      Sequences all = std::move(d.lm_train);
      if (o.lm_mode == "stream") {
        split_stream_tail(all, o.val_fraction, d.lm_train, d.lm_val);
      } else {
        auto [tr, va] = split_indices(all.n(), o.val_fraction, o.seed);
        d.lm_train = all.subset(tr);
        d.lm_val = all.subset(va);
      }
    }
    if (o.lm_mode == "stream") {
      d.train = std::make_unique<LmStream>(d.lm_train, context, o.shuffle, o.window_stride);
      if (d.has_val) d.val = std::make_unique<LmStream>(d.lm_val, context, false);
    } else {
      d.train = std::make_unique<LmSequences>(d.lm_train, context);
      if (d.has_val) d.val = std::make_unique<LmSequences>(d.lm_val, context);
    }
  } else if (task == nn::Task::seq2seq) {
    check_vocab_fits(d.pairs_train.src.vocab, d.pairs_train.path + " (/src)", dims.src_vocab, model_what);
    check_vocab_fits(d.pairs_train.tgt.vocab, d.pairs_train.path + " (/tgt)", dims.tgt_vocab, model_what);
    if (o.val_path.empty() && o.val_fraction > 0) {
      Pairs all = std::move(d.pairs_train);
      auto [tr, va] = split_indices(all.n(), o.val_fraction, o.seed);
      d.pairs_train = all.subset(tr);
      d.pairs_val = all.subset(va);
    }
    const int64_t pad = dims.pad_id;
    for (const Vocab* v : {&d.pairs_train.src.vocab, &d.pairs_train.tgt.vocab})
      if (pad >= 0 && v->pad_id != pad)
        throw DataError(d.pairs_train.path + ": pad_id " + std::to_string(v->pad_id) + " differs from " + model_what +
                        " pad_id " + std::to_string(pad));
    d.train = std::make_unique<PairExamples>(d.pairs_train, o.max_src_len, o.max_tgt_len);
    if (d.has_val) d.val = std::make_unique<PairExamples>(d.pairs_val, o.max_src_len, o.max_tgt_len);
  } else {
    check_patches_fit(d.patches_train, dims, model_what);
    if (!o.val_path.empty()) check_patches_fit(d.patches_val, dims, model_what);
    if (o.val_path.empty() && o.val_fraction > 0) {
      Patches all = std::move(d.patches_train);
      auto [tr, va] = split_indices(all.n(), o.val_fraction, o.seed);
      d.patches_train = all.subset(tr);
      d.patches_val = all.subset(va);
    }
    auto train = std::make_unique<PatchExamples>(d.patches_train);
    train->set_augment(parse_augment(o.augment), o.seed);
    d.train = std::move(train);
    if (d.has_val) d.val = std::make_unique<PatchExamples>(d.patches_val);
  }
  if (d.train->size() == 0) throw DataError(files_name(o.train_paths) + ": no training examples");
  if (d.has_val && d.val->size() == 0) throw DataError(d.val_name + ": no validation examples");
}

void warn_setting_changes(const nn::Config& saved, const nn::Config& now, const std::string& path) {
  for (const auto& kv : now.items()) {
    const nn::ConfigValue* s = saved.find(kv.first);
    if (!s) continue;
    std::string a = nn::config_value_str(*s), b = nn::config_value_str(kv.second);
    if (a != b)
      spdlog::warn("{}: resuming with {} = {} (the checkpoint's run used {}); the result will differ from an "
                   "uninterrupted run", path, kv.first, b, a);
  }
}

// ---------------------------------------------------------------------------
// Setup: options checked, checkpoint opened, data read, model and optimizer made.

// Everything a run trains with, in its starting state.
struct Run {
  TrainOptions o;  // resolved: context and steps are the values the run uses
  nn::Task task = nn::Task::language_model;
  Data data;
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<nn::Optimizer> opt;
  nn::Schedule sched;
  nn::TrainState ts;          // step, rng states and saved settings to start from
  ValidMetric metric = ValidMetric::loss;  // --valid-metric
  double best_val = INFINITY;  // the best metric value, negated for bleu / chrf (lower is better)
  int64_t validations_since_best = 0;  // --early-stopping's count
  int64_t bpe = 0;            // batches per epoch (with --accum K, an optimizer step takes K of them)
  std::vector<int64_t> lengths;  // of the training examples, with --bucket
  std::vector<std::vector<int64_t>> token_batches;  // --batch-tokens: the run's batches (order.h)
  std::unique_ptr<DataParallel> dp;  // under mpirun -np N > 1
  bool root = true;                  // this process writes the outputs
};

void check_options(const TrainOptions& o) {
  if (o.output.empty() || o.output == "-") throw UsageError("--output must be a file path (checkpoints are rewritten during training)");
  if (o.batch_size <= 0) throw UsageError("--batch-size must be positive");
  if (!o.init_path.empty() && !o.resume_path.empty()) throw UsageError("give --init or --resume, not both");
  if (o.eval_only && o.init_path.empty() && o.resume_path.empty())
    throw UsageError("--eval-only needs the model to evaluate: --init CKPT (or --resume CKPT)");
}

// The checkpoint of --init / --resume, checked against the architecture; with
// --resume, the settings the command line leaves out come from it.
std::unique_ptr<io::H5In> open_checkpoint(TrainOptions& o, const std::string& arch) {
  const std::string& path = !o.resume_path.empty() ? o.resume_path : o.init_path;
  if (path.empty()) return nullptr;
  auto ckpt = std::make_unique<io::H5In>(path);
  std::string file_arch = nn::read_arch(*ckpt);
  if (file_arch != arch)
    throw DataError(path + ": is a '" + file_arch + "' checkpoint; qkv-train " + o.task + " trains '" + arch + "' models");
  if (!o.resume_path.empty()) {
    if (!nn::has_optimizer(*ckpt) || !nn::has_train_state(*ckpt))
      throw DataError(o.resume_path + ": has no optimizer/train state to resume from (a final or exported model?); "
                      "use --init to start a new run from its parameters");
    restore_settings(o, nn::load_train_state(*ckpt).extra, nn::read_optimizer_config(*ckpt));
  }
  return ckpt;
}

// A new model sized by the data, or the checkpoint's (--init: with new training-only settings).
std::unique_ptr<nn::Model> make_model(const TrainOptions& o, const std::string& arch, io::H5In* ckpt, const Data& data) {
  const nn::Task task = nn::arch_spec(arch).task;
  if (!ckpt) {
    nn::Config cfg = o.model;
    if (task == nn::Task::language_model)
      set_data_dims_lm(arch, cfg, data.lm_train, o.context);
    else if (task == nn::Task::seq2seq)
      set_data_dims_seq2seq(arch, cfg, data.pairs_train);
    else
      set_data_dims_vit(arch, cfg, data.patches_train);
    return nn::make_model(arch, cfg, o.seed);
  }
  const std::string& path = ckpt->path();
  nn::Config file_cfg = nn::read_model_config(*ckpt);
  if (o.init_path.empty()) {
    check_flags_match_checkpoint(o.model, file_cfg, path);
    return nn::load_model(*ckpt);
  }
  nn::Config shape_flags;
  for (const auto& [k, v] : o.model.items()) {
    if (is_training_only_key(k)) file_cfg.set(k, v);
    else shape_flags.set(k, v);
  }
  check_flags_match_checkpoint(shape_flags, file_cfg, path);
  std::unique_ptr<nn::Model> model = nn::make_model_from_file(*ckpt, arch, file_cfg, o.seed);
  nn::load_params(*ckpt, *model);
  return model;
}

// --resume: the optimizer's moments, the step and the generators' states.
void restore_state(Run& r, io::H5In& ckpt) {
  const TrainOptions& o = r.o;
  nn::OptimConfig saved = nn::read_optimizer_config(ckpt);
  if (saved.kind != o.optim.kind)
    throw UsageError(o.resume_path + ": was trained with --optimizer " + saved.kind + ", not " + o.optim.kind);
  nn::load_optimizer(ckpt, *r.opt, r.model->params());
  r.ts = nn::load_train_state(ckpt);
  r.model->rng().set_state(r.ts.model_rng);
  warn_setting_changes(r.ts.extra, saved_settings(o), o.resume_path);
  if (r.metric == ValidMetric::loss) {
    if (const nn::ConfigValue* b = r.ts.extra.find("best_val_loss"))
      if (auto* d = std::get_if<double>(b); d && *d >= 0) r.best_val = *d;  // -1: no validation yet
  } else if (const nn::ConfigValue* b = r.ts.extra.find("best_val_metric")) {  // absent: no validation yet
    if (auto* d = std::get_if<double>(b)) r.best_val = higher_is_better(r.metric) ? -*d : *d;
  }
  if (const nn::ConfigValue* n = r.ts.extra.find("validations_since_best"))
    if (auto* i = std::get_if<int64_t>(n)) r.validations_since_best = *i;
  if (r.ts.step != r.opt->steps())
    throw DataError(o.resume_path + ": train state step " + std::to_string(r.ts.step) +
                    " disagrees with optimizer step " + std::to_string(r.opt->steps()));
  spdlog::info("resuming {} at step {} of {}", o.resume_path, r.ts.step, o.steps);
}

// --batch-tokens N: the run's batches; an example longer than N is refused, naming it.
void plan_by_tokens(Run& r) {
  const TrainOptions& o = r.o;
  const Examples& train = *r.data.train;
  std::vector<int64_t> padded(static_cast<size_t>(train.size()));
  for (int64_t i = 0; i < train.size(); ++i) padded[i] = train.padded_length(i);
  const auto longest = std::max_element(padded.begin(), padded.end());
  if (*longest > o.batch_tokens) {
    const bool split = o.val_path.empty() && o.val_fraction > 0;  // indices of the training split, not the file
    throw UsageError("--batch-tokens " + std::to_string(o.batch_tokens) + " is smaller than " +
                     (split ? "a training example" : "example " + std::to_string(longest - padded.begin())) + " of " +
                     files_name(o.train_paths) + ": it fills " + std::to_string(*longest) +
                     " padded positions (" + (r.task == nn::Task::seq2seq ? "the longer of source and target" : "its tokens") +
                     "); give --batch-tokens " + std::to_string(*longest) + " or more" +
                     (r.task == nn::Task::seq2seq ? ", or cut examples with --max-src-len / --max-tgt-len" : ""));
  }
  r.token_batches = plan_token_batches(padded, o.batch_tokens, o.seed, o.shuffle);
}

void setup(Run& r, const TrainOptions& given) {
  dist::Comm& comm = dist::Comm::world();  // a build without MPI refuses to be one of several (dist/launch.h)
  if (comm.size() > 1) {
    r.dp = std::make_unique<DataParallel>(comm, given.grad_bucket);
    r.root = comm.is_root();
    if (!r.root) spdlog::set_level(spdlog::level::warn);  // rank 0 logs and shows the progress
  }
  TrainOptions& o = r.o;
  o = given;
  o.train_paths = expand_list_files(o.train_paths.empty() ? std::vector<std::string>{"-"} : o.train_paths);
  check_options(o);
  const nn::ArchSpec& command = nn::command_arch(o.task);  // the subcommand's default architecture
  const std::string arch = o.arch.empty() ? command.name : o.arch;
  r.task = command.task;
  if (nn::arch_spec(arch).task != r.task)
    throw UsageError("--arch " + arch + " is a " + nn::task_name(nn::arch_spec(arch).task) + " model; qkv-train " +
                     o.task + " trains " + nn::task_name(r.task) + " models");
  std::unique_ptr<io::H5In> ckpt = open_checkpoint(o, arch);
  resolve_settings(o);
  r.metric = valid_metric_from_name(o.valid_metric);

  // Data first (its dimensions size a new model), then the model.
  read_data(o, r.task, r.data);
  r.model = make_model(o, arch, ckpt.get(), r.data);
  if (r.model->task() != r.task)
    throw DataError((ckpt ? ckpt->path() : arch) + ": '" + r.model->arch() + "' is a " + nn::task_name(r.model->task()) +
                    " model, qkv-train " + o.task + " needs a " + nn::task_name(r.task) + " model");
  if (r.task == nn::Task::language_model) {
    int64_t model_ctx = nn::dims(*r.model).max_len;
    if (o.context == 0) o.context = model_ctx;
    if (o.context > model_ctx)
      throw UsageError("--context " + std::to_string(o.context) + " exceeds the model's maximum of " +
                       std::to_string(model_ctx));
  }
  prepare_data(o, *r.model, o.context, r.data);
  const Examples& train = *r.data.train;
  if (o.batch_tokens > 0 && !o.eval_only) {
    plan_by_tokens(r);
    r.bpe = static_cast<int64_t>(r.token_batches.size());
  } else {
    r.bpe = batches_per_epoch(train.size(), o.batch_size);
  }
  if (o.steps <= 0)  // from --epochs (default 1)
    o.steps = static_cast<int64_t>(
        std::ceil((o.epochs > 0 ? o.epochs : 1.0) * static_cast<double>(r.bpe) / static_cast<double>(o.accum)));
  if (o.bucket && o.batch_tokens == 0) r.lengths = train.lengths();

  r.opt = std::make_unique<nn::Optimizer>(o.optim, r.model->params());
  r.sched = o.schedule;
  r.sched.total = o.steps;
  r.sched.validate();
  r.ts.data_rng = Rng(o.seed).state();
  if (!o.resume_path.empty()) restore_state(r, *ckpt);
  ckpt.reset();
  if (r.dp)  // every rank started with the same flags and data?
    comm.check_same("run settings", saved_settings(o).to_string() + " " + files_name(o.train_paths) + " " +
                                        std::to_string(train.size()) + " " + r.model->config().to_string() +
                                        " --grad-bucket " + std::to_string(o.grad_bucket));  // the bucket layout
  if (o.eval_only) {
    const Examples& ex = r.data.has_val ? *r.data.val : train;
    spdlog::info("{} model: {} parameters; evaluating {} examples of {}", r.model->arch(),
                 r.model->params().num_params(), ex.size(),
                 r.data.has_val ? r.data.val_name : files_name(o.train_paths));
  } else {
    spdlog::info("{} model: {} parameters; {} training examples ({} batches/epoch){}", r.model->arch(),
                 r.model->params().num_params(), train.size(), r.bpe,
                 r.data.has_val ? ", " + std::to_string(r.data.val->size()) + " validation" : std::string());
  }
}

// ---------------------------------------------------------------------------
// Checkpoint policy: periodic (held one step until the next loss proves the
// parameters sound), best by validation loss, final, and on a stop signal.

// A periodic checkpoint is held in memory for one step and written only once
// the next forward pass gives a finite loss, so the file on disk is always a
// state that trains on: a run that diverges keeps its last sound checkpoint.
class PendingCheckpoint {
 public:
  bool held() const { return held_; }
  int64_t step() const { return step_; }
  void drop() { held_ = false; }
  void hold(nn::Model& m, const nn::Optimizer& opt, int64_t step) {
    const nn::ParamStore& ps = m.params();
    params_.assign(ps.params(), ps.params() + ps.size());
    m_.assign(opt.m(), opt.m() + opt.size());
    if (opt.has_v()) v_.assign(opt.v(), opt.v() + opt.size());
    rng_ = m.rng().state();
    step_ = step;
    held_ = true;
  }
  // Swaps the held state in, runs write(), swaps the live state back.
  template <class F>
  void write(nn::Model& m, nn::Optimizer& opt, F&& write_fn) {
    swap_in(m, opt);
    Rng::State live_rng = m.rng().state();
    int64_t live_steps = opt.steps();
    m.rng().set_state(rng_);
    opt.set_steps(step_);
    try {
      write_fn();
    } catch (...) {
      restore(m, opt, live_rng, live_steps);
      throw;
    }
    restore(m, opt, live_rng, live_steps);
    held_ = false;
  }

 private:
  void swap_in(nn::Model& m, nn::Optimizer& opt) {
    std::swap_ranges(params_.begin(), params_.end(), m.params().params());
    std::swap_ranges(m_.begin(), m_.end(), opt.m());
    if (opt.has_v()) std::swap_ranges(v_.begin(), v_.end(), opt.v());
  }
  void restore(nn::Model& m, nn::Optimizer& opt, const Rng::State& rng, int64_t steps) {
    swap_in(m, opt);  // swapping again puts the live state back
    m.rng().set_state(rng);
    opt.set_steps(steps);
  }
  std::vector<float> params_, m_, v_;
  Rng::State rng_{};
  int64_t step_ = 0;
  bool held_ = false;
};

class Checkpoints {
 public:
  Checkpoints(Run& r, nn::Config settings)
      : r_(r), ts_(r.ts), last_saved_(r.ts.step), last_good_(r.o.resume_path) {
    ts_.extra = std::move(settings);
    const std::string& b = r.o.best_path;
    best_path_ = b == "none" ? "" : b.empty() ? best_path_for(r.o.output) : b;
  }
  const std::string& best_path() const { return best_path_; }

  // The step's loss was finite: a held periodic checkpoint is sound, written now.
  void loss_was_finite() {
    if (!pending_.held()) return;
    int64_t at = pending_.step();
    pending_.write(*r_.model, *r_.opt, [&] {
      save(r_.o.output, at);
      keep(at);
    });
    saved_good(at);
  }
  // After step `step`: the final checkpoint, or a periodic one held.
  void step_done(int64_t step) {
    if (step == r_.o.steps) {
      final(step);
    } else if (r_.o.save_every > 0 && step % r_.o.save_every == 0) {
      pending_.hold(*r_.model, *r_.opt, step);  // written once the next step's loss proves these parameters sound
    }
  }
  // The last checkpoint of a run (its last step, or where early stopping ended it).
  void final(int64_t step) {
    pending_.drop();
    save(r_.o.output, step);
    keep(step);
    saved_good(step);
  }
  // A validation: saved as the best when its --valid-metric is. Returns what to add to the log line.
  std::string validated(int64_t step, const EvalResult& e) {
    const double v = r_.metric == ValidMetric::loss  ? e.loss
                     : r_.metric == ValidMetric::wer ? e.wer
                     : r_.metric == ValidMetric::bleu ? -e.bleu
                                                      : -e.chrf;
    if (!(v < r_.best_val)) {
      ++r_.validations_since_best;
      return "";
    }
    r_.best_val = v;
    r_.validations_since_best = 0;
    if (best_path_.empty()) return "";
    save(best_path_, step);
    return " (best, saved " + best_path_ + ")";
  }
  // Stopped by a signal: the live state is saved (a held one is older).
  void stopped(int64_t step) {
    pending_.drop();
    save(r_.o.output, step);
  }
  [[noreturn]] void diverged(const std::string& what, int64_t step) const {
    throw DataError(what + " at step " + std::to_string(step) + "; training stopped. " +
                    (last_good_.empty() ? std::string("No checkpoint was written yet (see --save-every).")
                                        : "The last good checkpoint, step " + std::to_string(last_saved_) + ", is " +
                                              last_good_ + " (left as it was).") +
                    " Try a lower --lr, --clip 1 or a longer --warmup.");
  }

 private:
  void saved_good(int64_t step) {
    last_saved_ = step;
    last_good_ = r_.o.output;
  }
  // --keep-last N: the checkpoint also as OUTPUT-step<S>.h5; of those, the N of the highest steps stay.
  void keep(int64_t step) {
    if (r_.o.keep_last <= 0) return;
    save(stepped_path(r_.o.output, step), step);
    if (r_.root) prune_stepped(r_.o.output, r_.o.keep_last);
  }
  void save(const std::string& path, int64_t step) {
    const float* p = r_.model->params().params();
    for (int64_t i = 0, n = r_.model->params().size(); i < n; ++i)
      if (!std::isfinite(p[i]))
        throw DataError("parameters became non-finite at step " + std::to_string(step) + "; training stopped. " +
                        (last_good_.empty() ? std::string("No checkpoint was written yet.")
                                            : "The last good checkpoint, step " + std::to_string(last_saved_) +
                                                  ", is " + last_good_ + " (left as it was).") +
                        " Try a lower --lr, --clip 1 or a longer --warmup.");
    ts_.step = step;
    ts_.epoch = step * r_.o.accum / r_.bpe;  // the batch the next step starts with
    ts_.data_position = step * r_.o.accum % r_.bpe;
    ts_.model_rng = r_.model->rng().state();
    if (r_.metric == ValidMetric::loss)
      ts_.extra.set("best_val_loss", nn::ConfigValue(std::isfinite(r_.best_val) ? r_.best_val : -1.0));
    else if (std::isfinite(r_.best_val))
      ts_.extra.set("best_val_metric", nn::ConfigValue(higher_is_better(r_.metric) ? -r_.best_val : r_.best_val));
    if (r_.o.early_stopping > 0) ts_.extra.set("validations_since_best", nn::ConfigValue(r_.validations_since_best));
    if (r_.dp)  // every rank holds the same parameters, bit for bit (checked at every checkpoint)
      r_.dp->comm().check_same("parameters at step " + std::to_string(step),
                               std::string(reinterpret_cast<const char*>(p), sizeof(float) * r_.model->params().size()));
    if (r_.root) nn::save_checkpoint(path, *r_.model, r_.opt.get(), &ts_);
  }

  Run& r_;
  nn::TrainState ts_;  // what the next checkpoint records: the run's settings (saved_settings()) in extra
  std::string best_path_;
  PendingCheckpoint pending_;
  int64_t last_saved_;
  std::string last_good_;  // the newest checkpoint of this run on disk
};

// ---------------------------------------------------------------------------
// Outputs: metrics records, loss curves and their plot, the progress line.

class Outputs {
 public:
  explicit Outputs(const Run& r) : r_(r), start_(r.ts.step), progress_("train", r.o.steps - start_, "steps") {
    const TrainOptions& o = r.o;
    const bool resumed = !o.resume_path.empty();
    if (!r.root) return;  // rank 0 writes
    if (resumed && !o.metrics_path.empty()) MetricsLog::truncate(o.metrics_path, r.ts.step);
    if (!o.metrics_path.empty()) log_.open(o.metrics_path, resumed);
    if (resumed)  // the curves so far, for the plot
      for (const auto& rec : MetricsLog::read(o.metrics_path)) {
        const MetricsLog::Field *step = MetricsLog::find(rec, "step"), *loss = MetricsLog::find(rec, "loss"),
                                *split = MetricsLog::find(rec, "split");
        if (!step || !loss || step->is_str || loss->is_str) continue;
        Curve& c = split && split->is_str && split->str == "val" ? val_ : train_;
        c.x.push_back(step->num);
        c.y.push_back(loss->num);
      }
  }
  double epoch(int64_t step) const {
    return static_cast<double>(step * r_.o.accum) / static_cast<double>(r_.bpe);
  }
  // The mean over the steps since the last record.
  void train_record(int64_t step, const LossMeter& m, double lr, double grad_norm, double per_s) {
    const bool images = r_.task == nn::Task::classify;
    MetricsLog::Record f = {{"step", step}, {"epoch", epoch(step)}, {"split", "train"}, {"loss", m.mean_loss()},
                            {images ? "accuracy" : "token_accuracy", m.accuracy()}, {"lr", lr},
                            {"grad_norm", grad_norm}, {images ? "images_per_s" : "tokens_per_s", per_s}};
    if (r_.dp) f.push_back({"mpi_wait_s_per_step", r_.dp->take_wait_per_step()});  // under mpirun only
    log_.write(f);
    train_.x.push_back(static_cast<double>(step));
    train_.y.push_back(m.mean_loss());
  }
  void val_record(int64_t step, const EvalResult& e) {
    auto f = eval_fields(e, r_.task);
    f.insert(f.begin(), {{"step", step}, {"epoch", epoch(step)}, {"split", "val"}});
    log_.write(f);
    val_.x.push_back(static_cast<double>(step));
    val_.y.push_back(e.loss);
  }
  void redraw() {
    if (r_.root && !r_.o.plot_path.empty())
      plot_curves(r_.o.plot_path, {train_, val_}, "step", "loss", "qkv-train " + r_.o.task + " (" + r_.model->arch() + ")");
  }
  void progress(int64_t step, const std::string& extra) {
    progress_extra_ = extra;
    progress_.update(step - start_, extra);
  }
  void progress_done() { progress_.finish(progress_extra_); }

 private:
  const Run& r_;
  const int64_t start_;  // the step the run starts from
  MetricsLog log_;
  Curve train_{"train", {}, {}}, val_{"val", {}, {}};
  Progress progress_;
  std::string progress_extra_;
};

// ---------------------------------------------------------------------------
// The loop.

TrainResult evaluate_only(Run& r) {
  const TrainOptions& o = r.o;
  const Data& d = r.data;
  const Examples& ex = d.has_val ? *d.val : *d.train;
  EvalResult e = evaluate(*r.model, ex, o, r.task == nn::Task::seq2seq, r.dp.get());
  auto f = eval_fields(e, r.task);
  // "val" for the --val / --val-fraction data, else "eval": the given file as a whole.
  f.insert(f.begin(), MetricsLog::Field("split", d.has_val ? "val" : "eval"));
  f.emplace_back("file", d.has_val ? d.val_name : files_name(o.train_paths));
  if (r.root) std::printf("%s\n", MetricsLog::format(f).c_str());
  spdlog::info("{}: {}", d.has_val ? d.val_name : files_name(o.train_paths), describe_eval(e, r.task));
  TrainResult res;
  res.val = e;
  return res;
}

TrainResult train(Run& r) {
  const TrainOptions& o = r.o;
  const int64_t total = o.steps;
  const int64_t eval_every = o.eval_every > 0 ? o.eval_every : std::max<int64_t>(1, total / 10);
  const int64_t log_every = o.log_every > 0 ? o.log_every : std::max<int64_t>(1, total / 100);
  const bool images_task = r.task == nn::Task::classify;
  const bool decode_metrics = r.task == nn::Task::seq2seq && r.data.has_val;
  Checkpoints ckpt(r, saved_settings(o));
  Outputs out(r);
  install_stop_handler();

  TrainResult res;
  int64_t step = r.ts.step, cur_epoch = -1;
  std::vector<std::vector<int64_t>> plan;
  LossMeter window;
  int64_t window_tokens = 0, run_tokens = 0;
  double window_time = 0, train_time = 0;  // throughput counts the training steps alone
  // Batch m of the run (epoch m / bpe): optimizer step s takes batches s K .. s K + K - 1.
  auto batch_at = [&](int64_t m) {
    const int64_t epoch = m / r.bpe, pos = m % r.bpe;
    if (epoch != cur_epoch) {
      r.data.train->set_epoch(o.seed, epoch);
      plan = o.batch_tokens > 0
                 ? token_epoch(r.token_batches, o.seed, epoch, o.shuffle)
                 : plan_epoch(r.data.train->size(), o.batch_size, o.seed, epoch, o.shuffle, o.bucket ? &r.lengths : nullptr);
      cur_epoch = epoch;
    }
    return r.data.train->batch(plan[pos]);
  };
  while (step < total) {
    const double t_begin = now_s();
    const double lr = r.sched.lr(step);
    StepResult s;
    int64_t images = 0;  // in the step's batches
    if (o.accum == 1) {
      const nn::Batch batch = batch_at(step);
      images = batch.B;
      if (r.dp) {  // this rank's share of the batch; dropout drawn as the whole batch's
        std::optional<nn::BatchSlice> slice;
        const nn::Batch mine = r.dp->part(batch, slice);
        s = train_step(*r.model, *r.opt, mine, lr, o.clip, r.dp.get());
      } else {
        s = train_step(*r.model, *r.opt, batch, lr, o.clip);
      }
    } else {
      Accumulator acc(*r.model);
      for (int64_t k = 0; k < o.accum; ++k) {
        const nn::Batch batch = batch_at(step * o.accum + k);
        images += batch.B;
        if (r.dp) {
          std::optional<nn::BatchSlice> slice;
          const nn::Batch mine = r.dp->part(batch, slice);
          acc.add(mine, !r.dp->stand_in(), k + 1 == o.accum ? r.dp.get() : nullptr);
        } else {
          acc.add(batch);
        }
      }
      s = acc.step(*r.opt, lr, o.clip, r.dp.get());
    }
    const double loss = s.stats.loss_sum, norm = s.grad_norm;
    if (!std::isfinite(loss))
      ckpt.diverged(std::string("loss is ") + (std::isnan(loss) ? "NaN" : "infinite"), step + 1);
    const double t_write = now_s();
    ckpt.loss_was_finite();
    const double write_time = now_s() - t_write;
    if (!std::isfinite(norm))
      ckpt.diverged(std::string("gradient norm is ") + (std::isnan(norm) ? "NaN" : "infinite"), step + 1);
    ++step;
    window.add(s.stats.loss_sum, s.stats.count, s.stats.correct);
    const int64_t tokens = images_task ? images : s.stats.count;
    window_tokens += tokens;
    run_tokens += tokens;
    res.last_train_loss = s.stats.mean_loss();
    const double step_time = now_s() - t_begin - write_time;
    window_time += step_time;
    train_time += step_time;
    out.progress(step, fmt::format("loss {:.4f} lr {:.2e} {} {}", s.stats.mean_loss(), lr,
                                   format_rate(train_time > 0 ? run_tokens / train_time : 0), images_task ? "img/s" : "tok/s"));

    if (step % log_every == 0 || step == total) {
      out.train_record(step, window, lr, norm, window_time > 0 ? window_tokens / window_time : 0.0);
      window = LossMeter();
      window_tokens = 0;
      window_time = 0;
    }
    const bool eval_now = r.data.has_val && (step % eval_every == 0 || step == total);
    if (eval_now) {
      const bool decode = decode_metrics && (decodes(r.metric) || !o.decode_final_only || step == total);
      res.val = evaluate(*r.model, *r.data.val, o, decode, r.dp.get());
      out.val_record(step, res.val);
      spdlog::info("step {}/{} val {}{}", step, total, describe_eval(res.val, r.task),
                   ckpt.validated(step, res.val));
      if (o.early_stopping > 0 && r.validations_since_best >= o.early_stopping && step < total) {
        spdlog::info("early stopping at step {}: {} validations without a better {} than {:.4f}", step,
                     r.validations_since_best, o.valid_metric,
                     higher_is_better(r.metric) ? -r.best_val : r.best_val);
        out.redraw();
        ckpt.final(step);
        res.stopped_early = true;
        break;
      }
    }
    if (step % log_every == 0 || eval_now || step == total) out.redraw();
    ckpt.step_done(step);
    int sig = stop_requested();
    if (r.dp) sig = static_cast<int>(r.dp->comm().max(sig));  // a signal to any rank stops every rank
    if (sig != 0 && step < total) {
      ckpt.stopped(step);
      spdlog::info("stopped by {} at step {} of {}; checkpoint {} saved (exit status {}); continue with --resume {}",
                   stop_signal_name(sig), step, total, o.output, 128 + sig, o.output);
      res.stopped_by_signal = true;
      res.stop_signal = sig;
      break;
    }
  }
  res.tokens_per_s = train_time > 0 ? run_tokens / train_time : 0;
  res.steps_done = step;
  res.best_val_loss = r.best_val;
  if (res.stopped_by_signal) return res;
  out.progress_done();
  spdlog::info("done: {} steps, final train loss {:.4f}, {:.4g} {}/s; checkpoint {}", step, res.last_train_loss,
               res.tokens_per_s, images_task ? "images" : "tokens", o.output);
  if (r.data.has_val)
    spdlog::info("validation: {}{}", describe_eval(res.val, r.task),
                 ckpt.best_path().empty() ? "" : "; best checkpoint " + ckpt.best_path());
  if (!o.plot_path.empty()) spdlog::info("plot: {}", o.plot_path);
  if (!o.metrics_path.empty()) spdlog::info("metrics: {}", o.metrics_path);
  return res;
}

}  // namespace

std::string stepped_path(const std::string& output, int64_t step) {
  const std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + "-step" + std::to_string(step) + p.extension().string())).string();
}

void prune_stepped(const std::string& output, int64_t keep) {
  namespace fs = std::filesystem;
  const fs::path p(output);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string head = p.stem().string() + "-step", ext = p.extension().string();
  std::vector<std::pair<int64_t, fs::path>> found;  // (step, file)
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= head.size() + ext.size() || name.compare(0, head.size(), head) != 0 ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
      continue;
    const std::string digits = name.substr(head.size(), name.size() - head.size() - ext.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) continue;
    found.emplace_back(std::stoll(digits), e.path());
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) fs::remove(found[i].second, ec);
}

std::string best_path_for(const std::string& output) {
  size_t slash = output.find_last_of('/');
  size_t dot = output.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return output + ".best";
  return output.substr(0, dot) + ".best" + output.substr(dot);
}

StepResult train_step(nn::Model& model, nn::Optimizer& opt, const nn::Batch& batch, double lr, double clip,
                      StepReduce* reduce) {
  StepResult r;
  model.params().zero_grad();
  r.stats = model.forward(batch, true);
  const float scale = reduce ? static_cast<float>(reduce->whole_batch(r.stats)) : 1.0f;
  r.grad_norm = NAN;
  if (!std::isfinite(r.stats.loss_sum)) return r;
  if (reduce) reduce->backward_begins(model.params());
  model.backward(scale);
  if (reduce) reduce->gradients(model.params());
  r.grad_norm = nn::clip_grad_norm(model.params(), clip);
  if (!std::isfinite(r.grad_norm)) return r;
  opt.step(lr);
  r.stepped = true;
  return r;
}

TrainResult run_training(const TrainOptions& o) {
  Run r;
  setup(r, o);
  return r.o.eval_only ? evaluate_only(r) : train(r);
}

}  // namespace qkv::train
