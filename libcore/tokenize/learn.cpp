#include "tokenize/learn.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <queue>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "tokenize/corpus.h"
#include "tokenize/utf8.h"

namespace qkv::tokenize {
namespace {

int64_t min_freq(const LearnOptions& o) { return o.min_frequency > 0 ? o.min_frequency : (o.model == Model::bpe ? 2 : 1); }

// Counts the units of one stretch of lines into map.
void count_lines(std::string_view text, const LearnOptions& o, StrMap<int64_t>& map) {
  auto count_seg = [&](std::string_view seg) {
    if (o.model == Model::chars) {
      size_t i = 0;
      while (i < seg.size()) {
        size_t len = utf8_char_len(seg, i);
        ++map.get_or_insert(seg.substr(i, len));
        i += len;
      }
    } else {
      pretokenize(o.pretokenizer, seg, [&](std::string_view p) { ++map.get_or_insert(p); });
    }
  };
  for_each_line(text, [&](std::string_view line) {
    split_specials(o.specials, 0, line, count_seg, [](int32_t) {});
  });
  // Documents keep their line breaks, so a char vocabulary for them needs '\n'
  // (else encode --document turns every newline into <unk>).
  if (o.model == Model::chars && o.document) {
    int64_t n = std::count(text.begin(), text.end(), '\n');
    if (n > 0) map.get_or_insert("\n") += n;
  }
}

std::string names_of(const std::vector<std::string>& paths) {
  if (paths.empty()) return "stdin";
  std::string s;
  for (auto& p : paths) s += (s.empty() ? "" : ", ") + (p == "-" ? std::string("stdin") : p);
  return s;
}

}  // namespace

void check_learn_options(const LearnOptions& o) {
  for (size_t i = 0; i < o.specials.size(); ++i) {
    const std::string& s = o.specials[i];
    if (s.empty()) throw UsageError("--special: empty token");
    for (auto* f : kSpecialNames)
      if (s == f) throw UsageError("--special " + s + ": already a fixed special token (id " +
                                   std::to_string(&f - kSpecialNames) + ")");
    for (size_t j = 0; j < i; ++j)
      if (o.specials[j] == s) throw UsageError("--special " + s + ": given twice");
  }
  if (o.vocab_size < 0) throw UsageError("--vocab-size must be >= 0");
  int64_t specials = kNumSpecialIds + static_cast<int64_t>(o.specials.size());
  if (o.model == Model::bpe) {
    if (o.vocab_size < specials + 256)
      throw UsageError("--vocab-size " + std::to_string(o.vocab_size) + " is smaller than the base alphabet: " +
                       std::to_string(specials) + " special tokens + 256 bytes = " + std::to_string(specials + 256));
    if (o.pretokenizer == PreTokenizer::whitespace)
      throw UsageError("--pretokenize whitespace drops spaces, so byte-level bpe could not decode exactly; use gpt2 or none");
  } else if (o.vocab_size > 0 && o.vocab_size <= specials) {
    throw UsageError("--vocab-size " + std::to_string(o.vocab_size) + " leaves no room after the " +
                     std::to_string(specials) + " special tokens");
  }
  if (o.model == Model::chars && o.pretokenizer != PreTokenizer::none)
    throw UsageError("the char model takes no pre-tokenizer (use --pretokenize none or leave it out)");
  if (o.sample < 0) throw UsageError("--sample must be >= 0");
}

Counts count_corpus(const std::vector<std::string>& paths, const LearnOptions& o) {
  int threads = std::max(1, o.threads);
  std::vector<StrMap<int64_t>> maps;
  for (int k = 0; k < threads; ++k) maps.emplace_back(1 << 16);
  LineBlocks in(paths, 8 << 20);
  std::string_view block;
  Progress progress("counting", in.total_bytes() > 0 ? in.total_bytes() >> 20 : 0, "MB", kQuietStart);
  if (o.sample > 0) {
    // Reservoir sample of o.sample lines, like spm_train --input_sentence_size.
    std::vector<std::string> keep;
    std::mt19937_64 rng(20261120);
    int64_t seen = 0;
    while (in.next(block)) {
      for_each_line(block, [&](std::string_view line) {
        if (seen < o.sample) keep.emplace_back(line);
        else {
          uint64_t j = std::uniform_int_distribution<uint64_t>(0, static_cast<uint64_t>(seen))(rng);
          if (j < static_cast<uint64_t>(o.sample)) keep[j].assign(line);
        }
        ++seen;
      });
      if (o.progress) progress.update(in.bytes_read() >> 20, "sampling lines");
    }
    spdlog::info("sampled {} of {} lines", keep.size(), seen);
    std::string joined;
    for (auto& l : keep) {
      joined += l;
      joined += '\n';
    }
    keep.clear();
    keep.shrink_to_fit();
    for_line_ranges(joined, threads, [&](int k, std::string_view part) { count_lines(part, o, maps[k]); });
  } else {
    while (in.next(block)) {
      for_line_ranges(block, threads, [&](int k, std::string_view part) { count_lines(part, o, maps[k]); });
      if (o.progress) progress.update(in.bytes_read() >> 20, std::to_string(maps[0].size()) + " distinct in thread 0");
    }
  }
  // Merge the per-thread maps into the first.
  for (int k = 1; k < threads; ++k) {
    for (auto& e : maps[k].entries()) maps[0].get_or_insert(maps[k].key(e), e.hash, 0) += e.value;
    maps[k] = StrMap<int64_t>(16);
  }
  Counts counts;
  counts.reserve(maps[0].size());
  for (auto& e : maps[0].entries()) counts.emplace_back(std::string(maps[0].key(e)), e.value);
  maps.clear();
  std::sort(counts.begin(), counts.end());
  if (o.progress) progress.finish(std::to_string(counts.size()) + (o.model == Model::chars ? " distinct characters" : " distinct pre-tokens"));
  if (counts.empty()) throw DataError(names_of(paths) + ": empty corpus: nothing to learn from");
  return counts;
}

namespace {

Tokenizer start_tokenizer(const LearnOptions& o) {
  Tokenizer t;
  t.model = o.model;
  t.pretokenizer = o.pretokenizer;
  for (int i = 0; i < kNumSpecialIds; ++i) {
    t.pieces.emplace_back(kSpecialNames[i]);
    t.types.push_back(i == kUnkId ? kUnknown : kControl);
    t.counts.push_back(0);
  }
  for (auto& s : o.specials) {
    t.pieces.push_back(s);
    t.types.push_back(kUserSpecial);
    t.counts.push_back(0);
  }
  t.num_user_specials = static_cast<int32_t>(o.specials.size());
  return t;
}

Tokenizer learn_vocab(const Counts& counts, const LearnOptions& o) {
  Tokenizer t = start_tokenizer(o);
  int64_t mf = min_freq(o);
  std::vector<const std::pair<std::string, int64_t>*> keep;
  for (auto& c : counts)
    if (c.second >= mf) keep.push_back(&c);
  int64_t room = o.vocab_size > 0 ? o.vocab_size - t.vocab_size() : INT64_MAX;
  if (o.model == Model::chars) {
    // Characters in byte (= code point) order; all must fit.
    if (static_cast<int64_t>(keep.size()) > room)
      throw UsageError("--vocab-size " + std::to_string(o.vocab_size) + " is smaller than the base alphabet: " +
                       std::to_string(t.vocab_size()) + " special tokens + " + std::to_string(keep.size()) +
                       " distinct characters = " + std::to_string(t.vocab_size() + keep.size()));
  } else {
    // Words by count, most frequent first; ties by bytes.
    std::stable_sort(keep.begin(), keep.end(), [](auto* a, auto* b) { return a->second > b->second; });
    if (static_cast<int64_t>(keep.size()) > room) {
      spdlog::info("kept the {} most frequent of {} words", room, keep.size());
      keep.resize(static_cast<size_t>(room));
    }
  }
  for (auto* c : keep) {
    t.pieces.push_back(c->first);
    t.types.push_back(kBase);
    t.counts.push_back(c->second);
  }
  if (static_cast<int64_t>(keep.size()) == 0)
    throw DataError("no " + std::string(o.model == Model::chars ? "character" : "word") + " occurs --min-frequency " +
                    std::to_string(mf) + " times");
  return t;
}

struct HeapItem {
  int64_t count;
  int32_t a, b;
  // max-heap on count; ties: the smaller (a, b) first
  bool operator<(const HeapItem& o) const {
    if (count != o.count) return count < o.count;
    if (a != o.a) return a > o.a;
    return b > o.b;
  }
};

Tokenizer learn_bpe(const Counts& counts, const LearnOptions& o) {
  Tokenizer t = start_tokenizer(o);
  const int32_t base = t.vocab_size();
  for (int b = 0; b < 256; ++b) {
    t.pieces.emplace_back(1, static_cast<char>(b));
    t.types.push_back(kBase);
    t.counts.push_back(0);
  }
  // Words as symbol sequences in one flat array: word w is syms[start[w], start[w] + len[w]).
  std::vector<int32_t> syms;
  std::vector<int64_t> start;
  std::vector<int32_t> len;
  std::vector<int64_t> wcount;
  for (auto& [text, c] : counts) {
    for (unsigned char ch : text) t.counts[base + ch] += c;
    if (text.size() < 2) continue;  // no pairs
    start.push_back(static_cast<int64_t>(syms.size()));
    len.push_back(static_cast<int32_t>(text.size()));
    wcount.push_back(c);
    for (unsigned char ch : text) syms.push_back(base + ch);
  }
  const int32_t nwords = static_cast<int32_t>(start.size());

  // Pairs: key -> index into pair_count / pair_words.
  U64Map<int32_t> pair_index(1 << 16);
  std::vector<int64_t> pair_count;
  std::vector<std::pair<int32_t, int32_t>> pair_ids;
  std::vector<std::vector<int32_t>> pair_words;
  auto pair_of = [&](int32_t a, int32_t b) -> int32_t {
    int32_t& idx = pair_index.get_or_insert(pair_key(a, b), -1);
    if (idx < 0) {
      idx = static_cast<int32_t>(pair_count.size());
      pair_count.push_back(0);
      pair_ids.emplace_back(a, b);
      pair_words.emplace_back();
    }
    return idx;
  };
  for (int32_t w = 0; w < nwords; ++w) {
    const int32_t* s = &syms[start[w]];
    for (int32_t i = 0; i + 1 < len[w]; ++i) {
      int32_t p = pair_of(s[i], s[i + 1]);
      pair_count[p] += wcount[w];
      auto& ws = pair_words[p];
      if (ws.empty() || ws.back() != w) ws.push_back(w);
    }
  }
  std::vector<HeapItem> items;
  items.reserve(pair_count.size());
  for (size_t p = 0; p < pair_count.size(); ++p) items.push_back({pair_count[p], pair_ids[p].first, pair_ids[p].second});
  std::priority_queue<HeapItem> heap(std::less<HeapItem>(), std::move(items));

  const int64_t mf = min_freq(o);
  const int64_t target = o.vocab_size - t.vocab_size();
  std::vector<int32_t> seen(static_cast<size_t>(nwords), -1);  // merge number a word was last visited for
  std::vector<int32_t> touched;                                 // pairs that gained counts in this merge
  Progress progress("merging", target, "merges", kQuietStart);
  int32_t merge_no = 0;
  while (merge_no < target && !heap.empty()) {
    HeapItem top = heap.top();
    heap.pop();
    int32_t p = *pair_index.find(pair_key(top.a, top.b));
    int64_t cur = pair_count[p];
    if (cur != top.count) {  // stale entry: counts only fall, so re-queue at the current count
      if (cur > 0) heap.push({cur, top.a, top.b});
      continue;
    }
    if (cur < mf) break;
    const int32_t a = top.a, b = top.b, nid = t.vocab_size();
    t.pieces.push_back(t.pieces[a] + t.pieces[b]);
    t.types.push_back(kMerged);
    t.counts.push_back(cur);
    t.merges.emplace_back(a, b);
    const uint64_t merged_key = pair_key(a, b);
    std::vector<int32_t> words = std::move(pair_words[p]);
    pair_words[p] = {};
    touched.clear();
    for (int32_t w : words) {
      if (seen[w] == merge_no) continue;
      seen[w] = merge_no;
      int32_t* s = &syms[start[w]];
      const int32_t n = len[w];
      const int64_t c = wcount[w];
      auto change = [&](int32_t x, int32_t y, int64_t delta) {
        if (pair_key(x, y) == merged_key) return;
        int32_t q = pair_of(x, y);
        pair_count[q] += delta;
        if (delta > 0) {
          auto& ws = pair_words[q];
          if (ws.empty() || ws.back() != w) ws.push_back(w);
          touched.push_back(q);
        }
      };
      int32_t j = 0;
      for (int32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
          if (j > 0) {
            change(s[j - 1], a, -c);
            change(s[j - 1], nid, c);
          }
          if (i + 2 < n) {
            change(b, s[i + 2], -c);
            change(nid, s[i + 2], c);
          }
          s[j++] = nid;
          i += 2;
        } else {
          s[j++] = s[i++];
        }
      }
      len[w] = j;
    }
    pair_count[p] = 0;
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (int32_t q : touched)
      if (pair_count[q] > 0) heap.push({pair_count[q], pair_ids[q].first, pair_ids[q].second});
    ++merge_no;
    if (o.progress) progress.update(merge_no, "last count " + std::to_string(cur));
  }
  if (o.progress) progress.finish(std::to_string(merge_no) + " merges");
  if (merge_no < target)
    spdlog::info("stopped at {} pieces (asked {}): no pair left occurring --min-frequency {} times", t.vocab_size(),
                 o.vocab_size, mf);
  return t;
}

}  // namespace

Tokenizer learn_from_counts(const Counts& counts, const LearnOptions& o) {
  check_learn_options(o);
  Tokenizer t = o.model == Model::bpe ? learn_bpe(counts, o) : learn_vocab(counts, o);
  t.validate();
  t.build_index();
  return t;
}

Tokenizer learn(const std::vector<std::string>& paths, const LearnOptions& o) {
  check_learn_options(o);
  Counts counts = count_corpus(paths, o);
  return learn_from_counts(counts, o);
}

}  // namespace qkv::tokenize
