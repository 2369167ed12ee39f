#include "nn/batch_io.h"

#include <algorithm>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "formats/patches.h"
#include "formats/tokens.h"
#include "nn/batch_rules.h"
#include "nn/checkpoint.h"
#include "nn/model_budget.h"

namespace qkv::nn {

namespace {

void same_shape(const io::H5In& in, const std::string& a, const std::string& b) {
  if (in.shape(a) != in.shape(b))
    throw DataError(in.path() + ": /" + a + " " + shape_str(in.shape(a)) + " and /" + b + " " +
                    shape_str(in.shape(b)) + " must have the same shape");
}

// Examples of one input file: n of them, logits rows shaped `row`, batch(b, e) forms examples [b, e).
struct Source {
  int64_t n = 0;
  int64_t T = 0;  // positions per example (per-position models), 0 for classifiers
  bool has_targets = false;
  std::function<Batch(int64_t, int64_t)> batch;
};

Tensor rows_i32(const io::H5In& in, const std::string& name, int64_t b, int64_t e, int ndim) {
  return in.read_rows(name, DType::i32, b, e, ndim);
}
std::vector<int32_t> vec(const Tensor& t) { return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel()); }

Source batch_file_source(const io::H5In& in, Task task) {
  Source s;
  if (task == Task::language_model) {
    Shape sh = in.shape("inp");
    if (sh.size() != 2) throw DataError(in.path() + ": /inp: expected (B, T), found shape " + shape_str(sh));
    s.has_targets = in.has("tgt");
    if (s.has_targets) same_shape(in, "inp", "tgt");
    s.n = sh[0], s.T = sh[1];
    s.batch = [&in, T = s.T, targets = s.has_targets](int64_t b, int64_t e) {
      return Batch::lm(e - b, T, vec(rows_i32(in, "inp", b, e, 2)),
                       targets ? vec(rows_i32(in, "tgt", b, e, 2)) : std::vector<int32_t>{});
    };
  } else if (task == Task::seq2seq) {
    Shape ss = in.shape("src"), st = in.shape("tgt_in");
    if (ss.size() != 2) throw DataError(in.path() + ": /src: expected (B, S), found shape " + shape_str(ss));
    if (st.size() != 2) throw DataError(in.path() + ": /tgt_in: expected (B, T), found shape " + shape_str(st));
    if (st[0] != ss[0]) throw DataError(in.path() + ": /src and /tgt_in have different batch sizes");
    s.has_targets = in.has("tgt_out");
    if (s.has_targets) same_shape(in, "tgt_in", "tgt_out");
    s.n = ss[0], s.T = st[1];
    const int64_t S = ss[1];
    s.batch = [&in, S, T = s.T, targets = s.has_targets](int64_t b, int64_t e) {
      return Batch::seq2seq(e - b, S, T, vec(rows_i32(in, "src", b, e, 2)), vec(rows_i32(in, "tgt_in", b, e, 2)),
                            targets ? vec(rows_i32(in, "tgt_out", b, e, 2)) : std::vector<int32_t>{});
    };
  } else {
    Shape sp = in.shape("patches");
    if (sp.size() != 3) throw DataError(in.path() + ": /patches: expected (B, P, D), found shape " + shape_str(sp));
    formats::patch_dtype(in, "patches");
    s.has_targets = in.has("labels");
    s.n = sp[0];
    if (s.has_targets) {
      Shape sl = in.shape("labels");
      if (sl.size() != 1 || sl[0] != s.n)
        throw DataError(in.path() + ": /labels has shape " + shape_str(sl) + " for " + std::to_string(s.n) + " images");
    }
    s.batch = [&in, targets = s.has_targets](int64_t b, int64_t e) {
      Tensor p = formats::read_patch_values(in, "patches", b, e);  // (n, P, D) float32
      return Batch::images(e - b, p.dim(1), p.dim(2), std::vector<float>(p.data<float>(), p.data<float>() + p.numel()),
                           targets ? vec(rows_i32(in, "labels", b, e, 1)) : std::vector<int32_t>{});
    };
  }
  return s;
}

void check_fits(const std::string& where, const char* what, int64_t data, int64_t model, const Model& m) {
  if (model > 0 && data > model)
    throw DataError(where + what + " " + std::to_string(data) + " exceeds the model's (" + m.arch() + ") " +
                    std::to_string(model));
}

Source tokens_source(const formats::TokensReader& r, const Model& m, const ForwardOptions& o) {
  const ModelDims d = dims(m);
  check_fits(r.where(), "vocab_size", r.vocab().vocab_size, d.vocab, m);
  const int64_t T = o.context > 0 ? o.context : d.max_len;
  if (T <= 0) throw UsageError("--context: the model has no maximum length; give one");
  if (d.max_len > 0 && T > d.max_len)
    throw UsageError("--context " + std::to_string(T) + " exceeds the model's maximum of " + std::to_string(d.max_len));
  Source s;
  s.has_targets = true;
  if (o.lm_mode == "stream") {
    const int64_t S = o.window_stride > 0 ? o.window_stride : T;
    if (S > T) throw UsageError("window stride " + std::to_string(S) + " exceeds the context " + std::to_string(T));
    s.n = lm_window_count(r.num_tokens(), T, S);
    if (s.n == 0)
      throw DataError(r.where() + std::to_string(r.num_tokens()) + " tokens are too few for one window of context " +
                      std::to_string(T) + " (+1 target)");
    s.T = T;
    s.batch = [&r, T, S](int64_t b, int64_t e) {
      std::vector<int32_t> ids = r.read_ids(b * S, (e - 1) * S + T + 1);  // the windows' tokens
      std::vector<int64_t> starts(static_cast<size_t>(e - b));
      for (int64_t k = 0; k < e - b; ++k) starts[k] = k * S;
      return lm_window_batch(ids.data(), starts, T);
    };
  } else if (o.lm_mode == "sequence") {
    s.n = r.size();
    s.T = 1;
    for (int64_t i = 0; i < s.n; ++i) {
      if (r.len(i) < 2)
        throw DataError(r.where() + "sequence " + std::to_string(i) + " has " + std::to_string(r.len(i)) +
                        " token(s); one-sequence-per-example LM needs at least 2 (encode with --bos/--eos?)");
      s.T = std::max(s.T, lm_sequence_length(r.len(i), T));
    }
    s.batch = [&r, T, W = s.T](int64_t b, int64_t e) {
      formats::Sequences seq = r.read(b, e);
      std::vector<int64_t> idx(static_cast<size_t>(e - b));
      for (int64_t k = 0; k < e - b; ++k) idx[k] = k;
      return lm_sequence_batch(seq, idx, T, W);
    };
  } else {
    throw UsageError("--lm-mode must be stream or sequence");
  }
  return s;
}

Source pairs_source(const formats::TokenPairsReader& r, const Model& m, const ForwardOptions& o) {
  const ModelDims d = dims(m);
  check_fits(r.src.where(), "vocab_size", r.src.vocab().vocab_size, d.src_vocab, m);
  check_fits(r.tgt.where(), "vocab_size", r.tgt.vocab().vocab_size, d.tgt_vocab, m);
  for (const formats::TokensReader* g : {&r.src, &r.tgt})
    if (d.pad_id >= 0 && g->vocab().pad_id != d.pad_id)
      throw DataError(g->where() + "pad_id " + std::to_string(g->vocab().pad_id) + " differs from the model's (" +
                      m.arch() + ") pad_id " + std::to_string(d.pad_id));
  Source s;
  s.has_targets = true;
  s.n = r.size();
  int64_t S = 1, T = 1;  // the file's widest source and target (an upper bound: bos / eos are stripped later)
  for (int64_t i = 0; i < s.n; ++i) {
    if (r.src.len(i) == 0)
      throw DataError(r.src.where() + "pair " + std::to_string(i) + " has an empty source sequence");
    S = std::max(S, pair_source_length(r.src.len(i), o.max_src_len));
    T = std::max(T, pair_target_length(r.tgt.len(i), o.max_tgt_len));
  }
  s.T = T;
  s.batch = [&r, o, S, T](int64_t b, int64_t e) {
    formats::Pairs p = r.read(b, e);
    std::vector<int64_t> idx(static_cast<size_t>(e - b));
    for (int64_t k = 0; k < e - b; ++k) idx[k] = k;
    return pair_batch(p, idx, o.max_src_len, o.max_tgt_len, S, T);
  };
  return s;
}

Source patches_source(const formats::PatchesReader& r, const Model& m) {
  const ModelDims d = dims(m);
  if (r.num_patches() != d.n_patches || r.patch_dim() != d.patch_dim)
    throw DataError(r.path() + ": patches of shape " + shape_str({r.num_patches(), r.patch_dim()}) +
                    " do not fit the model's (" + m.arch() + ") " + shape_str({d.n_patches, d.patch_dim}));
  if (r.labelled()) check_fits(r.path() + ": ", "num_classes", r.num_classes(), d.n_classes, m);
  Source s;
  s.has_targets = r.labelled();
  s.n = r.size();
  s.batch = [&r](int64_t b, int64_t e) {
    Tensor p = r.read(b, e);  // (n, P, D) float32
    std::vector<int32_t> labels;
    if (r.labelled()) labels.assign(r.labels().begin() + b, r.labels().begin() + e);
    return Batch::images(e - b, p.dim(1), p.dim(2), std::vector<float>(p.data<float>(), p.data<float>() + p.numel()),
                         std::move(labels));
  };
  return s;
}

ForwardResult run_source(const Source& s, Model& m, const ForwardOptions& o, io::H5StreamOut& out) {
  if (o.batch_size <= 0) throw UsageError("--batch-size must be positive");
  const ModelDims d = dims(m);
  Shape row = d.output_shape(1, s.T);  // (1, T, n_out) or (1, n_out)
  row.erase(row.begin());
  const int logits = out.add_array("logits", DType::f32, row, static_cast<size_t>(std::max<int64_t>(1, o.batch_size)));
  ForwardResult r;
  r.has_targets = s.has_targets;
  for (int64_t b = 0; b < s.n; b += o.batch_size) {
    const int64_t e = std::min(s.n, b + o.batch_size);
    Batch batch = s.batch(b, e);
    r.stats += m.forward(batch, false);
    out.append(logits, m.logits(), static_cast<size_t>(e - b));
  }
  r.examples = s.n;
  out.set_attr("/", "arch", m.arch());
  if (r.has_targets) {
    out.set_attr("/", "loss", r.stats.mean_loss());
    out.set_attr("/", "count", r.stats.count);
    out.set_attr("/", "correct", r.stats.correct);
  }
  return r;
}

void expect_task(const io::H5In& in, const std::string& kind, Task want, const Model& m) {
  if (m.task() != want)
    throw DataError(in.path() + ": a '" + kind + "' file feeds a " + task_name(want) + " model; the checkpoint is a " +
                    task_name(m.task()) + " model (" + m.arch() + ")");
}

}  // namespace

Batch read_batch(const io::H5In& in, Task task) {
  in.expect_kind("batch");
  Source s = batch_file_source(in, task);
  return s.batch(0, s.n);
}

ForwardResult forward_file(const io::H5In& in, Model& m, const ForwardOptions& o, io::H5StreamOut& out) {
  const std::string kind = in.kind();
  ForwardResult r;
  if (kind == "batch") {
    r = run_source(batch_file_source(in, m.task()), m, o, out);
  } else if (kind == formats::kTokensKind) {
    expect_task(in, kind, Task::language_model, m);
    formats::TokensReader reader(in);
    r = run_source(tokens_source(reader, m, o), m, o, out);
    out.set_attr("/", "lm_mode", o.lm_mode);
    out.set_attr("/", "context", o.context > 0 ? o.context : dims(m).max_len);
  } else if (kind == formats::kTokenPairsKind) {
    expect_task(in, kind, Task::seq2seq, m);
    formats::TokenPairsReader reader(in);
    r = run_source(pairs_source(reader, m, o), m, o, out);
  } else if (kind == formats::kPatchesKind) {
    expect_task(in, kind, Task::classify, m);
    formats::PatchesReader reader(in);
    r = run_source(patches_source(reader, m), m, o, out);
  } else {
    throw DataError(in.path() + ": " + (kind.empty() ? std::string("not a qkv file (no qkv_format attribute)")
                                                     : "is a qkv '" + kind + "' file") +
                    ", expected a batch, tokens, token_pairs or patches file");
  }
  r.input_kind = kind;
  return r;
}

std::string describe_checkpoint(const io::H5In& in) {
  std::string arch = read_arch(in);
  Config c = read_model_config(in);
  std::ostringstream o;
  std::unique_ptr<Model> m = make_model_from_file(in, arch, c, 0);
  load_params(in, *m);  // every parameter present, of its shape, dtype and finite
  o << in.path() << ": " << arch << " (" << task_name(m->task()) << "), " << m->params().num_params()
    << " parameters\nhyperparameters: " << m->config().to_string() << "\n";
  o << "parameters (PyTorch name, shape, weight decay):\n";
  for (const ParamInfo& p : m->params().infos()) {
    o << "  " << p.name << " " << shape_str(p.shape) << (p.decay ? " decay" : "") << "\n";
  }
  if (has_optimizer(in)) {
    OptimConfig oc = read_optimizer_config(in);
    o << "optimizer: " << oc.kind << ", step " << in.attr_int("/optimizer", "step") << "\n";
  }
  if (has_train_state(in)) {
    TrainState ts = load_train_state(in);
    o << "train state: step " << ts.step << ", epoch " << ts.epoch << ", data position " << ts.data_position;
    if (!ts.extra.items().empty()) o << ", " << ts.extra.to_string();
    o << "\n";
  }
  return o.str();
}

}  // namespace qkv::nn
