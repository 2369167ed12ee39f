#include "attend/export.h"

#include <algorithm>
#include <map>
#include <memory>

#include "attend/flow.h"
#include "attend/head_stats.h"
#include "core/error.h"
#include "formats/patches.h"
#include "formats/tokens.h"
#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

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

int64_t cfg_int(const nn::Model& m, const std::string& key) {
  const nn::ConfigValue* v = m.config().find(key);
  QKV_CHECK(v && std::holds_alternative<int64_t>(*v), "model config has no integer " + key);
  return std::get<int64_t>(*v);
}

// The kind of an attention map, from the layer's parameter prefix.
std::string kind_of(const std::string& name) {
  if (name.find("multihead_attn") != std::string::npos) return "cross";
  if (name.find("decoder") != std::string::npos) return "decoder_self";
  if (name.find("encoder") != std::string::npos) return "encoder_self";
  return "self";
}

// One example: a window [start, start + len) of token sequence `source`, or image `source`.
struct Example {
  int64_t source = 0, start = 0, len = 0;
};

// Where one kind's tensors stream to (column handles of H5StreamOut).
struct KindOut {
  std::string kind;
  std::vector<size_t> maps;  // indices into attention_maps() of this kind, by layer
  std::vector<int64_t> layers, heads;
  int weights = -1, offsets = -1, tq = -1, tk = -1, stats = -1, rollout = -1, rollout_offsets = -1, flow = -1,
      flow_offsets = -1;
  int64_t weights_n = 0, rollout_n = 0, flow_n = 0;
};

}  // namespace

void run_export(const ExportOptions& o) {
  io::H5In min(o.model);
  std::unique_ptr<nn::Model> m = nn::load_model(min);
  io::H5In in(o.input);
  const nn::Task task = m->task();
  const bool lm = task == nn::Task::language_model;
  if (task == nn::Task::seq2seq)
    throw UsageError(o.model + ": " + m->arch() + " (seq2seq) export is not implemented yet; gpt and vit are");
  const std::string want = lm ? formats::kTokensKind : formats::kPatchesKind;
  if (in.kind() != want)
    throw DataError(o.input + ": is a qkv '" + in.kind() + "' file, but " + o.model + " (" + m->arch() +
                    ") reads '" + want + "' files");

  // Examples: LM windows of block_size tokens, or images.
  std::unique_ptr<formats::TokensReader> tokens;
  std::unique_ptr<formats::PatchesReader> patches;
  std::vector<Example> all;
  int64_t first_patch = 0;
  if (lm) {
    tokens = std::make_unique<formats::TokensReader>(in);
    const int64_t V = cfg_int(*m, "vocab_size"), block = cfg_int(*m, "block_size");
    if (tokens->vocab().vocab_size > V)
      throw DataError(o.input + ": vocabulary of " + std::to_string(tokens->vocab().vocab_size) + " ids, but " +
                      o.model + " has " + std::to_string(V));
    for (int64_t s = 0; s < tokens->size(); ++s)
      for (int64_t t = 0; t < tokens->len(s); t += block) all.push_back({s, t, std::min(block, tokens->len(s) - t)});
  } else {
    patches = std::make_unique<formats::PatchesReader>(in);
    const int64_t P = cfg_int(*m, "n_patches"), D = cfg_int(*m, "patch_dim");
    if (patches->num_patches() != P || patches->patch_dim() != D)
      throw DataError(o.input + ": " + std::to_string(patches->num_patches()) + " patches of " +
                      std::to_string(patches->patch_dim()) + " values, but " + o.model + " takes " +
                      std::to_string(P) + " of " + std::to_string(D));
    first_patch = m->config().find("pool") && std::get<std::string>(*m->config().find("pool")) == "mean" ? 0 : 1;
    for (int64_t i = 0; i < patches->size(); ++i) all.push_back({i, 0, P + first_patch});
  }
  const std::vector<int64_t> chosen = parse_index_list(o.examples, static_cast<int64_t>(all.size()), "--examples");
  const int64_t n_layer = cfg_int(*m, "n_layer"), n_head = cfg_int(*m, "n_head");
  if (o.flow)
    for (int64_t e : chosen) check_flow_size(n_layer, all[e].len, "example " + std::to_string(e));
  for (int64_t l : o.layers)
    if (l < 0 || l >= n_layer)
      throw UsageError("--layers " + std::to_string(l) + ": the model has " + std::to_string(n_layer) +
                       " layers (0-" + std::to_string(n_layer - 1) + ")");
  for (int64_t h : o.heads)
    if (h < 0 || h >= n_head)
      throw UsageError("--heads " + std::to_string(h) + ": the model has " + std::to_string(n_head) + " heads (0-" +
                       std::to_string(n_head - 1) + ")");
  std::vector<int64_t> sel_layers = o.layers, sel_heads = o.heads;
  if (sel_layers.empty())
    for (int64_t l = 0; l < n_layer; ++l) sel_layers.push_back(l);
  if (sel_heads.empty())
    for (int64_t h = 0; h < n_head; ++h) sel_heads.push_back(h);

  io::H5StreamOut out(o.output, "attention");
  out.set_attr("/", "arch", m->arch());
  out.set_attr("/", "task", std::string(nn::task_name(task)));
  out.set_attr("/", "n_examples", static_cast<int64_t>(chosen.size()));
  const int ex_index = out.add_column("examples/index", DType::i64);
  const int ex_source = out.add_column("examples/source", DType::i64);
  const int ex_start = out.add_column("examples/start", DType::i64);
  int tok_ids = -1, tok_off = -1, labels = -1;
  int64_t tok_n = 0;
  if (lm) {
    tok_ids = out.add_column("tokens/ids", DType::i32);
    tok_off = out.add_column("tokens/offsets", DType::i64);
    out.append(tok_off, &tok_n, 1);
  } else {
    if (patches->labelled()) labels = out.add_column("labels", DType::i32);
    out.set_attr("/", "first_patch", first_patch);
    if (patches->has_meta()) {
      const formats::Grid& g = patches->meta().grid;
      out.set_attr("/", "grid", std::vector<int64_t>{g.rows, g.cols});
      out.set_attr("/", "patch", std::vector<int64_t>{g.patch.h, g.patch.w});
      out.set_attr("/", "stride", std::vector<int64_t>{g.stride.h, g.stride.w});
      out.set_attr("/", "image", std::vector<int64_t>{g.image.h, g.image.w});
    }
  }

  std::vector<KindOut> kinds;
  std::vector<int32_t> window;  // (len) ids of one LM window
  formats::Sequences cached;    // the last token sequence read (windows of one sequence share it)
  int64_t cached_seq = -1;
  std::vector<float> buf, stats_buf, hstats, stack, result;
  for (size_t b0 = 0; b0 < chosen.size(); b0 += static_cast<size_t>(o.batch)) {
    const size_t b1 = std::min(chosen.size(), b0 + static_cast<size_t>(o.batch));
    const int64_t B = static_cast<int64_t>(b1 - b0);
    int64_t T = 0;
    for (size_t i = b0; i < b1; ++i) T = std::max(T, all[chosen[i]].len);
    nn::Batch batch;
    std::vector<std::vector<int32_t>> ids(B);
    if (lm) {
      std::vector<int32_t> inp(B * T, 0), tgt(B * T, nn::kIgnoreIndex);  // (B, T) each
      for (int64_t r = 0; r < B; ++r) {
        const Example& e = all[chosen[b0 + r]];
        if (e.source != cached_seq) cached = tokens->read(e.source, e.source + 1), cached_seq = e.source;
        ids[r].assign(cached.seq(0) + e.start, cached.seq(0) + e.start + e.len);
        std::copy(ids[r].begin(), ids[r].end(), inp.begin() + r * T);
      }
      batch = nn::Batch::lm(B, T, std::move(inp), std::move(tgt));
    } else {
      const int64_t P = patches->num_patches(), D = patches->patch_dim();
      std::vector<float> px(B * P * D);  // (B, P, D)
      std::vector<int32_t> lab(B, 0);
      for (int64_t r = 0; r < B; ++r) {
        const int64_t s = all[chosen[b0 + r]].source;
        Tensor x = patches->read(s, s + 1);  // (1, P, D)
        std::copy(x.data<float>(), x.data<float>() + P * D, px.begin() + r * P * D);
        if (patches->labelled()) lab[r] = patches->labels()[s];
      }
      batch = nn::Batch::images(B, P, D, std::move(px), std::move(lab));
    }
    m->forward(batch, false);
    const std::vector<nn::AttentionMap> maps = m->attention_maps();
    if (kinds.empty()) {  // the first batch names the kinds and opens their columns
      std::map<std::string, size_t> at;
      for (size_t i = 0; i < maps.size(); ++i) {
        const std::string k = kind_of(maps[i].name);
        if (!at.count(k)) at[k] = kinds.size(), kinds.push_back({}), kinds.back().kind = k;
        kinds[at[k]].maps.push_back(i);
      }
      std::vector<std::string> names;
      for (KindOut& k : kinds) {
        k.layers = sel_layers, k.heads = sel_heads;
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
          k.stats = out.add_array(k.kind + "/head_stats", DType::f32,
                                  {static_cast<int64_t>(k.layers.size()), static_cast<int64_t>(k.heads.size()),
                                   kNumHeadStats},
                                  256);
          std::vector<std::string> sn;
          for (const char* s : head_stat_names()) sn.push_back(s);
          out.set_attr(k.kind, "head_stat_names", sn);
        }
        const bool self = k.kind != "cross";
        if (o.rollout && self) {
          k.rollout = out.add_column(k.kind + "/rollout", DType::f32);
          k.rollout_offsets = out.add_column(k.kind + "/rollout_offsets", DType::i64);
          out.append(k.rollout_offsets, &k.rollout_n, 1);
        }
        if (o.flow && self) {
          k.flow = out.add_column(k.kind + "/flow", DType::f32);
          k.flow_offsets = out.add_column(k.kind + "/flow_offsets", DType::i64);
          out.append(k.flow_offsets, &k.flow_n, 1);
        }
      }
      out.set_attr("/", "kinds", names);
    }
    for (int64_t r = 0; r < B; ++r) {
      const int64_t idx = chosen[b0 + r];
      const Example& e = all[idx];
      out.append(ex_index, &idx, 1);
      out.append(ex_source, &e.source, 1);
      out.append(ex_start, &e.start, 1);
      std::vector<uint8_t> special(e.len, 0);  // (T): specials of the tokenizer, or [CLS]
      if (lm) {
        out.append(tok_ids, ids[r].data(), ids[r].size());
        tok_n += e.len;
        out.append(tok_off, &tok_n, 1);
        for (int64_t t = 0; t < e.len; ++t) special[t] = ids[r][t] < formats::kNumSpecialIds;
      } else {
        if (labels >= 0) out.append(labels, &batch.labels[r], 1);
        if (first_patch) special[0] = 1;
      }
      PatchGrid grid;
      if (!lm && patches->has_meta()) {
        const formats::Grid& g = patches->meta().grid;
        grid = {first_patch, g.rows, g.cols, g.patch.h, g.patch.w, g.stride.h, g.stride.w};
      }
      for (KindOut& k : kinds) {
        const nn::AttentionMap& m0 = maps[k.maps[0]];
        const int64_t H = m0.shape[1], Tq = m0.shape[2], Tk = m0.shape[3];  // padded sizes
        const int64_t tq = e.len, tk = e.len;
        out.append(k.tq, &tq, 1);
        out.append(k.tk, &tk, 1);
        // stack (L, H, tq, tk): every layer and head of this example, padding cut off
        const int64_t L = static_cast<int64_t>(k.maps.size()), TT = tq * tk;
        stack.assign(L * H * TT, 0.0f);
        for (int64_t l = 0; l < L; ++l)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < tq; ++i) {
              const float* src = maps[k.maps[l]].weights + ((r * H + h) * Tq + i) * Tk;  // (Tk)
              std::copy(src, src + tk, stack.begin() + ((l * H + h) * tq + i) * tk);
            }
        if (k.weights >= 0) {
          for (int64_t l : k.layers)
            for (int64_t h : k.heads) out.append(k.weights, stack.data() + (l * H + h) * TT, TT);
          k.weights_n += static_cast<int64_t>(k.layers.size() * k.heads.size()) * TT;
          out.append(k.offsets, &k.weights_n, 1);
        }
        if (k.stats >= 0) {
          HeadStatsInput hin;
          hin.aligned = k.kind != "cross";
          hin.special = special.data();
          hin.grid = grid.rows > 0 ? &grid : nullptr;
          hstats.resize(H * kNumHeadStats);  // (H, 8)
          stats_buf.clear();                 // (layers, heads, 8)
          for (int64_t l : k.layers) {
            head_stats(hstats.data(), stack.data() + l * H * TT, H, tq, tk, hin);
            for (int64_t h : k.heads)
              stats_buf.insert(stats_buf.end(), hstats.begin() + h * kNumHeadStats,
                               hstats.begin() + (h + 1) * kNumHeadStats);
          }
          out.append(k.stats, stats_buf.data(), 1);
        }
        result.resize(TT);  // (T, T)
        if (k.rollout >= 0) {
          rollout(result.data(), stack.data(), L, H, tq, o.rollout_options);
          out.append(k.rollout, result.data(), TT);
          k.rollout_n += TT;
          out.append(k.rollout_offsets, &k.rollout_n, 1);
        }
        if (k.flow >= 0) {
          flow(result.data(), stack.data(), L, H, tq, o.rollout_options);
          out.append(k.flow, result.data(), TT);
          k.flow_n += TT;
          out.append(k.flow_offsets, &k.flow_n, 1);
        }
      }
    }
  }
  if (o.rollout || o.flow) {
    out.set_attr("/", "head_fusion", std::string(fusion_name(o.rollout_options.fusion)));
    out.set_attr("/", "discard_ratio", static_cast<double>(o.rollout_options.discard_ratio));
  }
  out.commit();
}

}  // namespace qkv::attend
