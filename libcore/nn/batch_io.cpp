#include "nn/batch_io.h"

#include <cstring>
#include <sstream>

#include "core/error.h"
#include "formats/patches.h"
#include "nn/checkpoint.h"

namespace qkv::nn {

namespace {

std::vector<int32_t> ids(const io::H5In& in, const std::string& name, int64_t* d0, int64_t* d1) {
  Tensor t = in.read(name, DType::i32, d1 ? 2 : 1);
  *d0 = t.dim(0);
  if (d1) *d1 = t.dim(1);
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

void same_shape(const io::H5In& in, const std::string& a, const std::string& b) {
  if (in.shape(a) != in.shape(b))
    throw DataError(in.path() + ": /" + a + " " + shape_str(in.shape(a)) + " and /" + b + " " +
                    shape_str(in.shape(b)) + " must have the same shape");
}

Tensor ids_tensor(const std::vector<int32_t>& v, Shape s) { return Tensor::from(v, std::move(s)); }

}  // namespace

Batch read_batch(const io::H5In& in, Task task) {
  in.expect_kind("batch");
  Batch b;
  if (task == Task::language_model) {
    b.inp = ids(in, "inp", &b.B, &b.T);
    if (in.has("tgt")) {
      same_shape(in, "inp", "tgt");
      int64_t x;
      b.tgt = ids(in, "tgt", &x, &x);
    }
  } else if (task == Task::seq2seq) {
    b.src = ids(in, "src", &b.B, &b.S);
    int64_t B2;
    b.tgt_in = ids(in, "tgt_in", &B2, &b.T);
    if (B2 != b.B) throw DataError(in.path() + ": /src and /tgt_in have different batch sizes");
    if (in.has("tgt_out")) {
      same_shape(in, "tgt_in", "tgt_out");
      int64_t x;
      b.tgt_out = ids(in, "tgt_out", &x, &x);
    }
  } else {
    Tensor p = formats::read_patch_values(in, "patches");  // (B, P, D) float32: uint8 pixels scaled to 0..1
    b.B = p.dim(0);
    b.P = p.dim(1);
    b.D = p.dim(2);
    b.patches.assign(p.data<float>(), p.data<float>() + p.numel());
    if (in.has("labels")) {
      int64_t n;
      b.labels = ids(in, "labels", &n, nullptr);
      if (n != b.B) throw DataError(in.path() + ": /labels has " + std::to_string(n) + " entries for " + std::to_string(b.B) + " images");
    }
  }
  return b;
}

void write_batch(io::H5Out& out, const Batch& b, Task task) {
  const bool targets = b.has_targets(task);
  if (task == Task::language_model) {
    out.write("inp", ids_tensor(b.inp, {b.B, b.T}));
    if (targets) out.write("tgt", ids_tensor(b.tgt, {b.B, b.T}));
  } else if (task == Task::seq2seq) {
    out.write("src", ids_tensor(b.src, {b.B, b.S}));
    out.write("tgt_in", ids_tensor(b.tgt_in, {b.B, b.T}));
    if (targets) out.write("tgt_out", ids_tensor(b.tgt_out, {b.B, b.T}));
  } else {
    out.write("patches", Tensor::from(b.patches, {b.B, b.P, b.D}));
    if (targets) out.write("labels", ids_tensor(b.labels, {b.B}));
  }
}

void write_model_output(io::H5Out& out, Model& m, const Batch& b) {
  const bool has_targets = b.has_targets(m.task());
  Stats s = m.forward(b, false);
  Tensor logits(dims(m).output_shape(b.B, b.T));  // (B, T, n_out) or (B, n_out)
  std::memcpy(logits.data<float>(), m.logits(), logits.nbytes());
  out.write("logits", logits);
  out.set_attr("/", "arch", m.arch());
  if (has_targets) {
    out.set_attr("/", "loss", s.mean_loss());
    out.set_attr("/", "count", s.count);
    out.set_attr("/", "correct", s.correct);
  }
}

std::string describe_checkpoint(const io::H5In& in) {
  std::string arch = read_arch(in);
  Config c = read_model_config(in);
  std::ostringstream o;
  std::unique_ptr<Model> m;
  try {
    m = make_model(arch, c, 0);
  } catch (const UsageError& e) {
    throw DataError(in.path() + ": " + e.what());
  }
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
