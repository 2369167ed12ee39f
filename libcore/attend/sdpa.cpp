#include "attend/sdpa.h"

#include <algorithm>
#include <sys/stat.h>
#include <vector>

#include "core/error.h"
#include "io/h5.h"
#include "nn/attention.h"
#include "nn/linear.h"

namespace qkv::attend {

namespace {

// dst (B, H, T, hs) from src (B, T, H * hs), or back when to_heads is false.
void permute_heads(float* dst, const float* src, int64_t B, int64_t T, int64_t H, int64_t hs, bool to_heads) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t flat = ((b * T + t) * H + h) * hs, major = ((b * H + h) * T + t) * hs;
        std::copy_n(src + (to_heads ? flat : major), hs, dst + (to_heads ? major : flat));
      }
}

std::string dims(const Tensor& t) { return shape_str(t.shape()); }

const float* opt_data(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

SdpaResult sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_padding_mask,
                const SdpaWeights* proj, int64_t heads, bool causal, const SdpaNames& n) {
  const int r = q.ndim();
  if (r < 2 || r > 4) throw DataError(n.q + ": expected (T, E), (B, T, E) or (B, H, T, hs), found " + dims(q));
  if (k.ndim() != r || v.ndim() != r)
    throw DataError(n.q + " " + dims(q) + ", " + n.k + " " + dims(k) + " and " + n.v + " " + dims(v) +
                    " differ in rank");
  const bool head_major = r == 4;
  const int64_t B = r == 2 ? 1 : q.dim(0);
  const int64_t Tq = q.dim(-2), Tk = k.dim(-2), E = q.dim(-1);
  if ((r > 2 && (k.dim(0) != B || v.dim(0) != B)) || (head_major && (k.dim(1) != q.dim(1) || v.dim(1) != q.dim(1))))
    throw DataError(n.q + " " + dims(q) + ", " + n.k + " " + dims(k) + ", " + n.v + " " + dims(v) +
                    ": batch or head counts differ");
  if (k.dim(-1) != E) throw DataError(n.k + " " + dims(k) + ": key size differs from " + n.q + " " + dims(q));
  if (v.dim(-2) != Tk) throw DataError(n.v + " " + dims(v) + ": length differs from " + n.k + " " + dims(k));
  if (v.dim(-1) != E)
    throw DataError(n.v + " " + dims(v) + ": value size differs from the query/key size " + std::to_string(E) +
                    " (the kernel takes one head size)");
  int64_t H = heads > 0 ? heads : 1;
  if (head_major) {
    if (heads > 0 && heads != q.dim(1))
      throw UsageError("--heads " + std::to_string(heads) + ": " + n.q + " " + dims(q) + " has " +
                       std::to_string(q.dim(1)) + " heads");
    if (proj) throw UsageError("--proj takes (B, T, E) inputs; " + n.q + " is head-major " + dims(q));
    H = q.dim(1);
  } else if (E % H != 0) {
    throw UsageError("--heads " + std::to_string(H) + " does not divide the size " + std::to_string(E) + " of " +
                     n.q + " " + dims(q));
  }
  const int64_t C = head_major ? H * E : E, hs = C / H;  // C: every head side by side
  std::vector<uint8_t> kpm;
  if (key_padding_mask) {
    const Tensor& m = *key_padding_mask;
    const Shape want = r == 2 ? Shape{Tk} : Shape{B, Tk};
    if (m.shape() != want)
      throw DataError(n.mask + " " + dims(m) + ": expected " + shape_str(want) + " (batch, keys)");
    kpm.resize(m.numel());
    for (int64_t i = 0; i < m.numel(); ++i) kpm[i] = m.data<uint8_t>()[i] != 0;
  }
  // (B, T, C) inputs, projected when proj is given
  std::vector<float> xq(q.data<float>(), q.data<float>() + q.numel()), xk(k.data<float>(), k.data<float>() + k.numel()),
      xv(v.data<float>(), v.data<float>() + v.numel());
  if (proj) {
    const Shape w_in{3 * C, C}, w_out{C, C};
    if (proj->in_proj_weight.shape() != w_in || proj->out_proj_weight.shape() != w_out ||
        (proj->in_proj_bias.defined() && proj->in_proj_bias.shape() != Shape{3 * C}) ||
        (proj->out_proj_bias.defined() && proj->out_proj_bias.shape() != Shape{C}))
      throw DataError(n.proj + ": expected in_proj_weight " + shape_str(w_in) + ", out_proj.weight " +
                      shape_str(w_out) + " and biases (" + std::to_string(3 * C) + ") and (" + std::to_string(C) +
                      ") for embedding size " + std::to_string(C));
    const float* w = proj->in_proj_weight.data<float>();  // (3C, C): [W_q; W_k; W_v]
    const float* bias = opt_data(proj->in_proj_bias);     // (3C) or null
    std::vector<float>* xs[3] = {&xq, &xk, &xv};
    const int64_t rows[3] = {B * Tq, B * Tk, B * Tk};
    for (int i = 0; i < 3; ++i) {
      std::vector<float> y(rows[i] * C);  // (B, T, C)
      nn::linear_forward(y.data(), xs[i]->data(), w + i * C * C, bias ? bias + i * C : nullptr, rows[i], C, C);
      *xs[i] = std::move(y);
    }
  }
  std::vector<float> hq(xq.size()), hk(xk.size()), hv(xv.size()), hout(B * Tq * C);  // (B, H, T, hs)
  if (head_major) {
    hq.swap(xq), hk.swap(xk), hv.swap(xv);
  } else {
    permute_heads(hq.data(), xq.data(), B, Tq, H, hs, true);
    permute_heads(hk.data(), xk.data(), B, Tk, H, hs, true);
    permute_heads(hv.data(), xv.data(), B, Tk, H, hs, true);
  }
  nn::AttentionOptions opt;
  opt.causal = causal;
  opt.key_padding_mask = kpm.empty() ? nullptr : kpm.data();
  nn::SdpaCache cache;
  nn::sdpa_forward(hout.data(), hq.data(), hk.data(), hv.data(), B, H, Tq, Tk, hs, opt, cache);

  SdpaResult res;
  res.weights = Tensor({B, H, Tq, Tk});
  std::copy(cache.att.begin(), cache.att.end(), res.weights.data<float>());
  res.out = Tensor(q.shape());
  float* out = res.out.data<float>();
  if (head_major) {
    std::copy(hout.begin(), hout.end(), out);
  } else if (proj) {
    std::vector<float> ctx(B * Tq * C);  // (B, Tq, C)
    permute_heads(ctx.data(), hout.data(), B, Tq, H, hs, false);
    nn::linear_forward(out, ctx.data(), proj->out_proj_weight.data<float>(), opt_data(proj->out_proj_bias), B * Tq, C,
                       C);
  } else {
    permute_heads(out, hout.data(), B, Tq, H, hs, false);
  }
  return res;
}

std::pair<std::string, std::string> split_spec(const std::string& spec) {
  struct stat st;
  const size_t colon = spec.rfind(':');
  if (::stat(spec.c_str(), &st) == 0 || colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

Tensor read_tensor_arg(const std::string& spec, DType dtype) {
  auto [path, name] = split_spec(spec);
  io::H5In in(path);
  if (name.empty()) {
    std::vector<std::string> names;
    for (const auto& c : in.list("/"))
      if (c != "provenance") names.push_back(c);
    if (names.size() != 1) {
      std::string all;
      for (const auto& c : names) all += (all.empty() ? "" : ", ") + c;
      throw DataError(path + ": holds " + (names.empty() ? "no dataset" : "datasets " + all) +
                      ": name one as " + path + ":NAME");
    }
    name = names[0];
  }
  if (!in.has(name)) throw DataError(path + ": no dataset " + name);
  return in.read(name, dtype);
}

void run_sdpa(const SdpaFiles& f) {
  Tensor q = read_tensor_arg(f.q, DType::f32), k = read_tensor_arg(f.k, DType::f32),
         v = read_tensor_arg(f.v, DType::f32), mask;
  if (!f.key_padding_mask.empty()) mask = read_tensor_arg(f.key_padding_mask, DType::u8);
  SdpaWeights w;
  if (!f.proj.empty()) {
    auto [path, group] = split_spec(f.proj);
    io::H5In in(path);
    const std::string at = group.empty() ? "" : group + "/";
    for (const char* need : {"in_proj_weight", "out_proj.weight"})
      if (!in.has(at + need))
        throw DataError(path + ": no dataset " + at + need + " (nn.MultiheadAttention's state_dict)");
    w.in_proj_weight = in.read(at + "in_proj_weight", DType::f32, 2);
    w.out_proj_weight = in.read(at + "out_proj.weight", DType::f32, 2);
    if (in.has(at + "in_proj_bias")) w.in_proj_bias = in.read(at + "in_proj_bias", DType::f32, 1);
    if (in.has(at + "out_proj.bias")) w.out_proj_bias = in.read(at + "out_proj.bias", DType::f32, 1);
  }
  SdpaNames names{f.q, f.k, f.v, f.key_padding_mask, f.proj};
  SdpaResult r = sdpa(q, k, v, mask.defined() ? &mask : nullptr, f.proj.empty() ? nullptr : &w, f.heads, f.causal,
                      names);
  io::H5Out out(f.output, "attention_sdpa");
  out.write("out", r.out);
  out.write("weights", r.weights);
  out.set_attr("/", "causal", int64_t{f.causal});
  out.set_attr("/", "n_head", r.weights.dim(1));
  out.commit();
}

}  // namespace qkv::attend
