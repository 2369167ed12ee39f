// qkv-train: train (or evaluate) gpt, transformer, vit and rnn models on
// qkv token / patch files. All the work is in libcore/train.
#include <spdlog/spdlog.h>

#include <map>
#include <optional>

#include "cli/tool.h"
#include "core/error.h"
#include "io/file_io.h"
#include "train/cmudict.h"
#include "train/trainer.h"

namespace {

using qkv::train::TrainOptions;

// A model hyperparameter flag: --flag VALUE sets the config key(s) `keys`
// (comma-separated) only when given; the rest keep the model's defaults.
struct ModelFlag {
  const char* flag;
  const char* keys;
  const char* help;
  std::string value;
};

std::vector<ModelFlag> model_flags(const std::string& task) {
  if (task == "rnn")
    return {{"--cell", "cell", "recurrent cell: gru | lstm (default gru)", {}},
            {"--layers", "n_layer", "stacked recurrent layers, encoder and decoder (default 1)", {}},
            {"--d-emb", "d_emb", "embedding width (default 128)", {}},
            {"--hidden", "d_hidden", "hidden state width (default 256)", {}},
            {"--d-attn", "d_attn", "additive attention width (default: --hidden)", {}},
            {"--bidirectional", "bidirectional", "bidirectional encoder: 1 | 0 (default 1)", {}},
            {"--dropout", "dropout", "dropout probability (default 0.1)", {}},
            {"--tie-embeddings", "tie_weights", "output layer tied to the target embedding: 1 | 0 (default 0)", {}},
            {"--label-smoothing", "label_smoothing", "label smoothing epsilon (default 0)", {}}};
  std::vector<ModelFlag> f = {
      {"--heads", "n_head", "attention heads", {}},
      {"--d-model", "d_model", "model width", {}},
      {"--d-ff", "d_ff", "feed-forward width", {}},
      {"--dropout", "dropout", "dropout probability", {}},
      {"--norm", "norm", "LayerNorm placement: pre | post", {}},
      {"--activation", "activation", "feed-forward activation: gelu | relu | gelu_tanh", {}}};
  if (task == "lm") {
    f.push_back({"--layers", "n_layer", "transformer blocks (default 4)", {}});
    f.push_back({"--pos", "pos", "positional encoding: learned | sinusoidal (default learned)", {}});
    f.push_back({"--tie-embeddings", "tie_weights", "output layer tied to the token embedding: 1 | 0 (default 1)", {}});
    f.push_back({"--bias", "bias", "biases in linear layers and norms: 1 | 0 (default 1)", {}});
    f.push_back({"--max-context", "block_size", "longest context the model takes (default: --context, else 64)", {}});
  } else if (task == "seq2seq") {
    f.push_back({"--layers", "n_encoder_layers,n_decoder_layers", "encoder and decoder blocks (default 6)", {}});
    f.push_back({"--enc-layers", "n_encoder_layers", "encoder blocks", {}});
    f.push_back({"--dec-layers", "n_decoder_layers", "decoder blocks", {}});
    f.push_back({"--tie-embeddings", "tie_output", "output layer tied to the target embedding: 1 | 0 (default 0)", {}});
    f.push_back({"--share-embeddings", "share_embeddings", "one embedding for source and target: 1 | 0 (default 0)", {}});
    f.push_back({"--max-len", "max_len", "longest source/target the model takes (default 512)", {}});
  } else {
    f.push_back({"--layers", "n_layer", "transformer blocks", {}});
    f.push_back({"--pool", "pool", "what the head reads: cls ([CLS] token) | mean (average of the patch outputs) "
                                   "(default cls)", {}});
  }
  f.push_back({"--label-smoothing", "label_smoothing", "label smoothing epsilon (default 0)", {}});
  return f;
}

struct Command {
  CLI::App* app = nullptr;
  TrainOptions o;
  std::vector<ModelFlag> flags;
  std::vector<std::string> sets;
  std::string optimizer = "adamw";
  double lr = 0, weight_decay = -1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, momentum = 0.9;
  bool nesterov = false, no_shuffle = false;
  std::string augment = "none";
};

void add_train_command(CLI::App& app, const std::string& task, const std::string& what, Command& c) {
  c.o.task = task;
  CLI::App* s = c.app = app.add_subcommand(task, what);
  TrainOptions& o = c.o;
  s->add_option("train", o.train_paths,
                std::string(task == "vit"  ? "training patches file (qkv-patchify)"
                            : task == "lm" ? "training tokens file (qkv-tokenize encode)"
                                           : "training token_pairs file (qkv-tokenize encode --tsv)") +
                    "; - or none for stdin; several: the shards 0..N-1 of --shard K/N in order, read as one "
                    "dataset; @LIST: a file listing them, one per line");
  // Data.
  s->add_option("--val", o.val_path, "validation file (same kind as the training file)")->group("Data");
  s->add_option("--val-fraction", o.val_fraction,
                task == "lm" ? "hold out this share of the training file: its last tokens (stream mode) or a "
                               "seeded random choice of sequences"
                             : "hold out a seeded random share of the training examples")
      ->group("Data");
  s->add_flag("--no-shuffle", c.no_shuffle, "visit examples in file order (default: seeded shuffle each epoch)")
      ->group("Data");
  if (task == "vit")
    s->add_option("--augment", c.augment,
                  "training-image augmentation, a comma list: flip (left-right, p 1/2), shift=N (random translation "
                  "by up to N pixels, black border: crop with padding), erase=P (random erasing of one rectangle "
                  "with probability P); e.g. flip,shift=2,erase=0.25 (default none; validation images untouched)")
        ->group("Data");
  if (task == "lm") {
    s->add_option("--context", o.context, "tokens per training example (default: the model's block size)")
        ->group("Data");
    s->add_option("--window-stride", o.window_stride,
                  "stream mode: training windows start every S tokens (default: the context, no overlap; "
                  "1: every position, as nanoGPT's random windows)")
        ->check(CLI::NonNegativeNumber)
        ->group("Data");
    s->add_option("--lm-mode", o.lm_mode, "stream: windows over the concatenated sequences; sequence: one per example")
        ->check(CLI::IsMember({"stream", "sequence"}))
        ->capture_default_str()
        ->group("Data");
  }
  if (task == "seq2seq" || task == "rnn") {
    s->add_option("--max-src-len", o.max_src_len, "truncate source sequences (0 = no limit)")->group("Data");
    s->add_option("--max-tgt-len", o.max_tgt_len, "truncate target sequences (0 = no limit)")->group("Data");
    s->add_flag("--bucket", o.bucket, "batch examples of similar length together (less padding)")->group("Data");
  }
  // Model.
  c.flags = model_flags(task);
  for (auto& f : c.flags) s->add_option(f.flag, f.value, f.help)->group("Model");
  s->add_option("--arch", o.arch, "architecture (default: " + qkv::train::default_arch(task) + ")")->group("Model");
  s->add_option("--set", c.sets, "any model hyperparameter as KEY=VALUE (repeatable)")->group("Model");
  s->add_option("--init", o.init_path, "start from this checkpoint's parameters (new optimizer, step 0)")->group("Model");
  s->add_option("--resume", o.resume_path, "continue the run saved in this checkpoint exactly")->group("Model");
  // Optimization.
  s->add_option("--optimizer", c.optimizer, "adamw | sgd")->check(CLI::IsMember({"adamw", "sgd"}))->capture_default_str()
      ->group("Optimization");
  s->add_option("--lr", c.lr, "peak learning rate (default 1e-3 adamw, 0.1 sgd)")->group("Optimization");
  s->add_option("--schedule", o.schedule.kind, "constant | cosine | noam (inverse square root)")
      ->check(CLI::IsMember({"constant", "cosine", "noam"}))
      ->capture_default_str()
      ->group("Optimization");
  s->add_option("--warmup", o.schedule.warmup, "linear warmup steps")->capture_default_str()->group("Optimization");
  s->add_option("--min-lr", o.schedule.min_lr, "cosine: final learning rate")->capture_default_str()->group("Optimization");
  s->add_option("--weight-decay", c.weight_decay, "weight decay (adamw: decoupled; default 0.01 adamw, 0 sgd)")
      ->group("Optimization");
  s->add_option("--beta1", c.beta1, "adamw beta1")->capture_default_str()->group("Optimization");
  s->add_option("--beta2", c.beta2, "adamw beta2")->capture_default_str()->group("Optimization");
  s->add_option("--eps", c.eps, "adamw epsilon")->capture_default_str()->group("Optimization");
  s->add_option("--momentum", c.momentum, "sgd momentum (0 = plain SGD)")->capture_default_str()->group("Optimization");
  s->add_flag("--nesterov", c.nesterov, "sgd: Nesterov momentum")->group("Optimization");
  s->add_option("--clip", o.clip, "clip the global gradient norm to this (0 = off)")->capture_default_str()
      ->group("Optimization");
  s->add_option("-b,--batch-size", o.batch_size, "examples per step")->capture_default_str()->group("Optimization");
  s->add_option("--steps", o.steps, "optimizer steps (default: --epochs)")->group("Optimization");
  s->add_option("--epochs", o.epochs, "passes over the training data when --steps is not given (default 1)")
      ->group("Optimization");
  s->add_option("--seed", o.seed, "seed of initialization, dropout and data order")->capture_default_str()
      ->group("Optimization");
  // Output.
  s->add_option("-o,--output", o.output, "checkpoint, rewritten atomically every --save-every steps and at the end")
      ->capture_default_str()
      ->group("Output");
  s->add_option("--best", o.best_path, "checkpoint of the best validation loss (default OUTPUT.best.h5; none = off)")
      ->group("Output");
  s->add_option("--save-every", o.save_every, "steps between checkpoints (0: only at the end)")->group("Output");
  s->add_option("--eval-every", o.eval_every, "steps between validations (default: 10 per run)")->group("Output");
  s->add_option("--log-every", o.log_every, "steps between training metric records (default: 100 per run)")
      ->group("Output");
  s->add_option("--val-batches", o.val_batches, "validate on at most this many batches (0 = all)")->group("Output");
  if (task == "seq2seq" || task == "rnn") {
    s->add_option("--decode-limit", o.decode_limit, "greedy-decode at most this many validation sources (0 = all)")
        ->group("Output");
    s->add_flag("--decode-final-only", o.decode_final_only, "word/token error rates only at the end of training")
        ->group("Output");
  }
  s->add_option("--metrics", o.metrics_path, "append metrics as JSON lines to this file")->group("Output");
  s->add_option("--plot", o.plot_path, "draw train/validation loss curves to this PNG")->group("Output");
  s->add_flag("--eval-only", o.eval_only,
              "evaluate the --init/--resume checkpoint on the validation data, else on the given file as a whole; one JSON line on stdout")
      ->group("Output");
}

void finish_options(Command& c) {
  TrainOptions& o = c.o;
  for (auto& f : c.flags) {
    if (f.value.empty()) continue;
    std::string keys = f.keys;
    for (size_t a = 0; a <= keys.size();) {
      size_t b = std::min(keys.find(',', a), keys.size());
      o.model.parse_assignment(keys.substr(a, b - a) + "=" + f.value);
      a = b + 1;
    }
  }
  for (const auto& s : c.sets) o.model.parse_assignment(s);
  o.shuffle = !c.no_shuffle;
  o.augment = qkv::train::parse_augment(c.augment);
  o.optim.kind = c.optimizer;
  o.optim.beta1 = c.beta1;
  o.optim.beta2 = c.beta2;
  o.optim.eps = c.eps;
  o.optim.momentum = c.momentum;
  o.optim.nesterov = c.nesterov;
  bool sgd = c.optimizer == "sgd";
  o.optim.weight_decay = c.weight_decay >= 0 ? c.weight_decay : sgd ? 0.0 : 0.01;
  o.schedule.base_lr = c.lr > 0 ? c.lr : sgd ? 0.1 : 1e-3;
  if (c.app->count("--lr") && c.lr <= 0) throw qkv::UsageError("--lr must be positive");
  if (o.schedule.kind == "noam") o.schedule.kind = "inv_sqrt";
  // Which settings the command line gives (a resumed run takes the others from its checkpoint).
  static const std::pair<const char*, const char*> setting_flags[] = {
      {"--context", "context"},       {"--lm-mode", "lm_mode"},  {"--window-stride", "window_stride"},         {"--max-src-len", "max_src_len"},
      {"--max-tgt-len", "max_tgt_len"}, {"--bucket", "bucket"},         {"--no-shuffle", "shuffle"},
      {"--batch-size", "batch_size"}, {"--steps", "total_steps"},       {"--epochs", "total_steps"},
      {"--seed", "seed"},             {"--lr", "lr"},                   {"--schedule", "schedule"},
      {"--warmup", "warmup"},         {"--min-lr", "min_lr"},           {"--clip", "clip"},
      {"--val-fraction", "val_fraction"}, {"--optimizer", "optim"},     {"--beta1", "optim"},
      {"--beta2", "optim"},           {"--eps", "optim"},               {"--momentum", "optim"},
      {"--nesterov", "optim"},        {"--weight-decay", "optim"},
      {"--augment", "augment"}};
  for (const auto& [flag, key] : setting_flags) {
    CLI::Option* opt = nullptr;
    try {
      opt = c.app->get_option(flag);
    } catch (const CLI::OptionNotFound&) {
      continue;  // not a flag of this task
    }
    if (opt->count() > 0) o.given.emplace_back(key);
  }
  if (o.eval_only && o.init_path.empty() && o.resume_path.empty())
    throw qkv::UsageError("--eval-only needs the model to evaluate: --init CKPT (or --resume CKPT)");
}

}  // namespace

int main(int argc, char** argv) {
  qkv::cli::Tool tool("qkv-train", "Train attention models (gpt, transformer, vit, rnn) on qkv token and patch files.");
  tool.examples(
      "qkv-train lm train.h5 --val-fraction 0.1 --layers 4 --heads 4 --d-model 128 --context 64 \\\n"
      "      --steps 2000 --lr 1e-3 --schedule cosine --warmup 100 -o lm.h5 --metrics lm.jsonl --plot lm.png\n"
      "  qkv-train seq2seq pairs.h5 --val val_pairs.h5 --epochs 10 --schedule noam --warmup 4000 -o g2p.h5\n"
      "  qkv-train vit fmnist_train.h5 --val fmnist_test.h5 --epochs 5 -o vit.h5\n"
      "  qkv-train rnn pairs.h5 --val val_pairs.h5 --cell lstm --hidden 256 -o g2p_rnn.h5\n"
      "  qkv-train lm train.h5 --resume lm.h5 --steps 4000          # continue a run\n"
      "  qkv-train vit fmnist_test.h5 --init vit.h5 --eval-only      # evaluate\n"
      "  qkv-train prepare-g2p /usr/share/festival/dicts/cmu/cmudict-0.4.out -o data/g2p");
  std::map<std::string, Command> cmds;
  add_train_command(tool.app(), "lm", "language model (gpt) on a tokens file", cmds["lm"]);
  add_train_command(tool.app(), "seq2seq", "encoder-decoder transformer on a token_pairs file", cmds["seq2seq"]);
  add_train_command(tool.app(), "vit", "vision transformer on a patches file", cmds["vit"]);
  add_train_command(tool.app(), "rnn", "GRU/LSTM encoder-decoder with additive attention on a token_pairs file",
                    cmds["rnn"]);

  CLI::App* prep = tool.app().add_subcommand(
      "prepare-g2p", "CMUdict (Festival format) to grapheme-to-phoneme train.tsv / val.tsv, split by a hash of the word");
  std::string dict, out_dir = "data/g2p";
  int val_permille = 100;
  prep->add_option("dict", dict, "cmudict-0.4.out (Debian package festlex-cmu)")->required();
  prep->add_option("-o,--output-dir", out_dir, "folder for train.tsv and val.tsv")->capture_default_str();
  prep->add_option("--val-permille", val_permille, "validation share in 1/1000 of the words")->capture_default_str();

  int stopped_by = 0;  // a signal that stopped training after its checkpoint was saved
  int rc = tool.run(argc, argv, [&] {
    if (prep->parsed()) {
      auto bytes = qkv::io::read_all(dict, 1ull << 30);
      std::string text(bytes.begin(), bytes.end());
      auto entries = qkv::train::parse_cmudict(text, dict);
      auto st = qkv::train::write_g2p_split(entries, out_dir, val_permille);
      spdlog::info("{}: {} pronunciations of {} words -> {}/train.tsv ({} lines, {} words), {}/val.tsv ({} lines, "
                   "{} words)",
                   dict, entries.size(), st.train_words + st.val_words, out_dir, st.train_lines, st.train_words,
                   out_dir, st.val_lines, st.val_words);
      return;
    }
    for (auto& [name, c] : cmds) {
      if (!c.app->parsed()) continue;
      finish_options(c);
      stopped_by = qkv::train::run_training(c.o).stop_signal;
    }
  });
  // Stopped by SIGTERM/SIGINT/SIGUSR1: the checkpoint is saved, but the run did
  // not finish; 128 + signal tells scripts and job schedulers so (143 for
  // SIGTERM, 138 for SIGUSR1: scripts/slurm/train.sh requeues on it).
  return rc == 0 && stopped_by ? 128 + stopped_by : rc;
}
