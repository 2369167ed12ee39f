// qkv-decode: decode with a trained model (greedy, beam search, sampling) and
// score hypotheses against references (BLEU, chrF, WER, SER).
#include <iostream>

#include "cli/tool.h"
#include "core/error.h"
#include "decode/decode.h"
#include "score/score.h"

int main(int argc, char** argv) {
  using namespace qkv;
  using namespace qkv::score;
  cli::Tool tool("qkv-decode",
                 "Decode with a trained gpt, transformer or rnn checkpoint (greedy, beam search, sampling), and "
                 "score translations, transcriptions and G2P outputs against references.");
  tool.examples(
      "qkv-decode -m g2p.h5 -t letters.h5 --tgt-tokenizer phones.h5 --bos --eos --beam 5 --text words.txt\n"
      "  qkv-decode -m mt.h5 src.tokens.h5 --beam 5 --n-best 5 -o hyps.h5      (tokens in, tokens out)\n"
      "  qkv-decode -m g2p.h5 -t letters.h5 --tgt-tokenizer phones.h5 --bos --eos --text --ref phones.txt words.txt\n"
      "  qkv-decode -m lm.h5 -t chars.h5 --prompt \"ROMEO:\" --max-new 500 --slide --temperature 0.8 --top-k 40 --seed 1\n"
      "  qkv-decode score --ref refs.txt hyps.txt\n"
      "  qkv-decode score --ref refs.txt --metrics bleu,chrf --lowercase hyps.txt\n"
      "  qkv-decode score --ref ref1.txt --ref ref2.txt --json hyps.txt\n"
      "  qkv-decode score --ref phones.tsv --tab-refs --tokenize none --metrics wer,ser g2p_hyps.txt");
  CLI::App& app = tool.app();
  tool.subcommand_optional();

  // Decoding (the main mode).
  decode::DecodeOptions o;
  nn::SearchOptions& s = o.search;
  std::string format, metrics = "bleu,chrf,wer,ser", tokenize = "13a";
  bool text = false;
  app.add_option("input", o.inputs,
                 "sources (seq2seq, rnn) or prompts (gpt): a tokens file (qkv-tokenize encode), or text lines with "
                 "-t (an empty line is an empty source); - for stdin; several: the shards 0..N-1 of qkv-tokenize "
                 "encode --shard K/N in order (or text files, read one after the other); @LIST: the files LIST names");
  auto* model_opt = app.add_option("-m,--model", o.model, "checkpoint of a gpt, transformer or rnn model");
  app.add_option("-t,--tokenizer", o.src_tokenizer, "INPUT is text: encode each line with this tokenizer");
  app.add_option("--tgt-tokenizer", o.tgt_tokenizer,
                 "tokenizer of the hypotheses (seq2seq with separate vocabularies; default: -t)");
  auto* prompt_opt = app.add_option("--prompt", o.prompt, "language model: generate from this text (needs -t) instead "
                                                          "of INPUT; streams the text as it is generated");
  app.add_flag("--bos", o.src_bos, "put <bos> before each text source (as qkv-tokenize encode --bos did for training)");
  app.add_flag("--eos", o.src_eos, "put <eos> after each text source (as qkv-tokenize encode --eos)");
  app.add_option("-o,--output", o.output, "output file; - for stdout")->capture_default_str();
  app.add_flag("--text", text, "write text, one hypothesis per line (same as --format text)");
  app.add_option("--format", format,
                 "tokens (HDF5: ids, scores, per-token log-probabilities; the default), text (one hypothesis per "
                 "line), fairseq (S-/H-/P- lines: source, normalized score and text, per-token log-probabilities); "
                 "default with --prompt: text");
  app.add_option("--attention", o.attention,
                 "also write every hypothesis's attention (each layer x head; self, cross) to this HDF5 file, in "
                 "qkv-attend's layout");
  app.add_option("-k,--beam", s.beam, "beam size K (1: greedy or sampling)")->capture_default_str();
  app.add_option("-n,--n-best", s.n_best, "hypotheses written per input (<= beam)")->capture_default_str();
  app.add_option("--length-penalty", s.length_penalty,
                 "alpha: beam search ranks by score / length^alpha (length with EOS)")->capture_default_str();
  app.add_option("--min-len", s.min_len, "generated tokens before EOS may come")->capture_default_str();
  auto* max_len_opt = app.add_option("--max-len,--max-new", s.max_len,
                                     "generated tokens at most (EOS excluded); when not given, also at most what "
                                     "the model's positions hold after the context")->capture_default_str();
  app.add_option("--max-len-a", s.max_len_a, "with --max-len-b: max length = min(--max-len, a * source length + b)")
      ->capture_default_str();
  app.add_option("--max-len-b", s.max_len_b, "see --max-len-a (-1: off)")->capture_default_str();
  app.add_flag("--sample", s.sample, "sample instead of the arg max (implied by --top-k, --top-p, --num-samples > 1, "
                                     "and by --temperature with --beam 1)");
  auto* temp_opt = app.add_option("--temperature", s.temperature, "divide the logits by T")->capture_default_str();
  auto* topk_opt = app.add_option("--top-k", s.top_k, "sampling: keep the k most probable tokens (0: all)")
                       ->capture_default_str();
  auto* topp_opt = app.add_option("--top-p", s.top_p,
                                  "sampling: keep the most probable tokens up to probability p (the one crossing p "
                                  "kept)")->capture_default_str();
  app.add_option("--repetition-penalty", s.repetition_penalty, "r >= 1: logits of tokens already present / r")
      ->capture_default_str();
  app.add_option("--no-repeat-ngram", s.no_repeat_ngram, "N: no N-gram twice in a hypothesis (0: off)")
      ->capture_default_str();
  app.add_flag("--slide", s.slide,
               "language model: generate past the model's positions P, each token from the last P tokens "
               "(nanoGPT's crop; P steps per token once the window is full)");
  app.add_option("--slide-stride", s.slide_stride,
                 "with --slide: start over from the last P - N tokens when the window is full (1: nanoGPT's crop, "
                 "P steps per token; N: (P - N) / N steps per token, contexts of P - N + 1 to P tokens)")
      ->capture_default_str();
  app.add_option("--prefix", o.prefix,
                 "forced first generated tokens: text (target tokenizer), or ids \"5 17 3\" without one");
  app.add_option("-b,--batch", o.batch, "inputs decoded together (memory grows with it)")->capture_default_str();
  app.add_option("--seed", s.seed, "sampling seed (the same text on any thread count and batch)")->capture_default_str();
  app.add_option("--num-samples", o.num_samples, "samples drawn per input")->capture_default_str();
  app.add_option("-r,--ref", o.refs, "score the best hypotheses against these references (repeat for more); "
                                     "the scores go to stdout, or to stderr when the hypotheses do");
  app.add_option("--metrics", metrics, "with --ref: comma-separated bleu, chrf, wer, ser")->capture_default_str();
  app.add_option("--score-tokenize", tokenize, "with --ref: tokens of BLEU, WER and SER: 13a or none")
      ->check(CLI::IsMember({"13a", "none"}))
      ->capture_default_str();
  app.add_flag("--lowercase", o.score.lowercase, "with --ref: compare lowercased text");
  app.add_flag("--tab-refs", o.score.tab_refs, "with --ref: tab-separated references on a line");

  // score
  CLI::App* score = app.add_subcommand(
      "score",
      "corpus BLEU and chrF2 as sacreBLEU 2.x computes them (its signature printed), WER (edits over tokens / "
      "reference tokens) and SER (share of lines equal to no reference)");
  std::vector<std::string> refs;
  std::string hyps = "-", smetrics = "bleu,chrf,wer,ser", stokenize = "13a";
  ScoreOptions so;
  score->add_option("hyps", hyps, "hypotheses, one per line; - for stdin")->capture_default_str();
  score->add_option("-r,--ref", refs, "references, one per line, aligned with the hypotheses (repeat for more)")
      ->required()
      ->allow_extra_args(false);
  score->add_option("-m,--metrics", smetrics, "comma-separated: bleu, chrf, wer, ser")->capture_default_str();
  score->add_option("--tokenize", stokenize, "tokens of BLEU, WER and SER: 13a (mteval-v13a) or none (split on spaces)")
      ->check(CLI::IsMember({"13a", "none"}))
      ->capture_default_str();
  score->add_flag("--lowercase", so.lowercase, "compare lowercased text");
  score->add_flag("--tab-refs", so.tab_refs, "a reference line holds one or more references separated by tabs");
  score->add_flag("--json", so.json, "one JSON object keyed by metric (scores in percent)");

  return tool.run(argc, argv, [&] {
    if (score->parsed()) {
      so.metrics = parse_metrics(smetrics);
      so.tokenize = tokenize_from_name(stokenize);
      run_score(refs, hyps, so, std::cout);
      return;
    }
    if (model_opt->count() == 0) throw UsageError("-m/--model is required (or the subcommand: score)");
    o.prompt_given = prompt_opt->count() > 0;
    o.max_len_given = max_len_opt->count() > 0;
    if (text && !format.empty() && format != "text") throw UsageError("--text and --format " + format + " disagree");
    o.format = text ? decode::Format::text
                    : !format.empty() ? decode::format_from_name(format)
                                      : o.prompt_given ? decode::Format::text : decode::Format::tokens;
    if (topk_opt->count() || topp_opt->count() || o.num_samples > 1 || (temp_opt->count() && s.beam == 1))
      s.sample = true;
    o.score.metrics = parse_metrics(metrics);
    o.score.tokenize = tokenize_from_name(tokenize);
    const bool to_stdout = o.output == "-";
    decode::run_decode(o, to_stdout ? std::cerr : std::cout);
  });
}
