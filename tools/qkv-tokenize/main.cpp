// qkv-tokenize: text <-> token tensors (learn, encode, decode, vocab).
#include <iostream>

#include "cli/tool.h"
#include "core/threads.h"
#include "tokenize/commands.h"

int main(int argc, char** argv) {
  using namespace qkv::tokenize;
  qkv::cli::Tool tool("qkv-tokenize", "Learn a tokenizer (byte-level BPE, characters or words), turn text into the "
                                      "token files qkv-train reads, and back.");
  tool.examples(
      "qkv-tokenize learn --vocab-size 8000 corpus.txt -o tok.h5\n"
      "  qkv-tokenize encode -t tok.h5 corpus.txt -o tokens.h5\n"
      "  cat corpus.txt | qkv-tokenize encode -t tok.h5 | qkv-tokenize decode -t tok.h5\n"
      "  qkv-tokenize learn --model char words.txt -o letters.h5\n"
      "  qkv-tokenize learn --model word phones.txt -o phones.h5\n"
      "  qkv-tokenize learn --model char --document input.txt -o chars.h5     # a character LM's vocabulary\n"
      "  qkv-tokenize encode --document -t chars.h5 input.txt -o tokens.h5\n"
      "  qkv-tokenize encode --tsv -t letters.h5 --tgt-tokenizer phones.h5 --bos --eos pairs.tsv -o pairs.h5\n"
      "  qkv-tokenize encode --pieces -t tok.h5 corpus.txt | head\n"
      "  qkv-tokenize encode -t tok.h5 --shard 0/4 corpus.txt -o part0.h5   # one task of 4 (SLURM array)\n"
      "  qkv-tokenize vocab -t tok.h5 | less");
  CLI::App& app = tool.app();

  // learn
  CLI::App* learn = app.add_subcommand("learn", "learn a tokenizer from text files (or stdin)");
  std::vector<std::string> learn_in;
  std::string learn_out, model = "bpe", pretok;
  LearnOptions lo;
  learn->add_option("files", learn_in, "text files; - or none for stdin");
  tool.add_output(*learn, learn_out, "tokenizer file to write; - for stdout");
  learn->add_option("--model", model, "bpe (byte-level, lossless on any bytes), char, or word")
      ->check(CLI::IsMember({"bpe", "char", "word"}))
      ->capture_default_str();
  learn->add_option("--vocab-size", lo.vocab_size,
                    "total pieces incl. special tokens (bpe default 8000; char/word: 0 = all that occur)");
  learn->add_option("--min-frequency", lo.min_frequency,
                    "bpe: least count of a pair to merge (default 2); char/word: least count to keep a piece (default 1)")
      ->check(CLI::NonNegativeNumber);
  learn->add_option("--special", lo.specials, "user special token, never split (repeat the flag for more); ids from 4 on")
      ->allow_extra_args(false);
  learn->add_option("--pretokenize", pretok,
                    "gpt2 (split words, numbers, punctuation, spaces; bpe default), none (whole line; char "
                    "default), whitespace (word default)")
      ->check(CLI::IsMember({"gpt2", "none", "whitespace"}));
  learn->add_option("--sample", lo.sample, "learn from N lines sampled uniformly from the input (0 = all lines)")
      ->check(CLI::NonNegativeNumber);
  learn->add_flag("--document", lo.document,
                  "text for encode --document: the char model then has newline in its vocabulary (bpe always has it; "
                  "the word model splits on it)");
  bool vocab_given = false;

  // encode
  CLI::App* encode = app.add_subcommand("encode", "text to a tokens file (one sequence per line by default)");
  EncodeOptions eo;
  encode->add_option("files", eo.inputs, "text files; - or none for stdin");
  encode->add_option("-t,--tokenizer", eo.tokenizer, "tokenizer file from learn")->required();
  encode->add_option("--tgt-tokenizer", eo.tgt_tokenizer, "with --tsv: tokenizer for the target column");
  encode->add_option("-o,--output", eo.output, "tokens file to write; - for stdout")->capture_default_str()->check(
      qkv::cli::writable());
  encode->add_flag("--document", eo.document, "one sequence per input file instead of per line");
  encode->add_flag("--tsv", eo.tsv, "source<TAB>target lines -> a token_pairs file (/src, /tgt)");
  encode->add_flag("--bos", eo.bos, "start each sequence with <bos> (id 1)");
  encode->add_flag("--eos", eo.eos, "end each sequence with <eos> (id 2)");
  encode->add_option("--max-len", eo.max_len, "truncate to N ids, <bos>/<eos> included (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  encode->add_option("--shard", eo.shard,
                     "K/N: encode only the K-th of N contiguous ranges of lines (counted from 0, across all "
                     "files); qkv-train reads the N outputs, given in order, as the whole");
  encode->add_flag("--pieces", eo.pieces, "print pieces as text (space shown as U+2581), like spm_encode");

  // decode
  CLI::App* decode = app.add_subcommand("decode", "a tokens file back to text, one line per sequence");
  std::string dec_tok, dec_tgt, dec_in = "-", dec_out = "-";
  decode->add_option("file", dec_in, "tokens or token_pairs file; - for stdin")->capture_default_str();
  decode->add_option("-t,--tokenizer", dec_tok, "tokenizer file")->required();
  decode->add_option("--tgt-tokenizer", dec_tgt, "token_pairs: tokenizer of /tgt (default: -t)");
  decode->add_option("-o,--output", dec_out, "text file to write; - for stdout")->capture_default_str()->check(
      qkv::cli::writable());

  // vocab
  CLI::App* vocab = app.add_subcommand("vocab", "list the vocabulary: id, piece, kind, count, merge rank");
  std::string voc_tok;
  vocab->add_option("-t,--tokenizer", voc_tok, "tokenizer file")->required();

  app.require_subcommand(1);
  return tool.run(argc, argv, [&] {
    int threads = qkv::threads();
    if (learn->parsed()) {
      lo.model = model_from_name(model);
      vocab_given = learn->count("--vocab-size") > 0;
      if (!vocab_given) lo.vocab_size = lo.model == Model::bpe ? 8000 : 0;
      if (pretok.empty()) pretok = lo.model == Model::bpe ? "gpt2" : lo.model == Model::chars ? "none" : "whitespace";
      lo.pretokenizer = pretokenizer_from_name(pretok);
      lo.threads = threads;
      run_learn(learn_in, lo, learn_out);
    } else if (encode->parsed()) {
      eo.threads = threads;
      run_encode(eo);
    } else if (decode->parsed()) {
      run_decode(dec_tok, dec_tgt, dec_in, dec_out);
    } else if (vocab->parsed()) {
      run_vocab(voc_tok, std::cout);
    }
  });
}
