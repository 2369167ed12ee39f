// qkv-decode: score hypotheses against references (BLEU, chrF, WER, SER).
#include <iostream>

#include "cli/tool.h"
#include "score/score.h"

int main(int argc, char** argv) {
  using namespace qkv::score;
  qkv::cli::Tool tool("qkv-decode", "Score translations, transcriptions and G2P outputs against references.");
  tool.examples(
      "qkv-decode score --ref refs.txt hyps.txt\n"
      "  qkv-decode score --ref refs.txt --metrics bleu,chrf --lowercase hyps.txt\n"
      "  qkv-decode score --ref ref1.txt --ref ref2.txt --json hyps.txt\n"
      "  qkv-decode score --ref phones.tsv --tab-refs --tokenize none --metrics wer,ser g2p_hyps.txt");
  CLI::App& app = tool.app();

  CLI::App* score = app.add_subcommand(
      "score",
      "corpus BLEU and chrF2 as sacreBLEU 2.x computes them (its signature printed), WER (edits over tokens / "
      "reference tokens) and SER (share of lines equal to no reference)");
  std::vector<std::string> refs;
  std::string hyps = "-", metrics = "bleu,chrf,wer,ser", tokenize = "13a";
  ScoreOptions so;
  score->add_option("hyps", hyps, "hypotheses, one per line; - for stdin")->capture_default_str();
  score->add_option("-r,--ref", refs, "references, one per line, aligned with the hypotheses (repeat for more)")
      ->required()
      ->allow_extra_args(false);
  score->add_option("-m,--metrics", metrics, "comma-separated: bleu, chrf, wer, ser")->capture_default_str();
  score->add_option("--tokenize", tokenize, "tokens of BLEU, WER and SER: 13a (mteval-v13a) or none (split on spaces)")
      ->check(CLI::IsMember({"13a", "none"}))
      ->capture_default_str();
  score->add_flag("--lowercase", so.lowercase, "compare lowercased text");
  score->add_flag("--tab-refs", so.tab_refs, "a reference line holds one or more references separated by tabs");
  score->add_flag("--json", so.json, "one JSON object keyed by metric (scores in percent)");

  app.require_subcommand(1);
  return tool.run(argc, argv, [&] {
    if (score->parsed()) {
      so.metrics = parse_metrics(metrics);
      so.tokenize = tokenize_from_name(tokenize);
      run_score(refs, hyps, so, std::cout);
    }
  });
}
