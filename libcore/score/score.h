// `qkv-decode score`: hypotheses against references, one segment per line,
// with the metrics of this area (BLEU, chrF, WER, SER).
//
//   score::ScoreOptions o;  o.metrics = score::parse_metrics("bleu,chrf");
//   score::run_score({"refs.txt"}, "hyps.txt", o, std::cout);
//   score::score_report(hyps, refs, o)      // the same text (or JSON) from lines in memory
//
// Files are read as sacreBLEU's command line reads them: UTF-8, lines split
// on \n only, each line right-stripped of whitespace. Text output: one line
// per metric in sacreBLEU's "NAME|signature = score ..." form; JSON: one
// object keyed by metric, scores in percent.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "score/bleu.h"

namespace qkv::score {

enum class Metric { kBleu, kChrf, kWer, kSer };

struct ScoreOptions {
  std::vector<Metric> metrics = {Metric::kBleu, Metric::kChrf, Metric::kWer, Metric::kSer};
  Tokenize tokenize = Tokenize::k13a;  // BLEU, WER and SER tokens
  bool lowercase = false;
  bool tab_refs = false;  // a reference line holds one or more references separated by tabs
  bool json = false;
};

// "bleu,chrf,wer,ser" (any subset, any order); UsageError names an unknown one.
std::vector<Metric> parse_metrics(const std::string& list);

// The lines of a text file ("-": stdin), right-stripped; DataError names the
// file and line of invalid UTF-8.
Lines read_lines(const std::string& path);

// The references of each line from one or more files with the same number of
// lines (and, with tab_refs, several per line).
References read_references(const std::vector<std::string>& paths, bool tab_refs);

// The report for hypotheses against their references (as many lines);
// what names the hypotheses in the error when the counts differ.
std::string score_report(const Lines& hyps, const References& refs, const ScoreOptions& o,
                         const std::string& what = "hypotheses", const std::string& ref_what = "references");

void run_score(const std::vector<std::string>& ref_paths, const std::string& hyp_path, const ScoreOptions& o,
               std::ostream& out);

}  // namespace qkv::score
