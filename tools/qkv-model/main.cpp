// qkv-model: create, describe and run model checkpoints (gpt, transformer,
// vit, rnn) outside training. All the work is in libcore/nn.
#include <iostream>

#include "cli/tool.h"
#include "core/error.h"
#include "io/h5.h"
#include "nn/average.h"
#include "nn/batch_io.h"
#include "nn/checkpoint.h"

using namespace qkv;

int main(int argc, char** argv) {
  cli::Tool tool("qkv-model", "Create, describe and run qkv model checkpoints (qkv_format \"model\").");
  tool.examples(
      "qkv-model archs\n"
      "  qkv-model init gpt --set n_layer=2 --set d_model=64 --seed 1 -o gpt.h5\n"
      "  qkv-model info gpt.h5\n"
      "  qkv-model forward gpt.h5 batch.h5 -o logits.h5\n"
      "  qkv-model forward vit.h5 test-patches.h5 -b 256 -o logits.h5\n"
      "  qkv-model forward gpt.h5 tokens.h5 --context 64 -o logits.h5\n"
      "  qkv-model average run/model-step*.h5 -o avg.h5");

  CLI::App* archs = tool.app().add_subcommand("archs", "list the architectures and their hyperparameters");

  std::string arch, out_path;
  std::vector<std::string> sets;
  uint64_t seed = 0;
  CLI::App* init = tool.app().add_subcommand("init", "write a freshly initialized model checkpoint");
  init->add_option("arch", arch, "architecture (see: qkv-model archs)")->required();
  init->add_option("--set", sets, "hyperparameter KEY=VALUE (repeatable)");
  init->add_option("--seed", seed, "initialization seed")->capture_default_str();
  tool.add_output(*init, out_path);

  std::string ckpt;
  CLI::App* info = tool.app().add_subcommand("info", "print a checkpoint's architecture, hyperparameters and parameter table");
  info->add_option("checkpoint", ckpt, "model checkpoint; - for stdin")->required();

  std::string batch_path, fwd_out;
  nn::ForwardOptions fo;
  CLI::App* fwd = tool.app().add_subcommand(
      "forward", "run a checkpoint over a file in evaluation mode, batch after batch: logits and loss");
  fwd->add_option("checkpoint", ckpt, "model checkpoint")->required();
  fwd->add_option("input", batch_path,
                  "a batch file, or the tokens (lm), token_pairs (seq2seq) or patches (vit) file the other tools write "
                  "(docs/FORMATS.md); - for stdin")
      ->required();
  fwd->add_option("-b,--batch-size", fo.batch_size, "examples per forward")->capture_default_str();
  fwd->add_option("--context", fo.context, "tokens files: tokens per example (default: the model's maximum)");
  fwd->add_option("--window-stride", fo.window_stride,
                  "tokens files, --lm-mode stream: windows start every N tokens (default: the context)");
  fwd->add_option("--lm-mode", fo.lm_mode, "tokens files: stream (windows over the concatenated sequences) or sequence (one per example)")
      ->capture_default_str();
  fwd->add_option("--max-src-len", fo.max_src_len, "token_pairs files: truncate source sequences (0 = no limit)");
  fwd->add_option("--max-tgt-len", fo.max_tgt_len, "token_pairs files: truncate target sequences (0 = no limit)");
  tool.add_output(*fwd, fwd_out);

  std::vector<std::string> to_average;
  std::string avg_out;
  CLI::App* average = tool.app().add_subcommand(
      "average", "the parameter mean of checkpoints of one model (fairseq's average_checkpoints; no optimizer state)");
  average->add_option("checkpoints", to_average, "model checkpoints of one architecture and shape")->required();
  tool.add_output(*average, avg_out);
  tool.app().require_subcommand(1);

  return tool.run(argc, argv, [&] {
    if (archs->parsed()) {
      for (const auto& a : nn::arch_names()) {
        std::cout << a << ": " << nn::arch_spec(a).summary << "\n  defaults: " << nn::default_config(a).to_string()
                  << "\n";
      }
    } else if (init->parsed()) {
      nn::Config c;
      for (const auto& s : sets) c.parse_assignment(s);
      auto m = nn::make_model(arch, c, seed);
      io::H5Out out(out_path, "model");
      nn::write_model(out, *m);
      out.commit();
    } else if (average->parsed()) {
      std::unique_ptr<nn::Model> m = nn::average_checkpoints(to_average);
      io::H5Out out(avg_out, "model");
      nn::write_model(out, *m);
      out.commit();
    } else if (info->parsed()) {
      io::H5In in(ckpt);
      std::cout << nn::describe_checkpoint(in);
    } else {
      io::H5In in(ckpt);
      auto m = nn::load_model(in);
      io::H5In bin(batch_path);
      io::H5StreamOut out(fwd_out, "model_output");
      nn::forward_file(bin, *m, fo, out);
      out.commit();
    }
  });
}
