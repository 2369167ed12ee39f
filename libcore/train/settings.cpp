#include "train/settings.h"

#include <algorithm>
#include <type_traits>

#include "core/error.h"
#include "train/augment.h"
#include "train/valid_metric.h"

namespace qkv::train {
namespace {

constexpr unsigned bit(nn::Task t) { return 1u << static_cast<unsigned>(t); }
constexpr unsigned kLm = bit(nn::Task::language_model), kSeq2seq = bit(nn::Task::seq2seq),
                   kVit = bit(nn::Task::classify);

// A table row, built by name: Row("lr", "--lr", ...).def(0.0).saved(12).
struct Row {
  RunSetting s;
  Row(const char* key, const char* flag, Group g, RunSetting::Field (*field)(TrainOptions&), const char* help) {
    s.key = key;
    s.flag = flag;
    s.group = g;
    s.field = field;
    s.help = help;
  }
  Row& def(RunSetting::Value v) { s.def = v; return *this; }
  Row& only(unsigned tasks) { s.tasks = tasks; return *this; }
  Row& saved(int place) { s.saved = place; return *this; }
  Row& saved_by_own_tasks(int place) { s.saved = place; s.saved_by_own_tasks = true; return *this; }
  Row& saved_when_set(int place) { s.saved = place; s.saved_when_set = true; return *this; }
  Row& inverted() { s.inverted = true; return *this; }
  Row& shown() { s.show_default = true; return *this; }
  Row& non_negative() { s.non_negative = true; return *this; }
  Row& output_file() { s.output_file = true; return *this; }
  Row& one_of(std::vector<std::string> c) { s.choices = std::move(c); return *this; }
  Row& lm_help(const char* h) { s.help_lm = h; return *this; }
  operator RunSetting() const { return s; }
};

#define QKV_FIELD(member) [](TrainOptions& o) -> RunSetting::Field { return &o.member; }

std::vector<RunSetting> make_table() {
  const Group data = Group::data, model = Group::model, optimization = Group::optimization, output = Group::output;
  return {
      Row("task", "", data, QKV_FIELD(task), "the qkv-train subcommand").saved(1),
      // Data.
      Row("val", "--val", data, QKV_FIELD(val_path), "validation file (same kind as the training file)"),
      Row("val_fraction", "--val-fraction", data, QKV_FIELD(val_fraction),
          "hold out a seeded random share of the training examples")
          .lm_help("hold out this share of the training file: its last tokens (stream mode) or a seeded random "
                   "choice of sequences")
          .saved(17),
      Row("shuffle", "--no-shuffle", data, QKV_FIELD(shuffle),
          "visit examples in file order (default: seeded shuffle each epoch)")
          .def(true).inverted().saved(8),
      Row("augment", "--augment", data, QKV_FIELD(augment),
          "training-image augmentation, a comma list: flip (left-right, p 1/2), shift=N (random translation by up "
          "to N pixels, black border: crop with padding), erase=P (random erasing of one rectangle with "
          "probability P); e.g. flip,shift=2,erase=0.25 (default none; validation images untouched)")
          .def("none").only(kVit).saved_by_own_tasks(18),
      Row("context", "--context", data, QKV_FIELD(context),
          "tokens per training example (default: the model's block size)")
          .only(kLm).saved(3),
      Row("window_stride", "--window-stride", data, QKV_FIELD(window_stride),
          "stream mode: training windows start every S tokens (default: the context, so each token is an input "
          "once and a window's last target is the next window's first input; 1: every position, as nanoGPT's "
          "random windows)")
          .only(kLm).non_negative().saved(4),
      Row("lm_mode", "--lm-mode", data, QKV_FIELD(lm_mode),
          "stream: windows over the concatenated sequences; sequence: one per example")
          .def("stream").only(kLm).one_of({"stream", "sequence"}).shown().saved(2),
      Row("max_src_len", "--max-src-len", data, QKV_FIELD(max_src_len), "truncate source sequences (0 = no limit)")
          .only(kSeq2seq).saved(5),
      Row("max_tgt_len", "--max-tgt-len", data, QKV_FIELD(max_tgt_len), "truncate target sequences (0 = no limit)")
          .only(kSeq2seq).saved(6),
      Row("bucket", "--bucket", data, QKV_FIELD(bucket), "batch examples of similar length together (less padding)")
          .only(kSeq2seq).saved(7),
      // Model (after the architecture's own flags).
      Row("init", "--init", model, QKV_FIELD(init_path),
          "start from this checkpoint's parameters (new optimizer, step 0)"),
      Row("resume", "--resume", model, QKV_FIELD(resume_path), "continue the run saved in this checkpoint exactly"),
      // Optimization. The optimizer's settings are saved in /optimizer (restored together: "optim").
      Row("optim", "--optimizer", optimization, QKV_FIELD(optim.kind), "adamw | sgd")
          .def("adamw").one_of({"adamw", "sgd"}).shown(),
      Row("lr", "--lr", optimization, QKV_FIELD(schedule.base_lr), "peak learning rate (default 1e-3 adamw, 0.1 sgd)")
          .saved(12),  // 0: by optimizer (resolve_settings)
      Row("schedule", "--schedule", optimization, QKV_FIELD(schedule.kind),
          "constant | cosine | noam (inverse square root)")
          .def("constant").one_of({"constant", "cosine", "noam"}).shown().saved(13),
      Row("warmup", "--warmup", optimization, QKV_FIELD(schedule.warmup), "linear warmup steps").shown().saved(14),
      Row("min_lr", "--min-lr", optimization, QKV_FIELD(schedule.min_lr), "cosine: final learning rate")
          .shown().saved(15),
      Row("optim", "--weight-decay", optimization, QKV_FIELD(optim.weight_decay),
          "weight decay (adamw: decoupled; default 0.01 adamw, 0 sgd)")
          .def(-1.0),  // by optimizer (resolve_settings)
      Row("optim", "--beta1", optimization, QKV_FIELD(optim.beta1), "adamw beta1").def(0.9).shown(),
      Row("optim", "--beta2", optimization, QKV_FIELD(optim.beta2), "adamw beta2").def(0.999).shown(),
      Row("optim", "--eps", optimization, QKV_FIELD(optim.eps), "adamw epsilon").def(1e-8).shown(),
      Row("optim", "--momentum", optimization, QKV_FIELD(optim.momentum), "sgd momentum (0 = plain SGD)")
          .def(0.9).shown(),
      Row("optim", "--nesterov", optimization, QKV_FIELD(optim.nesterov), "sgd: Nesterov momentum"),
      Row("clip", "--clip", optimization, QKV_FIELD(clip), "clip the global gradient norm to this (0 = off)")
          .def(1.0).shown().saved(16),
      Row("batch_size", "-b,--batch-size", optimization, QKV_FIELD(batch_size), "examples per step")
          .def(int64_t{32}).shown().saved(9),
      Row("accum", "--accum", optimization, QKV_FIELD(accum),
          "gradient accumulation (fairseq --update-freq): K batches per optimizer step, whose gradient is that of "
          "their union (the loss averaged over the counted targets of all K); --steps, --warmup and the schedule "
          "count optimizer steps")
          .def(int64_t{1}).shown().saved_when_set(21),
      Row("grad_bucket", "--grad-bucket", optimization, QKV_FIELD(grad_bucket),
          "under mpirun: the gradients are summed over processes in buckets of at least N floats, cut where "
          "layers begin, each starting as soon as the backward has finished its layers (PyTorch DDP's "
          "bucket_cap_mb); 0 = one sum after the whole backward, for benchmarks (the parameters are the same bits "
          "either way)")
          .def(int64_t{65536}).shown().non_negative(),
      Row("batch_tokens", "--batch-tokens", optimization, QKV_FIELD(batch_tokens),
          "training batches by token count (fairseq --max-tokens): examples sorted by length (ties in seeded "
          "order) and cut into batches of at most N padded tokens, counted as batch size x its longest example, "
          "an example's length being the longer of its source and target (pairs) or its window / sequence (lm); "
          "formed once per run, visited in a seeded order each epoch; an example longer than N is an error; -b "
          "then sizes only validation batches (0 = off)")
          .only(kLm | kSeq2seq).non_negative().saved_when_set(22),
      Row("total_steps", "--steps", optimization, QKV_FIELD(steps), "optimizer steps (default: --epochs)").saved(10),
      Row("total_steps", "--epochs", optimization, QKV_FIELD(epochs),
          "passes over the training data when --steps is not given (default 1)"),
      Row("seed", "--seed", optimization, QKV_FIELD(seed), "seed of initialization, dropout and data order")
          .def(int64_t{1}).shown().saved(11),
      // Output.
      Row("output", "-o,--output", output, QKV_FIELD(output),
          "checkpoint, rewritten atomically every --save-every steps and at the end")
          .def("model.h5").shown().output_file(),
      Row("best", "--best", output, QKV_FIELD(best_path),
          "checkpoint of the best validation loss (default OUTPUT.best.h5; none = off)"),
      Row("save_every", "--save-every", output, QKV_FIELD(save_every), "steps between checkpoints (0: only at the end)"),
      Row("eval_every", "--eval-every", output, QKV_FIELD(eval_every), "steps between validations (default: 10 per run)"),
      Row("log_every", "--log-every", output, QKV_FIELD(log_every),
          "steps between training metric records (default: 100 per run)"),
      Row("val_batches", "--val-batches", output, QKV_FIELD(val_batches),
          "validate on at most this many batches (0 = all)"),
      Row("decode_limit", "--decode-limit", output, QKV_FIELD(decode_limit),
          "greedy-decode at most this many validation sources (0 = all)")
          .only(kSeq2seq),
      Row("decode_final_only", "--decode-final-only", output, QKV_FIELD(decode_final_only),
          "word/token error rates only at the end of training")
          .only(kSeq2seq),
      Row("valid_metric", "--valid-metric", output, QKV_FIELD(valid_metric),
          "what chooses the --best checkpoint and --early-stopping: loss (lowest), wer (lowest: share of decoded "
          "sequences equal to no reference), bleu or chrf (highest: corpus BLEU / chrF2 of the decoded token ids "
          "against the references, as qkv-decode score --tokenize none on ids written as numbers); bleu, chrf and "
          "wer decode the validation sources at every validation (seq2seq, rnn)")
          .def("loss").one_of({"loss", "bleu", "chrf", "wer"}).shown().saved_when_set(23),
      Row("valid_beam", "--valid-beam", output, QKV_FIELD(valid_beam),
          "beam size of validation decoding (1 = greedy; as qkv-decode --beam)")
          .def(int64_t{1}).only(kSeq2seq).shown().saved_when_set(24),
      Row("keep_last", "--keep-last", output, QKV_FIELD(keep_last),
          "also keep the last N periodic checkpoints (--save-every) and the final one, named by step: "
          "OUTPUT-step<S>.h5, the older ones deleted (for qkv-model average; 0 = none)")
          .non_negative().saved_when_set(19),
      Row("early_stopping", "--early-stopping", output, QKV_FIELD(early_stopping),
          "stop after N validations in a row without a better --valid-metric (0 = off)")
          .non_negative().saved_when_set(20),
      Row("metrics", "--metrics", output, QKV_FIELD(metrics_path), "append metrics as JSON lines to this file")
          .output_file(),
      Row("plot", "--plot", output, QKV_FIELD(plot_path), "draw train/validation loss curves to this PNG")
          .output_file(),
      Row("eval_only", "--eval-only", output, QKV_FIELD(eval_only),
          "evaluate the --init/--resume checkpoint on the validation data, else on the given file as a whole; one "
          "JSON line on stdout"),
  };
}

#undef QKV_FIELD

// Assigns v (a default, or a value read from a checkpoint: int64, double or string) to a field.
template <class T>
void assign(T* field, const RunSetting::Value& v) {
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::monostate>) *field = T{};
        else if constexpr (std::is_same_v<T, std::string> == std::is_same_v<X, const char*>) *field = static_cast<T>(x);
      },
      v);
}

void assign_field(RunSetting::Field f, const RunSetting::Value& v) {
  std::visit([&](auto* p) { assign(p, v); }, f);
}

// The saved rows in their /train_state order.
std::vector<const RunSetting*> saved_rows() {
  std::vector<const RunSetting*> rows;
  for (const auto& s : run_settings())
    if (s.saved > 0) rows.push_back(&s);
  std::sort(rows.begin(), rows.end(), [](const RunSetting* a, const RunSetting* b) { return a->saved < b->saved; });
  return rows;
}

bool saved_by(const RunSetting& s, const TrainOptions& o) {
  return !s.saved_by_own_tasks || s.applies(nn::command_arch(o.task).task);
}

}  // namespace

const std::vector<RunSetting>& run_settings() {
  static const std::vector<RunSetting> table = make_table();
  return table;
}

TrainOptions::TrainOptions() {
  for (const auto& s : run_settings()) assign_field(s.field(*this), s.def);
}

bool TrainOptions::is_given(const std::string& key) const {
  return std::find(given.begin(), given.end(), key) != given.end();
}

void resolve_settings(TrainOptions& o) {
  const bool sgd = o.optim.kind == "sgd";
  if (o.is_given("lr") && o.schedule.base_lr <= 0) throw UsageError("--lr must be positive");
  if (o.schedule.base_lr <= 0) o.schedule.base_lr = sgd ? 0.1 : 1e-3;
  if (o.optim.weight_decay < 0) o.optim.weight_decay = sgd ? 0.0 : 0.01;
  if (o.schedule.kind == "noam") o.schedule.kind = "inv_sqrt";
  o.augment = str(parse_augment(o.augment));
  if (o.keep_last > 0 && o.save_every <= 0 && o.is_given("keep_last"))  // a resume may leave --save-every out
    throw UsageError("--keep-last " + std::to_string(o.keep_last) + " keeps periodic checkpoints: give --save-every too");
  if (o.accum < 1)
    throw UsageError("--accum " + std::to_string(o.accum) + ": give at least 1 batch per optimizer step");
  if (o.early_stopping > 0 && !o.eval_only && o.val_path.empty() && o.val_fraction <= 0)
    throw UsageError("--early-stopping watches the validation loss: give --val FILE or --val-fraction");
  if (o.valid_beam < 1)
    throw UsageError("--valid-beam " + std::to_string(o.valid_beam) + ": give a beam of at least 1 (1 = greedy)");
  const ValidMetric metric = valid_metric_from_name(o.valid_metric);
  if (decodes(metric) && nn::command_arch(o.task).task != nn::Task::seq2seq)
    throw UsageError("--valid-metric " + o.valid_metric + " scores decoded sequences: qkv-train seq2seq and rnn " +
                     "only (" + o.task + " has --valid-metric loss)");
  if (decodes(metric) && !o.eval_only && o.val_path.empty() && o.val_fraction <= 0)
    throw UsageError("--valid-metric " + o.valid_metric + " scores validation data: give --val FILE or --val-fraction");
}

nn::Config saved_settings(const TrainOptions& given) {
  TrainOptions o = given, defaults;  // field() hands out pointers into its argument
  nn::Config c;
  for (const RunSetting* s : saved_rows()) {
    if (!saved_by(*s, o)) continue;
    std::visit(
        [&](auto* p) {
          using T = std::decay_t<decltype(*p)>;
          if (s->saved_when_set && *p == *std::get<T*>(s->field(defaults))) return;
          if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) c.set(s->key, *p);
          else if constexpr (std::is_same_v<T, double>) c.set(s->key, nn::ConfigValue(*p));
          else c.set(s->key, nn::ConfigValue(static_cast<int64_t>(*p)));
        },
        s->field(o));
  }
  return c;
}

void restore_settings(TrainOptions& o, const nn::Config& saved, const nn::OptimConfig& optim) {
  for (const RunSetting* s : saved_rows()) {
    const nn::ConfigValue* v = saved.find(s->key);
    if (!v || o.is_given(s->key) || s->flag[0] == 0) continue;
    RunSetting::Field f = s->field(o);
    if (auto* i = std::get_if<int64_t>(v)) {
      if (!std::holds_alternative<std::string*>(f)) assign_field(f, *i);
    } else if (auto* d = std::get_if<double>(v)) {
      if (!std::holds_alternative<std::string*>(f)) assign_field(f, *d);
    } else if (std::holds_alternative<std::string*>(f)) {
      assign_field(f, std::get<std::string>(*v).c_str());
    }
  }
  if (!o.is_given("total_steps")) o.epochs = 0;  // the saved total_steps (or, without it, one epoch)
  if (!o.is_given("optim")) o.optim = optim;
}

}  // namespace qkv::train
