#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/clock.h"
#include "core/error.h"
#include "core/progress.h"
#include "dist/comm.h"
#include "io/file_io.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/decoding.h"
#include "nn/model.h"
#include "train/data.h"
#include "train/examples.h"
#include "train/metrics.h"
#include "train/model_keys.h"
#include "train/order.h"
#include "train/plot.h"
#include "train/signals.h"

namespace qkv::train {
namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

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
    train->set_augment(o.augment, o.seed);
    d.train = std::move(train);
    if (d.has_val) d.val = std::make_unique<PatchExamples>(d.patches_val);
  }
  if (d.train->size() == 0) throw DataError(files_name(o.train_paths) + ": no training examples");
  if (d.has_val && d.val->size() == 0) throw DataError(d.val_name + ": no validation examples");
}

// Validation loss/accuracy over the whole set (or val_batches batches), in file order.
EvalResult evaluate(nn::Model& model, const Examples& ex, const TrainOptions& o, bool decode) {
  EvalResult r;
  LossMeter m;
  auto batches = plan_epoch(ex.size(), o.batch_size, o.seed, 0, false, nullptr);
  int64_t nb = static_cast<int64_t>(batches.size());
  if (o.val_batches > 0) nb = std::min(nb, o.val_batches);
  for (int64_t i = 0; i < nb; ++i) {
    nn::Stats s = model.forward(ex.batch(batches[i]), false);
    m.add(s.loss_sum, s.count, s.correct);
  }
  r.loss = m.mean_loss();
  r.perplexity = m.perplexity();
  r.accuracy = m.accuracy();
  r.targets = m.targets;
  if (decode) {
    const auto& pe = dynamic_cast<const PairExamples&>(ex);
    SequenceScorer scorer;
    int64_t max_ref = 0;
    for (int64_t i = 0; i < pe.size(); ++i) {
      std::vector<int32_t> ref = pe.reference(i);
      max_ref = std::max<int64_t>(max_ref, static_cast<int64_t>(ref.size()));
      scorer.add_reference(pe.source(i), ref);
    }
    const auto& sources = scorer.sources();
    int64_t n = static_cast<int64_t>(sources.size());
    if (o.decode_limit > 0) n = std::min(n, o.decode_limit);
    const Vocab& tv = pe.tgt_vocab();
    // greedy decoding through the decoding layer, as qkv-decode does (nn/decoding.h)
    auto dec = model.decoder();
    nn::SearchOptions so;
    so.eos = tv.eos_id;
    so.max_len = std::min<int64_t>(max_ref + 10, dec->max_positions() - 1);
    for (int64_t a = 0; a < n; a += o.batch_size) {
      const int64_t B = std::min(o.batch_size, n - a);
      std::vector<nn::Request> reqs;
      for (int64_t k = 0; k < B; ++k) reqs.push_back({sources[a + k], {tv.bos_id}, {}});
      auto hyps = nn::decode(*dec, reqs, so);
      for (int64_t k = 0; k < B; ++k) scorer.score(sources[a + k], hyps[k][0].ids);
    }
    r.wer = scorer.wer();
    r.ter = scorer.ter();
    r.decoded = scorer.scored();
  }
  return r;
}

std::string describe_eval(const EvalResult& e, nn::Task task) {
  std::string s = "loss " + fmt("%.4f", e.loss);
  if (task == nn::Task::classify) s += " accuracy " + fmt("%.2f%%", 100 * e.accuracy);
  else s += " ppl " + fmt("%.3f", e.perplexity) + " token-acc " + fmt("%.2f%%", 100 * e.accuracy);
  if (e.wer >= 0) s += " WER " + fmt("%.2f%%", 100 * e.wer) + " TER " + fmt("%.2f%%", 100 * e.ter);
  return s;
}

std::vector<MetricsLog::Field> eval_fields(const EvalResult& e, nn::Task task) {
  std::vector<MetricsLog::Field> f = {{"loss", e.loss}};
  if (task != nn::Task::classify) f.emplace_back("perplexity", e.perplexity);
  f.emplace_back(task == nn::Task::classify ? "accuracy" : "token_accuracy", e.accuracy);
  if (e.wer >= 0) {
    f.emplace_back("wer", e.wer);
    f.emplace_back("ter", e.ter);
    f.emplace_back("decoded", e.decoded);
  }
  return f;
}

// The trainer settings a checkpoint records (and a resume compares).
nn::Config settings_of(const TrainOptions& o, int64_t total_steps, int64_t context) {
  nn::Config c;
  c.set("task", nn::ConfigValue(o.task));
  c.set("lm_mode", nn::ConfigValue(o.lm_mode));
  c.set("context", nn::ConfigValue(context));
  c.set("window_stride", nn::ConfigValue(o.window_stride));
  c.set("max_src_len", nn::ConfigValue(o.max_src_len));
  c.set("max_tgt_len", nn::ConfigValue(o.max_tgt_len));
  c.set("bucket", o.bucket);
  c.set("shuffle", o.shuffle);
  c.set("batch_size", nn::ConfigValue(o.batch_size));
  c.set("total_steps", nn::ConfigValue(total_steps));
  c.set("seed", nn::ConfigValue(static_cast<int64_t>(o.seed)));
  c.set("lr", nn::ConfigValue(o.schedule.base_lr));
  c.set("schedule", nn::ConfigValue(o.schedule.kind));
  c.set("warmup", nn::ConfigValue(o.schedule.warmup));
  c.set("min_lr", nn::ConfigValue(o.schedule.min_lr));
  c.set("clip", nn::ConfigValue(o.clip));
  c.set("val_fraction", nn::ConfigValue(o.val_fraction));
  if (o.task == "vit") c.set("augment", nn::ConfigValue(str(o.augment)));
  return c;
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

// Metrics records of a resumed run: keep those up to the checkpoint's step.
void truncate_metrics(const std::string& path, int64_t step) {
  if (io::file_size(path) < 0) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    size_t p = line.find("\"step\": ");
    if (p != std::string::npos && std::strtoll(line.c_str() + p + 8, nullptr, 10) > step) continue;
    kept += line + "\n";
  }
  io::write_atomically(path, kept.data(), kept.size());
}

// Curves from an existing metrics file (for the plot of a resumed run).
void read_curves(const std::string& path, Curve& train, Curve& val) {
  if (path.empty() || io::file_size(path) < 0) return;
  std::ifstream in(path);
  std::string line;
  auto num = [&](const std::string& key, double& v) {
    size_t p = line.find("\"" + key + "\": ");
    if (p == std::string::npos) return false;
    char* end = nullptr;
    const char* s = line.c_str() + p + key.size() + 4;
    v = std::strtod(s, &end);
    return end != s;
  };
  while (std::getline(in, line)) {
    double step, loss;
    if (!num("step", step) || !num("loss", loss)) continue;
    Curve& c = line.find("\"split\": \"val\"") != std::string::npos ? val : train;
    c.x.push_back(step);
    c.y.push_back(loss);
  }
}

// --resume: every setting the command line leaves out comes from the
// checkpoint, so `qkv-train lm data.h5 --resume ck.h5` continues the run as it
// was started; a setting given anew wins (warn_setting_changes() says so).
void apply_saved_settings(TrainOptions& o, const nn::Config& saved, const nn::OptimConfig& optim) {
  auto is_given = [&](const std::string& k) {
    return std::find(o.given.begin(), o.given.end(), k) != o.given.end();
  };
  auto num = [&](const char* k, auto& field) {
    const nn::ConfigValue* v = saved.find(k);
    if (!v || is_given(k)) return;
    if (auto* i = std::get_if<int64_t>(v)) field = static_cast<std::decay_t<decltype(field)>>(*i);
    else if (auto* d = std::get_if<double>(v)) field = static_cast<std::decay_t<decltype(field)>>(*d);
  };
  auto str = [&](const char* k, std::string& field) {
    const nn::ConfigValue* v = saved.find(k);
    if (v && !is_given(k))
      if (auto* s = std::get_if<std::string>(v)) field = *s;
  };
  num("context", o.context);
  num("window_stride", o.window_stride);
  num("max_src_len", o.max_src_len);
  num("max_tgt_len", o.max_tgt_len);
  num("bucket", o.bucket);
  num("shuffle", o.shuffle);
  num("batch_size", o.batch_size);
  num("seed", o.seed);
  num("lr", o.schedule.base_lr);
  num("warmup", o.schedule.warmup);
  num("min_lr", o.schedule.min_lr);
  num("clip", o.clip);
  num("val_fraction", o.val_fraction);
  str("lm_mode", o.lm_mode);
  str("schedule", o.schedule.kind);
  std::string augment = qkv::train::str(o.augment);
  str("augment", augment);
  o.augment = parse_augment(augment);
  if (!is_given("total_steps")) {
    num("total_steps", o.steps);
    o.epochs = 0;
  }
  if (!is_given("optim")) o.optim = optim;
}

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

}  // namespace

std::string best_path_for(const std::string& output) {
  size_t slash = output.find_last_of('/');
  size_t dot = output.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return output + ".best";
  return output.substr(0, dot) + ".best" + output.substr(dot);
}

TrainResult run_training(const TrainOptions& given) {
  // A build without MPI refuses to be one of several processes (dist/launch.h).
  if (int n = dist::Comm::world().size(); n > 1)
    throw UsageError("started as one of " + std::to_string(n) +
                     " processes, but qkv-train does not split a run across processes yet; run one process");
  TrainOptions o = given;
  o.train_paths = expand_list_files(o.train_paths.empty() ? std::vector<std::string>{"-"} : o.train_paths);
  if (o.output.empty() || o.output == "-") throw UsageError("--output must be a file path (checkpoints are rewritten during training)");
  if (o.batch_size <= 0) throw UsageError("--batch-size must be positive");
  if (!o.init_path.empty() && !o.resume_path.empty()) throw UsageError("give --init or --resume, not both");
  const nn::ArchSpec& command = nn::command_arch(o.task);  // the subcommand's default architecture
  const std::string arch = o.arch.empty() ? command.name : o.arch;
  const nn::Task want_task = command.task;
  if (nn::arch_spec(arch).task != want_task)
    throw UsageError("--arch " + arch + " is a " + nn::task_name(nn::arch_spec(arch).task) + " model; qkv-train " +
                     o.task + " trains " + nn::task_name(want_task) + " models");

  std::unique_ptr<io::H5In> ckpt;
  const std::string ckpt_path = !o.resume_path.empty() ? o.resume_path : o.init_path;
  if (!ckpt_path.empty()) {
    ckpt = std::make_unique<io::H5In>(ckpt_path);
    std::string file_arch = nn::read_arch(*ckpt);
    if (file_arch != arch)
      throw DataError(ckpt_path + ": is a '" + file_arch + "' checkpoint; qkv-train " + o.task + " trains '" + arch +
                      "' models");
    if (!o.resume_path.empty()) {
      if (!nn::has_optimizer(*ckpt) || !nn::has_train_state(*ckpt))
        throw DataError(o.resume_path + ": has no optimizer/train state to resume from (a final or exported model?); "
                        "use --init to start a new run from its parameters");
      apply_saved_settings(o, nn::load_train_state(*ckpt).extra, nn::read_optimizer_config(*ckpt));
    }
  }

  // ---- Data first (its dimensions size a new model), then the model.
  Data data;
  read_data(o, want_task, data);
  std::unique_ptr<nn::Model> model;
  if (ckpt) {
    nn::Config file_cfg = nn::read_model_config(*ckpt);
    if (!o.init_path.empty()) {
      // Starting a new run from these weights: training-only settings may change.
      nn::Config shape_flags;
      for (const auto& [k, v] : o.model.items()) {
        if (is_training_only_key(k)) file_cfg.set(k, v);
        else shape_flags.set(k, v);
      }
      check_flags_match_checkpoint(shape_flags, file_cfg, ckpt_path);
      try {
        model = nn::make_model(arch, file_cfg, o.seed);
      } catch (const UsageError& e) {
        throw DataError(ckpt_path + ": " + e.what());
      }
      nn::load_params(*ckpt, *model);
    } else {
      check_flags_match_checkpoint(o.model, file_cfg, ckpt_path);
      model = nn::load_model(*ckpt);
    }
  } else {
    nn::Config cfg = o.model;
    if (want_task == nn::Task::language_model)
      set_data_dims_lm(arch, cfg, data.lm_train.vocab, o.context);
    else if (want_task == nn::Task::seq2seq)
      set_data_dims_seq2seq(arch, cfg, data.pairs_train.src.vocab, data.pairs_train.tgt.vocab);
    else
      set_data_dims_vit(arch, cfg, data.patches_train);
    model = nn::make_model(arch, cfg, o.seed);
  }
  if (model->task() != want_task)
    throw DataError(ckpt_path + ": '" + model->arch() + "' is a " + nn::task_name(model->task()) +
                    " model, qkv-train " + o.task + " needs a " + nn::task_name(want_task) + " model");
  const nn::Task task = model->task();
  int64_t context = o.context;
  if (task == nn::Task::language_model) {
    int64_t model_ctx = nn::dims(*model).max_len;
    if (context == 0) context = model_ctx;
    if (context > model_ctx)
      throw UsageError("--context " + std::to_string(context) + " exceeds the model's maximum of " +
                       std::to_string(model_ctx));
  }

  prepare_data(o, *model, context, data);
  const Examples& train_ex = *data.train;
  const int64_t bpe = batches_per_epoch(train_ex.size(), o.batch_size);
  int64_t total = o.steps > 0 ? o.steps
                              : static_cast<int64_t>(std::ceil((o.epochs > 0 ? o.epochs : 1.0) * static_cast<double>(bpe)));
  std::vector<int64_t> lengths;
  if (o.bucket) lengths = train_ex.lengths();
  bool decode_metrics = task == nn::Task::seq2seq && data.has_val;

  // ---- Optimizer and state.
  nn::Optimizer opt(o.optim, model->params());
  nn::Schedule sched = o.schedule;
  sched.total = total;
  sched.validate();
  nn::TrainState ts;
  ts.data_rng = Rng(o.seed).state();
  double best_val = INFINITY;
  if (!o.resume_path.empty()) {
    nn::OptimConfig saved = nn::read_optimizer_config(*ckpt);
    if (saved.kind != o.optim.kind)
      throw UsageError(o.resume_path + ": was trained with --optimizer " + saved.kind + ", not " + o.optim.kind);
    nn::load_optimizer(*ckpt, opt, model->params());
    ts = nn::load_train_state(*ckpt);
    model->rng().set_state(ts.model_rng);
    warn_setting_changes(ts.extra, settings_of(o, total, context), o.resume_path);
    if (const nn::ConfigValue* b = ts.extra.find("best_val_loss"))
      if (auto* d = std::get_if<double>(b); d && *d >= 0) best_val = *d;  // -1: no validation yet
    if (ts.step != opt.steps())
      throw DataError(o.resume_path + ": train state step " + std::to_string(ts.step) + " disagrees with optimizer step " +
                      std::to_string(opt.steps()));
    spdlog::info("resuming {} at step {} of {}", o.resume_path, ts.step, total);
  }
  ckpt.reset();

  spdlog::info("{} model: {} parameters; {} training examples ({} batches/epoch){}", model->arch(),
               model->params().num_params(), train_ex.size(), bpe,
               data.has_val ? ", " + std::to_string(data.val->size()) + " validation" : std::string());

  TrainResult res;
  // ---- Evaluation only.
  if (o.eval_only) {
    const Examples& ex = data.has_val ? *data.val : train_ex;
    EvalResult e = evaluate(*model, ex, o, task == nn::Task::seq2seq);
    auto f = eval_fields(e, task);
    // "val" for the --val / --val-fraction data, else "eval": the given file as a whole.
    f.insert(f.begin(), MetricsLog::Field("split", data.has_val ? "val" : "eval"));
    f.emplace_back("file", data.has_val ? data.val_name : files_name(o.train_paths));
    std::printf("%s\n", MetricsLog::format(f).c_str());
    spdlog::info("{}: {}", data.has_val ? data.val_name : files_name(o.train_paths), describe_eval(e, task));
    res.val = e;
    return res;
  }

  // ---- Outputs.
  const std::string best_path = o.best_path == "none" ? "" : o.best_path.empty() ? best_path_for(o.output) : o.best_path;
  if (!o.resume_path.empty() && !o.metrics_path.empty()) truncate_metrics(o.metrics_path, ts.step);
  MetricsLog mlog;
  if (!o.metrics_path.empty()) mlog.open(o.metrics_path, !o.resume_path.empty());
  Curve train_curve{"train", {}, {}}, val_curve{"val", {}, {}};
  if (!o.resume_path.empty()) read_curves(o.metrics_path, train_curve, val_curve);
  const int64_t eval_every = o.eval_every > 0 ? o.eval_every : std::max<int64_t>(1, total / 10);
  const int64_t log_every = o.log_every > 0 ? o.log_every : std::max<int64_t>(1, total / 100);

  nn::Config settings = settings_of(o, total, context);
  int64_t last_saved = ts.step;
  std::string last_good = o.resume_path;  // the newest checkpoint of this run on disk
  auto save = [&](const std::string& path, int64_t step) {
    const float* p = model->params().params();
    for (int64_t i = 0, n = model->params().size(); i < n; ++i)
      if (!std::isfinite(p[i]))
        throw DataError("parameters became non-finite at step " + std::to_string(step) + "; training stopped. " +
                        (last_good.empty() ? std::string("No checkpoint was written yet.")
                                           : "The last good checkpoint, step " + std::to_string(last_saved) + ", is " +
                                                 last_good + " (left as it was).") +
                        " Try a lower --lr, --clip 1 or a longer --warmup.");
    ts.step = step;
    ts.epoch = step / bpe;
    ts.data_position = step % bpe;
    ts.model_rng = model->rng().state();
    ts.extra = settings;
    ts.extra.set("best_val_loss", nn::ConfigValue(std::isfinite(best_val) ? best_val : -1.0));
    nn::save_checkpoint(path, *model, &opt, &ts);
  };
  auto redraw = [&] {
    if (!o.plot_path.empty())
      plot_curves(o.plot_path, {train_curve, val_curve}, "step", "loss",
                  "qkv-train " + o.task + " (" + model->arch() + ")");
  };

  install_stop_handler();
  PendingCheckpoint pending;
  int64_t step = ts.step;
  const int64_t start_step = step;
  int64_t cur_epoch = -1;
  auto stop_bad = [&](const std::string& what) {
    throw DataError(what + " at step " + std::to_string(step + 1) + "; training stopped. " +
                    (last_good.empty() ? std::string("No checkpoint was written yet (see --save-every).")
                                       : "The last good checkpoint, step " + std::to_string(last_saved) + ", is " +
                                             last_good + " (left as it was).") +
                    " Try a lower --lr, --clip 1 or a longer --warmup.");
  };
  std::vector<std::vector<int64_t>> plan;
  LossMeter window;
  int64_t window_tokens = 0;
  // Throughput counts the training steps alone (not validation or checkpoint writes).
  double window_time = 0, train_time = 0;
  int64_t run_tokens = 0;
  double last_norm = 0;
  Progress progress("train", total - start_step, "steps");
  std::string progress_extra;

  while (step < total) {
    int64_t epoch = step / bpe, pos = step % bpe;
    if (epoch != cur_epoch) {
      data.train->set_epoch(o.seed, epoch);
      plan = plan_epoch(train_ex.size(), o.batch_size, o.seed, epoch, o.shuffle, o.bucket ? &lengths : nullptr);
      cur_epoch = epoch;
    }
    const double t_begin = now_s();
    double t_write = 0;
    nn::Batch batch = train_ex.batch(plan[pos]);
    model->params().zero_grad();
    nn::Stats s = model->forward(batch, true);
    if (!std::isfinite(s.loss_sum)) stop_bad(std::string("loss is ") + (std::isnan(s.loss_sum) ? "NaN" : "infinite"));
    if (pending.held()) {
      int64_t at = pending.step();
      double tw0 = now_s();
      pending.write(*model, opt, [&] { save(o.output, at); });
      t_write = now_s() - tw0;
      last_saved = at;
      last_good = o.output;
    }
    model->backward(1.0f);
    last_norm = nn::clip_grad_norm(model->params(), o.clip);
    if (!std::isfinite(last_norm)) stop_bad(std::string("gradient norm is ") + (std::isnan(last_norm) ? "NaN" : "infinite"));
    double lr = sched.lr(step);
    opt.step(lr);
    ++step;
    window.add(s.loss_sum, s.count, s.correct);
    int64_t tokens = task == nn::Task::classify ? batch.B : s.count;
    window_tokens += tokens;
    run_tokens += tokens;
    res.last_train_loss = s.mean_loss();

    double step_time = now_s() - t_begin - t_write;
    window_time += step_time;
    train_time += step_time;
    double rate = train_time > 0 ? run_tokens / train_time : 0;
    progress_extra = "loss " + fmt("%.4f", s.mean_loss()) + " lr " + fmt("%.2e", lr) + " " + format_rate(rate) +
                     (task == nn::Task::classify ? " img/s" : " tok/s");
    progress.update(step - start_step, progress_extra);

    if (step % log_every == 0 || step == total) {
      mlog.write({{"step", step}, {"epoch", static_cast<double>(step) / static_cast<double>(bpe)}, {"split", "train"},
                  {"loss", window.mean_loss()}, {task == nn::Task::classify ? "accuracy" : "token_accuracy", window.accuracy()},
                  {"lr", lr}, {"grad_norm", last_norm},
                  {task == nn::Task::classify ? "images_per_s" : "tokens_per_s", window_time > 0 ? window_tokens / window_time : 0.0}});
      train_curve.x.push_back(static_cast<double>(step));
      train_curve.y.push_back(window.mean_loss());
      window = LossMeter();
      window_tokens = 0;
      window_time = 0;
    }
    bool eval_now = data.has_val && (step % eval_every == 0 || step == total);
    if (eval_now) {
      bool decode = decode_metrics && (!o.decode_final_only || step == total);
      EvalResult e = evaluate(*model, *data.val, o, decode);
      res.val = e;
      auto f = eval_fields(e, task);
      f.insert(f.begin(), {{"step", step}, {"epoch", static_cast<double>(step) / static_cast<double>(bpe)}, {"split", "val"}});
      mlog.write(f);
      val_curve.x.push_back(static_cast<double>(step));
      val_curve.y.push_back(e.loss);
      std::string line = "step " + std::to_string(step) + "/" + std::to_string(total) + " val " + describe_eval(e, task);
      if (e.loss < best_val) {
        best_val = e.loss;
        if (!best_path.empty()) {
          save(best_path, step);
          line += " (best, saved " + best_path + ")";
        }
      }
      spdlog::info("{}", line);
    }
    if (step % log_every == 0 || eval_now || step == total) redraw();
    if (step == total) {
      save(o.output, step);
      last_saved = step;
      last_good = o.output;
    } else if (o.save_every > 0 && step % o.save_every == 0) {
      pending.hold(*model, opt, step);  // written once the next step's loss proves these parameters sound
    }
    if (int sig = stop_requested(); sig != 0 && step < total) {
      pending.drop();
      save(o.output, step);
      spdlog::info("stopped by {} at step {} of {}; checkpoint {} saved (exit status {}); continue with --resume {}",
                   stop_signal_name(sig), step, total, o.output, 128 + sig, o.output);
      res.stopped_by_signal = true;
      res.stop_signal = sig;
      break;
    }
  }
  if (!res.stopped_by_signal) progress.finish(progress_extra);
  res.tokens_per_s = train_time > 0 ? run_tokens / train_time : 0;
  res.steps_done = step;
  res.best_val_loss = best_val;
  if (!res.stopped_by_signal) {
    spdlog::info("done: {} steps, final train loss {:.4f}, {:.4g} {}/s; checkpoint {}", step, res.last_train_loss,
                 res.tokens_per_s, task == nn::Task::classify ? "images" : "tokens", o.output);
    if (data.has_val)
      spdlog::info("validation: {}{}", describe_eval(res.val, task),
                   best_path.empty() ? "" : "; best checkpoint " + best_path);
    if (!o.plot_path.empty()) spdlog::info("plot: {}", o.plot_path);
    if (!o.metrics_path.empty()) spdlog::info("metrics: {}", o.metrics_path);
  }
  return res;
}

}  // namespace qkv::train
