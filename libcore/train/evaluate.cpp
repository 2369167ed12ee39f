#include "train/evaluate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "nn/decoding.h"
#include "train/data_parallel.h"
#include "train/examples.h"
#include "train/order.h"
#include "train/valid_metric.h"

namespace qkv::train {

EvalResult evaluate(nn::Model& model, const Examples& ex, const TrainOptions& o, bool decode, DataParallel* dp) {
  EvalResult r;
  LossMeter m;
  auto batches = plan_epoch(ex.size(), o.batch_size, o.seed, 0, false, nullptr);
  int64_t nb = static_cast<int64_t>(batches.size());
  if (o.val_batches > 0) nb = std::min(nb, o.val_batches);
  for (int64_t i = 0; i < nb; ++i) {
    nn::Batch b = ex.batch(batches[i]);
    if (dp) {
      auto [begin, end] = dp->share(b.B);
      if (begin == end) continue;
      b = b.rows(begin, end);
    }
    nn::Stats s = model.forward(b, false);
    m.add(s.loss_sum, s.count, s.correct);
  }
  if (dp) {
    double v[3] = {m.loss_sum, static_cast<double>(m.targets), static_cast<double>(m.correct)};
    dp->sum(v, 3);
    m = LossMeter();
    m.add(v[0], static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2]));
  }
  r.loss = m.mean_loss();
  r.perplexity = m.perplexity();
  r.accuracy = m.accuracy();
  r.targets = m.targets;
  if (decode) {
    const auto& pe = dynamic_cast<const PairExamples&>(ex);
    SequenceScorer scorer;
    int64_t max_ref = 0;
    for (int64_t i = 0; i < pe.size(); ++i) {
      std::vector<int32_t> ref = pe.reference(i);
      max_ref = std::max<int64_t>(max_ref, static_cast<int64_t>(ref.size()));
      scorer.add_reference(pe.source(i), ref);
    }
    const auto& sources = scorer.sources();
    int64_t n = static_cast<int64_t>(sources.size());
    if (o.decode_limit > 0) n = std::min(n, o.decode_limit);
    const Vocab& tv = pe.tgt_vocab();
    // greedy decoding through the decoding layer, as qkv-decode does (nn/decoding.h)
    auto dec = model.decoder();
    nn::SearchOptions so;
    so.eos = tv.eos_id;
    so.beam = o.valid_beam;
    const ValidMetric metric = valid_metric_from_name(o.valid_metric);
    const bool id_scores = metric == ValidMetric::bleu || metric == ValidMetric::chrf;
    IdScorer ids;
    so.max_len = std::min<int64_t>(max_ref + 10, dec->max_positions() - 1);
    auto [first, last] = dp ? dp->share(n) : std::pair<int64_t, int64_t>{0, n};
    for (int64_t a = first; a < last; a += o.batch_size) {
      const int64_t B = std::min(o.batch_size, last - a);
      std::vector<nn::Request> reqs;
      for (int64_t k = 0; k < B; ++k) reqs.push_back({sources[a + k], {tv.bos_id}, {}});
      auto hyps = nn::decode(*dec, reqs, so);
      for (int64_t k = 0; k < B; ++k) {
        scorer.score(sources[a + k], hyps[k][0].ids);
        if (id_scores) ids.add(hyps[k][0].ids, scorer.references(sources[a + k]));
      }
    }
    if (dp) {
      std::array<double, 4> t = scorer.totals();
      dp->sum(t.data(), 4);
      scorer.set_totals(t);
      if (id_scores) {
        std::vector<double> s = ids.totals();
        dp->sum(s.data(), static_cast<int64_t>(s.size()));
        ids.set_totals(s);
      }
    }
    if (id_scores) {
      r.bleu = ids.bleu();
      r.chrf = ids.chrf();
    }
    r.wer = scorer.wer();
    r.ter = scorer.ter();
    r.decoded = scorer.scored();
  }
  return r;
}

std::string describe_eval(const EvalResult& e, nn::Task task) {
  std::string s = fmt::format("loss {:.4f}", e.loss);
  if (task == nn::Task::classify) s += fmt::format(" accuracy {:.2f}%", 100 * e.accuracy);
  else s += fmt::format(" ppl {:.3f} token-acc {:.2f}%", e.perplexity, 100 * e.accuracy);
  if (e.wer >= 0) s += fmt::format(" WER {:.2f}% TER {:.2f}%", 100 * e.wer, 100 * e.ter);
  if (e.bleu >= 0) s += fmt::format(" BLEU {:.2f} chrF2 {:.2f} (token ids)", e.bleu, e.chrf);
  return s;
}

std::vector<MetricsLog::Field> eval_fields(const EvalResult& e, nn::Task task) {
  std::vector<MetricsLog::Field> f = {{"loss", e.loss}};
  if (task != nn::Task::classify) f.emplace_back("perplexity", e.perplexity);
  f.emplace_back(task == nn::Task::classify ? "accuracy" : "token_accuracy", e.accuracy);
  if (e.wer >= 0) {
    f.emplace_back("wer", e.wer);
    f.emplace_back("ter", e.ter);
    f.emplace_back("decoded", e.decoded);
  }
  if (e.bleu >= 0) {
    f.emplace_back("bleu", e.bleu);
    f.emplace_back("chrf", e.chrf);
  }
  return f;
}

}  // namespace qkv::train
