#include "score/score.h"

#include <cstdio>
#include <utility>

#include "core/error.h"
#include "io/file_io.h"
#include "score/chrf.h"
#include "score/error_rate.h"
#include "score/text.h"

namespace qkv::score {

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += std::string("\\") + c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt("\\u%04x", static_cast<unsigned char>(c));
    else out += c;
  }
  return out + "\"";
}

template <class T>
std::string json_list(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt("%.10g", static_cast<double>(v[i]));
  return s + "]";
}

// An error rate as a text line ("WER|<signature> = 6.84 (edits = 10 ref_tokens = 146)") or a JSON member.
std::string rate_part(const std::string& key, double percent, const std::string& signature, const char* name1,
                      int64_t v1, const char* name2, int64_t v2, bool json) {
  if (json)
    return "\"" + key + "\": {\"score\": " + fmt("%.10g", percent) + ", \"signature\": " + json_string(signature) +
           ", \"" + name1 + "\": " + std::to_string(v1) + ", \"" + name2 + "\": " + std::to_string(v2) + "}";
  std::string name = key;
  for (char& c : name) c = static_cast<char>(c - 'a' + 'A');
  return name + "|" + signature + " = " + fmt("%.2f", percent) + " (" + name1 + " = " + std::to_string(v1) + " " +
         name2 + " = " + std::to_string(v2) + ")";
}

std::string plural_lines(size_t n) { return std::to_string(n) + (n == 1 ? " line" : " lines"); }

}  // namespace

std::vector<Metric> parse_metrics(const std::string& list) {
  std::vector<Metric> out;
  size_t b = 0;
  while (b <= list.size()) {
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    std::string name = list.substr(b, e - b);
    if (name == "bleu") out.push_back(Metric::kBleu);
    else if (name == "chrf") out.push_back(Metric::kChrf);
    else if (name == "wer") out.push_back(Metric::kWer);
    else if (name == "ser") out.push_back(Metric::kSer);
    else throw UsageError("--metrics: unknown metric '" + name + "' (bleu, chrf, wer, ser)");
    for (size_t k = 0; k + 1 < out.size(); ++k)
      if (out[k] == out.back()) throw UsageError("--metrics: '" + name + "' given twice");
    b = e + 1;
  }
  return out;
}

Lines read_lines(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_all(path);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  Lines lines;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    if (e == std::string_view::npos) e = text.size();
    std::u32string line = decode_utf8(text.substr(b, e - b), path + ": line " + std::to_string(lines.size() + 1));
    rstrip(line);
    lines.push_back(encode_utf8(line));
    b = e + 1;
  }
  return lines;
}

References read_references(const std::vector<std::string>& paths, bool tab_refs) {
  QKV_CHECK(!paths.empty(), "at least one reference file");
  References refs;
  for (size_t f = 0; f < paths.size(); ++f) {
    Lines lines = read_lines(paths[f]);
    if (f == 0) refs.resize(lines.size());
    else if (lines.size() != refs.size())
      throw DataError(paths[f] + ": " + plural_lines(lines.size()) + ", but " + paths[0] + " has " +
                      std::to_string(refs.size()) + " (reference files align line by line)");
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!tab_refs) {
        refs[i].push_back(std::move(lines[i]));
        continue;
      }
      for (size_t b = 0;;) {
        size_t e = lines[i].find('\t', b);
        refs[i].push_back(lines[i].substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (e == std::string::npos) break;
        b = e + 1;
      }
    }
  }
  return refs;
}

std::string score_report(const Lines& hyps, const References& refs, const ScoreOptions& o, const std::string& what,
                         const std::string& ref_what) {
  if (hyps.size() != refs.size())
    throw DataError(what + ": " + plural_lines(hyps.size()) + ", but " + ref_what + " has " +
                    std::to_string(refs.size()) + " (one hypothesis per reference line)");
  if (hyps.empty()) throw DataError(what + ": no lines to score");
  const std::string nrefs = nrefs_label(refs);
  const std::string common = "nrefs:" + nrefs + "|case:" + (o.lowercase ? "lc" : "mixed") + "|tok:" +
                             tokenize_name(o.tokenize);
  std::vector<std::string> parts;  // one text line or JSON member per metric
  ErrorRates er;
  bool er_done = false;
  auto error_rates_once = [&]() -> const ErrorRates& {
    if (!er_done) er = error_rates(hyps, refs, o.tokenize, o.lowercase);
    er_done = true;
    return er;
  };
  for (Metric m : o.metrics) {
    if (m == Metric::kBleu) {
      BleuOptions bo;
      bo.tokenize = o.tokenize;
      bo.lowercase = o.lowercase;
      BleuScore s = corpus_bleu(hyps, refs, bo);
      if (!o.json) {
        parts.push_back(format_bleu(s, bo, nrefs));
        continue;
      }
      parts.push_back("\"bleu\": {\"score\": " + fmt("%.10g", s.score) + ", \"signature\": " +
                      json_string(bleu_signature(bo, nrefs)) + ", \"precisions\": " + json_list(s.precisions) +
                      ", \"bp\": " + fmt("%.10g", s.bp) + ", \"hyp_len\": " + std::to_string(s.stats.sys_len) +
                      ", \"ref_len\": " + std::to_string(s.stats.ref_len) + ", \"counts\": " +
                      json_list(s.stats.correct) + ", \"totals\": " + json_list(s.stats.total) + "}");
    } else if (m == Metric::kChrf) {
      ChrfOptions co;
      co.lowercase = o.lowercase;
      double f = corpus_chrf(hyps, refs, co);
      parts.push_back(o.json ? "\"chrf\": {\"score\": " + fmt("%.10g", f) + ", \"signature\": " +
                                   json_string(chrf_signature(co, nrefs)) + "}"
                             : format_chrf(f, co, nrefs));
    } else {
      const ErrorRates& e = error_rates_once();
      bool wer = m == Metric::kWer;
      parts.push_back(wer ? rate_part("wer", 100 * e.wer(), common, "edits", e.edits, "ref_tokens", e.ref_tokens, o.json)
                          : rate_part("ser", 100 * e.ser(), common, "wrong", e.wrong, "lines", e.lines, o.json));
    }
  }
  std::string out = o.json ? "{" : "";
  for (size_t i = 0; i < parts.size(); ++i) out += (o.json && i ? ", " : "") + parts[i] + (o.json ? "" : "\n");
  return o.json ? out + "}\n" : out;
}

void run_score(const std::vector<std::string>& ref_paths, const std::string& hyp_path, const ScoreOptions& o,
               std::ostream& out) {
  References refs = read_references(ref_paths, o.tab_refs);
  Lines hyps = read_lines(hyp_path);
  out << score_report(hyps, refs, o, hyp_path, ref_paths[0]);
}

}  // namespace qkv::score
