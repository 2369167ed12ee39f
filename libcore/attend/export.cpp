#include "attend/export.h"

#include <algorithm>
#include <map>
#include <memory>

#include "attend/flow.h"
#include "attend/gradients.h"
#include "attend/head_stats.h"
#include "attend/source.h"
#include "core/error.h"
#include "formats/patches.h"
#include "formats/tokens.h"
#include "tokenize/tokenizer.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/arch.h"
#include "nn/head_mask.h"
#include "nn/model.h"
#include "nn/batch_rules.h"

namespace qkv::attend {

std::vector<int64_t> parse_index_list(const std::string& text, int64_t n, const std::string& flag) {
  std::vector<int64_t> out;
  if (text.empty()) {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    const size_t dash = item.find('-');
    int64_t lo = -1, hi = -1;
    try {
      size_t used = 0;
      lo = std::stoll(item, &used);
      hi = dash == std::string::npos ? lo : std::stoll(item.substr(dash + 1));
      if (lo < 0 || (dash == std::string::npos && used != item.size())) lo = -1;
    } catch (const std::exception&) {
      lo = -1;
    }
    if (lo < 0 || hi < lo) throw UsageError(flag + " " + text + ": '" + item + "' is not an index or a range A-B");
    if (hi >= n)
      throw UsageError(flag + " " + text + ": " + std::to_string(hi) + " is out of range (there are " +
                       std::to_string(n) + ", 0-" + std::to_string(n - 1) + ")");
    for (int64_t i = lo; i <= hi; ++i) out.push_back(i);
    pos = comma + 1;
  }
  return out;
}

namespace {

// Queries and keys of a kind's maps for an example (S source / sequence tokens, T target positions).
std::pair<int64_t, int64_t> query_key_lengths(const std::string& kind, int64_t S, int64_t T) {
  if (kind == "decoder_self") return {T, T};
  if (kind == "cross" || kind == "additive") return {T, S};
  return {S, S};  // self, encoder_self
}

// Self-attention stacks: rollout and flow apply, and query i and key i are the same position.
bool is_self(const std::string& kind) { return kind == "self" || kind == "encoder_self" || kind == "decoder_self"; }

// Where one kind's tensors stream to (column handles of H5StreamOut).
struct KindOut {
  std::string kind;
  std::vector<size_t> maps;  // indices into attention_maps() of this kind, by layer
  int64_t H = 0;             // heads of this kind's maps
  std::vector<int64_t> layers, heads;
  int weights = -1, offsets = -1, tq = -1, tk = -1, stats = -1, rollout = -1, rollout_offsets = -1, flow = -1,
      flow_offsets = -1, grad = -1, grad_offsets = -1;
  int64_t weights_n = 0, rollout_n = 0, flow_n = 0, grad_n = 0;
};

// Rows for the columns of an H5StreamOut, gathered over a batch and written with one append per column
// (one append per example and head made the export 3x slower than the forward).
class BatchedAppends {
 public:
  explicit BatchedAppends(io::H5StreamOut& out) : out_(out) {}
  template <class T>
  void append(int column, const T* rows, size_t n, size_t values_per_row = 1) {
    Pending& p = pending_[column];
    const char* b = reinterpret_cast<const char*>(rows);
    p.bytes.insert(p.bytes.end(), b, b + n * values_per_row * sizeof(T));
    p.rows += n;
  }
  void flush() {
    for (auto& [column, p] : pending_)
      if (p.rows) out_.append(column, p.bytes.data(), p.rows), p.bytes.clear(), p.rows = 0;
  }

 private:
  struct Pending {
    std::vector<char> bytes;
    size_t rows = 0;
  };
  io::H5StreamOut& out_;
  std::map<int, Pending> pending_;
};

// A ragged int32 sequence column with its offsets (tokens/ids + tokens/offsets).
struct RaggedOut {
  int ids = -1, offsets = -1;
  int64_t n = 0;
  void open(io::H5StreamOut& out, const std::string& group) {
    ids = out.add_column(group + "/ids", DType::i32);
    offsets = out.add_column(group + "/offsets", DType::i64);
    out.append(offsets, &n, 1);
  }
  void append(BatchedAppends& out, const int32_t* x, int64_t len) {
    out.append(ids, x, static_cast<size_t>(len));
    n += len;
    out.append(offsets, &n, 1);
  }
};

// Checks a --layers / --heads index against every kind: each must exist in at least one kind.
void check_indices(const std::vector<int64_t>& want, const std::vector<KindOut>& kinds, bool layers) {
  int64_t most = 0;
  for (const KindOut& k : kinds) most = std::max<int64_t>(most, layers ? static_cast<int64_t>(k.maps.size()) : k.H);
  const char* what = layers ? "layers" : "heads";
  for (int64_t i : want)
    if (i < 0 || i >= most)
      throw UsageError(std::string("--") + what + " " + std::to_string(i) + ": the model has " + std::to_string(most) +
                       " " + what + " (0-" + std::to_string(most - 1) + ")");
}

// The selected indices that exist in a kind of n (all when none are selected).
std::vector<int64_t> select(const std::vector<int64_t>& want, int64_t n) {
  std::vector<int64_t> out;
  if (want.empty())
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
  for (int64_t i : want)
    if (i < n) out.push_back(i);
  return out;
}

}  // namespace

void run_export(const ExportOptions& o) {
  io::H5In min(o.model);
  std::unique_ptr<nn::Model> m = load_analysis_model(min);
  nn::mask_heads(*m, o.mask_heads);
  Source data(*m, o.model, o.input);
  const bool masked = !o.mask_heads.empty(), image = !data.lm() && !data.seq2seq();
  const bool with_targets = masked || o.importance || o.grad_rollout;
  if ((o.importance || o.grad_rollout) && m->head_probes().empty())
    throw UsageError(o.model + ": '" + m->arch() + "' has no multi-head attention (--importance and --grad-rollout "
                     "need its heads' gates and gradients)");
  if ((o.target_class >= 0 || o.target_token >= 0) && !o.grad_rollout)
    throw UsageError("--target-class and --target-token choose --grad-rollout's target: give --grad-rollout");
  if (o.target_class >= 0 && !image) throw UsageError("--target-class is for a vit; give --target-token");
  if (o.target_token >= 0 && image) throw UsageError("--target-token is for lm and seq2seq models; give --target-class");
  const int64_t forced = image ? o.target_class : o.target_token;
  if (forced >= nn::dims(*m).n_out)
    throw UsageError(std::string(image ? "--target-class " : "--target-token ") + std::to_string(forced) +
                     " is out of range: " + o.model + " has " + std::to_string(nn::dims(*m).n_out) +
                     (image ? " classes" : " tokens"));
  if (image && (masked || o.importance) && !data.labelled())
    throw DataError(data.name() + ": has no labels: --mask-heads and --importance need the loss");
  const std::vector<int64_t> chosen =
      parse_index_list(o.examples, static_cast<int64_t>(data.all.size()), "--examples");
  data.prepare(*m, chosen, o.batch);  // text sources without a target: the model's greedy output

  // The kinds of attention the model has, from a one-token forward: layers (maps) and heads of each.
  std::vector<KindOut> kinds;
  {
    m->forward(data.probe(), false);
    const std::vector<nn::AttentionMap> maps = m->attention_maps();
    std::map<std::string, size_t> at;
    for (size_t i = 0; i < maps.size(); ++i) {
      const std::string& k = maps[i].kind;
      if (!at.count(k)) at[k] = kinds.size(), kinds.push_back({}), kinds.back().kind = k, kinds.back().H = maps[i].shape[1];
      kinds[at[k]].maps.push_back(i);
    }
  }
  check_indices(o.layers, kinds, true);
  check_indices(o.heads, kinds, false);
  if (o.flow)
    for (const KindOut& k : kinds)
      if (is_self(k.kind))
        for (int64_t e : chosen) {
          const auto [tq, tk] = query_key_lengths(k.kind, data.all[e].S, data.all[e].T);
          (void)tk;
          check_flow_size(static_cast<int64_t>(k.maps.size()), tq, "example " + std::to_string(e));
        }

  io::H5StreamOut out(o.output, "attention");
  // Atomic for readers (the old file or the whole new one, also after SIGKILL) but without the fsync before
  // the rename: an export is recomputed from the model and its inputs in seconds, and fsync of the 189 MB
  // of bench 60's export took 0.16 s, a tenth of the export (a checkpoint, hours of training, keeps it).
  out.set_durable(false);
  out.set_attr("/", "arch", m->arch());
  out.set_attr("/", "task", std::string(nn::task_name(m->task())));
  out.set_attr("/", "n_examples", static_cast<int64_t>(chosen.size()));
  const int ex_index = out.add_column("examples/index", DType::i64);
  const int ex_source = out.add_column("examples/source", DType::i64);
  const int ex_start = out.add_column("examples/start", DType::i64);
  RaggedOut tokens_out, src_out;
  int labels = -1, decoded = -1;
  // The pieces of the tokenizers given: labels readable with h5py alone (pieces[id]).
  auto pieces = [&](const std::string& group, const tokenize::Tokenizer* tok) {
    std::vector<std::string> p;
    for (int32_t id = 0; tok && id < tok->vocab_size(); ++id) p.push_back(tok->display_piece(id));
    if (tok) out.write_strings(group + "/pieces", p);
  };
  if (data.lm()) {
    tokens_out.open(out, "tokens");
    pieces("tokens", data.src_tokenizer());
  } else if (data.seq2seq()) {
    src_out.open(out, "source_tokens");
    tokens_out.open(out, "tokens");  // [bos] y [eos], as qkv-decode --attention writes a hypothesis
    pieces("source_tokens", data.src_tokenizer());
    pieces("tokens", data.tgt_tokenizer());
    if (data.text()) decoded = out.add_column("examples/decoded", DType::i32);
  } else {
    if (data.labelled()) labels = out.add_column("labels", DType::i32);
    out.set_attr("/", "first_patch", data.first_patch);
    if (data.patch_meta()) {
      const formats::Grid& g = data.patch_meta()->grid;
      out.set_attr("/", "grid", std::vector<int64_t>{g.rows, g.cols});
      out.set_attr("/", "patch", std::vector<int64_t>{g.patch.h, g.patch.w});
      out.set_attr("/", "stride", std::vector<int64_t>{g.stride.h, g.stride.w});
      out.set_attr("/", "image", std::vector<int64_t>{g.image.h, g.image.w});
    }
  }
  std::vector<std::string> names;
  for (KindOut& k : kinds) {
    const std::vector<nn::AttentionMap> maps = m->attention_maps();
    k.layers = select(o.layers, static_cast<int64_t>(k.maps.size()));
    k.heads = select(o.heads, k.H);
    std::vector<std::string> layer_names;
    for (int64_t l : k.layers) layer_names.push_back(maps[k.maps[l]].name);
    names.push_back(k.kind);
    out.set_attr(k.kind, "layers", k.layers);
    out.set_attr(k.kind, "heads", k.heads);
    out.set_attr(k.kind, "layer_names", layer_names);
    k.tq = out.add_column(k.kind + "/tq", DType::i64);
    k.tk = out.add_column(k.kind + "/tk", DType::i64);
    if (!o.stats_only) {
      k.weights = out.add_column(k.kind + "/weights", DType::f32);
      k.offsets = out.add_column(k.kind + "/offsets", DType::i64);
      out.append(k.offsets, &k.weights_n, 1);
    }
    if (o.stats || o.stats_only) {
      k.stats = out.add_array(
          k.kind + "/head_stats", DType::f32,
          {static_cast<int64_t>(k.layers.size()), static_cast<int64_t>(k.heads.size()), kNumHeadStats}, 256);
      std::vector<std::string> sn;
      for (const char* s : head_stat_names()) sn.push_back(s);
      out.set_attr(k.kind, "head_stat_names", sn);
    }
    if (o.rollout && is_self(k.kind)) {
      k.rollout = out.add_column(k.kind + "/rollout", DType::f32);
      k.rollout_offsets = out.add_column(k.kind + "/rollout_offsets", DType::i64);
      out.append(k.rollout_offsets, &k.rollout_n, 1);
    }
    if (o.grad_rollout && k.kind != "additive") {
      k.grad = out.add_column(k.kind + "/grad_rollout", DType::f32);
      k.grad_offsets = out.add_column(k.kind + "/grad_rollout_offsets", DType::i64);
      out.append(k.grad_offsets, &k.grad_n, 1);
    }
    if (o.flow && is_self(k.kind)) {
      k.flow = out.add_column(k.kind + "/flow", DType::f32);
      k.flow_offsets = out.add_column(k.kind + "/flow_offsets", DType::i64);
      out.append(k.flow_offsets, &k.flow_n, 1);
    }
  }
  out.set_attr("/", "kinds", names);
  const int grad_position = o.grad_rollout ? out.add_column("grad_target/position", DType::i64) : -1;
  const int grad_id = o.grad_rollout ? out.add_column("grad_target/id", DType::i64) : -1;

  PatchGrid grid;
  if (!data.lm() && !data.seq2seq() && data.patch_meta()) {
    const formats::Grid& g = data.patch_meta()->grid;
    grid = {data.first_patch, g.rows, g.cols, g.patch.h, g.patch.w, g.stride.h, g.stride.w};
  }
  std::vector<Example> ex;
  std::vector<std::vector<int32_t>> src, tgt;  // per row: sequence/source ids, [bos] y (seq2seq)
  std::vector<float> stats_buf, hstats, stack, result;
  BatchedAppends bout(out);
  nn::Stats loss, loss_masked;
  std::vector<std::vector<double>> importance;  // per head probe (H)
  for (size_t b0 = 0; b0 < chosen.size(); b0 += static_cast<size_t>(o.batch)) {
    const size_t b1 = std::min(chosen.size(), b0 + static_cast<size_t>(o.batch));
    const std::vector<int64_t> rows(chosen.begin() + static_cast<std::ptrdiff_t>(b0),
                                    chosen.begin() + static_cast<std::ptrdiff_t>(b1));
    const nn::Batch batch = data.batch(rows, ex, src, tgt, with_targets);
    if (o.importance) add_head_importance(*m, batch, importance);
    std::vector<GradTarget> targets;
    std::vector<std::map<std::string, std::vector<float>>> grads;  // [row][kind] (tq, tk)
    if (o.grad_rollout) {
      std::vector<int64_t> lengths;
      for (const Example& e : ex) lengths.push_back(data.seq2seq() ? e.T : e.S);
      targets = target_backward(*m, batch, lengths, forced);
      for (size_t r = 0; r < rows.size(); ++r) grads.push_back(grad_rollouts(*m, static_cast<int64_t>(r), ex[r].S, ex[r].T));
    }
    if (masked) {  // the same batch without the mask, for the loss
      std::vector<std::vector<float>> gates;
      for (nn::HeadProbe& p : m->head_probes()) gates.push_back(std::move(p.gate)), p.gate.clear();
      loss += m->forward(batch, false);
      for (size_t p = 0; p < gates.size(); ++p) m->head_probes()[p].gate = std::move(gates[p]);
    }
    const nn::Stats s = m->forward(batch, false);
    if (masked) loss_masked += s;
    const std::vector<nn::AttentionMap> maps = m->attention_maps();
    for (size_t r = 0; r < rows.size(); ++r) {
      const Example& e = ex[r];
      bout.append(ex_index, &rows[r], 1);
      bout.append(ex_source, &e.source, 1);
      bout.append(ex_start, &e.start, 1);
      if (decoded >= 0) {
        const int32_t d = data.decoded(rows[r]);
        bout.append(decoded, &d, 1);
      }
      // Key-side special tokens (T): the tokenizer's specials, or the [CLS] token.
      std::vector<uint8_t> src_special(e.S, 0), tgt_special(e.T, 0);
      if (data.lm() || data.seq2seq()) {
        for (int64_t t = 0; t < e.S; ++t) src_special[t] = src[r][t] < formats::kNumSpecialIds;
        for (int64_t t = 0; t < e.T; ++t) tgt_special[t] = tgt[r][t] < formats::kNumSpecialIds;
      } else if (data.first_patch) {
        src_special[0] = 1;
      }
      if (data.lm()) tokens_out.append(bout, src[r].data(), e.S);
      if (data.seq2seq()) {
        src_out.append(bout, src[r].data(), e.S);
        tgt[r].push_back(formats::kEosId);
        tokens_out.append(bout, tgt[r].data(), e.T + 1);
      }
      if (labels >= 0) bout.append(labels, &batch.labels[r], 1);
      if (o.grad_rollout) bout.append(grad_position, &targets[r].position, 1), bout.append(grad_id, &targets[r].id, 1);
      for (KindOut& k : kinds) {
        const nn::AttentionMap& m0 = maps[k.maps[0]];
        const int64_t H = m0.shape[1], Tq = m0.shape[2], Tk = m0.shape[3];  // padded sizes
        const auto [tq, tk] = query_key_lengths(k.kind, e.S, e.T);
        bout.append(k.tq, &tq, 1);
        bout.append(k.tk, &tk, 1);
        // stack (L, H, tq, tk): every layer and head of this example, padding cut off
        const int64_t L = static_cast<int64_t>(k.maps.size()), TT = tq * tk;
        stack.assign(L * H * TT, 0.0f);
        for (int64_t l = 0; l < L; ++l)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < tq; ++i) {
              const float* row = maps[k.maps[l]].weights + ((static_cast<int64_t>(r) * H + h) * Tq + i) * Tk;  // (Tk)
              std::copy(row, row + tk, stack.begin() + ((l * H + h) * tq + i) * tk);
            }
        if (k.weights >= 0) {
          for (int64_t l : k.layers)
            for (int64_t h : k.heads) bout.append(k.weights, stack.data() + (l * H + h) * TT, TT);
          k.weights_n += static_cast<int64_t>(k.layers.size() * k.heads.size()) * TT;
          bout.append(k.offsets, &k.weights_n, 1);
        }
        if (k.stats >= 0) {
          HeadStatsInput hin;
          hin.aligned = is_self(k.kind);
          hin.special = k.kind == "decoder_self" ? tgt_special.data() : src_special.data();
          hin.grid = grid.rows > 0 && hin.aligned ? &grid : nullptr;
          hstats.resize(H * kNumHeadStats);  // (H, 8)
          stats_buf.clear();                 // (layers, heads, 8)
          for (int64_t l : k.layers) {
            head_stats(hstats.data(), stack.data() + l * H * TT, H, tq, tk, hin);
            for (int64_t h : k.heads)
              stats_buf.insert(stats_buf.end(), hstats.begin() + h * kNumHeadStats,
                               hstats.begin() + (h + 1) * kNumHeadStats);
          }
          bout.append(k.stats, stats_buf.data(), 1, stats_buf.size());
        }
        result.resize(TT);  // (T, T)
        if (k.rollout >= 0) {
          rollout(result.data(), stack.data(), L, H, tq, o.rollout_options);
          bout.append(k.rollout, result.data(), TT);
          k.rollout_n += TT;
          bout.append(k.rollout_offsets, &k.rollout_n, 1);
        }
        if (k.grad >= 0) {
          const std::vector<float>& g = grads[r].at(k.kind);
          bout.append(k.grad, g.data(), g.size());
          k.grad_n += static_cast<int64_t>(g.size());
          bout.append(k.grad_offsets, &k.grad_n, 1);
        }
        if (k.flow >= 0) {
          flow(result.data(), stack.data(), L, H, tq, o.rollout_options);
          bout.append(k.flow, result.data(), TT);
          k.flow_n += TT;
          bout.append(k.flow_offsets, &k.flow_n, 1);
        }
      }
    }
    bout.flush();
  }
  if (o.rollout || o.flow) {
    out.set_attr("/", "head_fusion", std::string(fusion_name(o.rollout_options.fusion)));
    out.set_attr("/", "discard_ratio", static_cast<double>(o.rollout_options.discard_ratio));
  }
  if (data.seq2seq()) out.set_attr("/", "truncated_examples", data.truncated());
  if (masked) {
    out.set_attr("/", "mask_heads", o.mask_heads);
    out.set_attr("/", "loss", loss.mean_loss());
    out.set_attr("/", "loss_masked", loss_masked.mean_loss());
    out.set_attr("/", "loss_targets", loss.count);
  }
  if (o.importance)
    for (const KindOut& k : kinds) {
      const int64_t L = static_cast<int64_t>(k.maps.size()), H = k.H;
      std::vector<float> raw(L * H, 0.0f);  // (L, H)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t h = 0; h < H && k.maps[l] < importance.size(); ++h)
          raw[l * H + h] = static_cast<float>(importance[k.maps[l]][h]);
      std::vector<float> norm = raw;
      normalize_per_layer(norm.data(), L, H);
      out.write(k.kind + "/importance_raw", Tensor::from(raw, {L, H}));
      out.write(k.kind + "/importance", Tensor::from(norm, {L, H}));
    }
  out.commit();
}

}  // namespace qkv::attend
