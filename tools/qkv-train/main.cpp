// qkv-train: train (or evaluate) gpt, transformer, vit and rnn models on
// qkv token / patch files. All the work is in libcore/train.
#include <spdlog/spdlog.h>

#include <map>
#include <type_traits>
#include <variant>

#include "cli/tool.h"
#include "core/error.h"
#include "io/file_io.h"
#include "nn/arch.h"
#include "train/cmudict.h"
#include "train/trainer.h"

namespace {

using qkv::train::Group;
using qkv::train::RunSetting;
using qkv::train::TrainOptions;

// A model hyperparameter flag of the subcommand's architecture (nn::ArchFlag) and its value, if given.
struct ModelFlag {
  qkv::nn::ArchFlag flag;
  std::string value;
};

struct Command {
  CLI::App* app = nullptr;
  TrainOptions o;
  std::vector<ModelFlag> flags;
  std::vector<std::string> sets;
  std::vector<std::pair<const RunSetting*, CLI::Option*>> settings;  // their flags, to see which were given
};

// The flags of the run settings (train/settings.h) in one --help group.
void add_settings(Command& c, qkv::nn::Task kind, Group group, const char* group_name) {
  for (const RunSetting& r : qkv::train::run_settings()) {
    if (r.group != group || !r.flag[0] || !r.applies(kind)) continue;
    const std::string help = r.help_for(kind);
    CLI::Option* opt = std::visit(
        [&](auto* field) -> CLI::Option* {
          if constexpr (std::is_same_v<decltype(field), bool*>) {
            if (r.inverted) return c.app->add_flag_callback(r.flag, [field] { *field = false; }, help);
            return c.app->add_flag(r.flag, *field, help);
          } else {
            return c.app->add_option(r.flag, *field, help);
          }
        },
        r.field(c.o));
    if (!r.choices.empty()) opt->check(CLI::IsMember(r.choices));
    if (r.non_negative) opt->check(CLI::NonNegativeNumber);
    if (r.output_file) opt->check(qkv::cli::writable());
    if (r.show_default) opt->capture_default_str();
    opt->group(group_name);
    c.settings.emplace_back(&r, opt);
  }
}

void add_train_command(CLI::App& app, const std::string& task, Command& c) {
  using qkv::nn::Task;
  const qkv::nn::ArchSpec& spec = qkv::nn::command_arch(task);
  const Task kind = spec.task;
  c.o.task = task;
  CLI::App* s = c.app = app.add_subcommand(task, spec.command_help);
  s->add_option("train", c.o.train_paths,
                std::string(kind == Task::classify ? "training patches file (qkv-patchify)"
                            : kind == Task::language_model ? "training tokens file (qkv-tokenize encode)"
                                           : "training token_pairs file (qkv-tokenize encode --tsv)") +
                    "; - or none for stdin; several: the shards 0..N-1 of --shard K/N in order, read as one "
                    "dataset; @LIST: a file listing them, one per line");
  add_settings(c, kind, Group::data, "Data");
  for (const auto& f : spec.flags) c.flags.push_back({f, {}});
  for (auto& f : c.flags) s->add_option(f.flag.flag, f.value, qkv::nn::flag_help(spec, f.flag))->group("Model");
  s->add_option("--arch", c.o.arch, "architecture (default: " + spec.name + ")")->group("Model");
  s->add_option("--set", c.sets, "any model hyperparameter as KEY=VALUE (repeatable)")->group("Model");
  add_settings(c, kind, Group::model, "Model");
  add_settings(c, kind, Group::optimization, "Optimization");
  add_settings(c, kind, Group::output, "Output");
}

// The model hyperparameters and which settings the command line gives (a
// resumed run takes the others from its checkpoint).
void finish_options(Command& c) {
  for (const auto& f : c.flags)
    if (!f.value.empty()) qkv::nn::set_flag(c.o.model, f.flag, f.value);
  for (const auto& s : c.sets) c.o.model.parse_assignment(s);
  for (const auto& [setting, opt] : c.settings)
    if (opt->count() > 0) c.o.given.emplace_back(setting->key);
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
  for (const auto& task : qkv::nn::train_commands())
    add_train_command(tool.app(), task, cmds[task]);

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
