#include "attend/gradients.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "nn/checkpoint.h"

namespace qkv::attend {

std::unique_ptr<nn::Model> load_analysis_model(const io::H5In& in) {
  nn::Config c = nn::read_model_config(in);
  c.set("dropout", 0.0);
  c.set("label_smoothing", 0.0);
  std::unique_ptr<nn::Model> m;
  try {
    m = nn::make_model(nn::read_arch(in), c, 0);
  } catch (const UsageError& e) {  // bad hyperparameters in a file are a data problem (as nn::load_model)
    throw DataError(in.path() + ": " + e.what());
  }
  nn::load_params(in, *m);
  return m;
}

std::vector<int64_t> targets_per_row(const nn::Model& m, const nn::Batch& b) {
  std::vector<int64_t> n(b.B, 0);
  if (m.task() == nn::Task::classify) {
    if (!b.labels.empty()) n.assign(b.B, 1);
    return n;
  }
  const bool lm = m.task() == nn::Task::language_model;
  const std::vector<int32_t>& t = lm ? b.tgt : b.tgt_out;  // (B, T)
  const int64_t ignore = lm ? nn::kIgnoreIndex : nn::dims(m).pad_id;
  if (t.empty()) return n;
  for (int64_t r = 0; r < b.B; ++r)
    for (int64_t i = 0; i < b.T; ++i) n[r] += t[r * b.T + i] != ignore;
  return n;
}

namespace {

void keep_grads(nn::Model& m, bool on) {
  if (m.head_probes().empty())
    throw UsageError("'" + m.arch() + "' has no multi-head attention: no head gates or attention gradients");
  for (nn::HeadProbe& p : m.head_probes()) p.keep_grads = on;
}

}  // namespace

nn::Stats add_head_importance(nn::Model& m, const nn::Batch& b, std::vector<std::vector<double>>& acc) {
  keep_grads(m, true);
  const nn::Stats s = m.forward(b, true);
  if (s.count > 0) {
    m.backward(1.0f);  // d(sum of losses / count): row x's share is (n_x / count) dL_x
    const std::vector<int64_t> n = targets_per_row(m, b);
    std::vector<nn::HeadProbe>& probes = m.head_probes();
    acc.resize(probes.size());
    for (size_t p = 0; p < probes.size(); ++p) {
      const int64_t H = probes[p].H;
      acc[p].resize(H, 0.0);
      const float* g = probes[p].gate_grad.data();  // (B, H)
      for (int64_t r = 0; r < b.B; ++r)
        if (n[r] > 0)
          for (int64_t h = 0; h < H; ++h)
            acc[p][h] += std::fabs(static_cast<double>(g[r * H + h]) * static_cast<double>(s.count) / n[r]);
    }
  }
  keep_grads(m, false);
  return s;
}

void normalize_per_layer(float* imp, int64_t L, int64_t H) {
  for (int64_t l = 0; l < L; ++l) {
    double s = 0;
    for (int64_t h = 0; h < H; ++h) s += static_cast<double>(imp[l * H + h]) * imp[l * H + h];
    if (s > 0)
      for (int64_t h = 0; h < H; ++h) imp[l * H + h] = static_cast<float>(imp[l * H + h] / std::sqrt(s));
  }
}

std::vector<GradTarget> target_backward(nn::Model& m, const nn::Batch& b, const std::vector<int64_t>& lengths,
                                        int64_t forced) {
  keep_grads(m, true);
  m.forward(b, true);
  const nn::ModelDims d = nn::dims(m);
  const int64_t V = d.n_out, B = b.B;
  const bool per_position = d.output == nn::Output::per_position;
  const int64_t T = per_position ? b.T : 1;
  const float* logits = m.logits();  // (B, T, V) or (B, V)
  const bool lm = m.task() == nn::Task::language_model;
  const std::vector<int32_t>& next = lm ? b.tgt : b.tgt_out;  // (B, T) or empty
  const int64_t ignore = lm ? nn::kIgnoreIndex : d.pad_id;
  std::vector<GradTarget> t(B);
  std::vector<float> dlogits(B * T * V, 0.0f);  // (B, T, V) or (B, V)
  for (int64_t r = 0; r < B; ++r) {
    const int64_t pos = per_position ? std::clamp<int64_t>(lengths.at(r) - 1, 0, T - 1) : 0;
    const float* row = logits + (r * T + pos) * V;  // (V)
    int64_t id = forced;
    if (id < 0 && per_position && !next.empty() && next[r * T + pos] != ignore) id = next[r * T + pos];
    if (id < 0) id = std::max_element(row, row + V) - row;
    if (id >= V)
      throw UsageError("target " + std::to_string(id) + " is out of range: the model has " + std::to_string(V) +
                       (per_position ? " tokens" : " classes"));
    t[r] = {pos, id};
    dlogits[(r * T + pos) * V + id] = 1.0f;
  }
  m.backward_from_logits(dlogits.data());
  keep_grads(m, false);
  return t;
}

void grad_weighted_mean(float* abar, const float* a, const float* g, int64_t H, int64_t Tq, int64_t Tk) {
  const int64_t n = Tq * Tk;
  std::fill(abar, abar + n, 0.0f);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < n; ++i) abar[i] += std::max(0.0f, a[h * n + i] * g[h * n + i]);
  for (int64_t i = 0; i < n; ++i) abar[i] /= static_cast<float>(H);
}

namespace {

// r (M, N) += x (M, K) @ y (K, N), double sums.
void add_matmul(float* r, const float* x, const float* y, int64_t M, int64_t K, int64_t N) {
  std::vector<double> row(N);
  for (int64_t i = 0; i < M; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t k = 0; k < K; ++k) {
      const double xv = x[i * K + k];
      if (xv == 0.0) continue;
      for (int64_t j = 0; j < N; ++j) row[j] += xv * y[k * N + j];
    }
    for (int64_t j = 0; j < N; ++j) r[i * N + j] += static_cast<float>(row[j]);
  }
}

void set_identity(float* r, int64_t T) {
  std::fill(r, r + T * T, 0.0f);
  for (int64_t i = 0; i < T; ++i) r[i * T + i] = 1.0f;
}

// out (T, T) = rownorm(r - I) + I; a row of r - I summing to 0 stays 0 (eqs. 8-9).
void normalize_residual(float* out, const float* r, int64_t T) {
  for (int64_t i = 0; i < T; ++i) {
    double s = 0;
    for (int64_t j = 0; j < T; ++j) s += r[i * T + j] - (i == j ? 1.0 : 0.0);
    for (int64_t j = 0; j < T; ++j) {
      const double v = r[i * T + j] - (i == j ? 1.0 : 0.0);
      out[i * T + j] = static_cast<float>((s != 0 ? v / s : 0.0) + (i == j ? 1.0 : 0.0));
    }
  }
}

}  // namespace

void grad_rollout_self(float* r, const float* abar, int64_t L, int64_t T) {
  set_identity(r, T);
  std::vector<float> prev(T * T);  // (T, T)
  for (int64_t l = 0; l < L; ++l) {
    std::copy(r, r + T * T, prev.begin());
    add_matmul(r, abar + l * T * T, prev.data(), T, T, T);
  }
}

void grad_rollout_cross(float* r_qq, float* r_qs, const float* r_ss, const float* self_abar, const float* cross_abar,
                        int64_t Ld, int64_t T, int64_t S) {
  set_identity(r_qq, T);
  std::fill(r_qs, r_qs + T * S, 0.0f);
  std::vector<float> prev_qq(T * T), prev_qs(T * S), n_qq(T * T), n_ss(S * S), n_qq_t(T * T), tmp(T * S);
  normalize_residual(n_ss.data(), r_ss, S);
  for (int64_t l = 0; l < Ld; ++l) {
    const float* a = self_abar + l * T * T;  // (T, T)
    std::copy(r_qq, r_qq + T * T, prev_qq.begin());
    std::copy(r_qs, r_qs + T * S, prev_qs.begin());
    add_matmul(r_qq, a, prev_qq.data(), T, T, T);
    add_matmul(r_qs, a, prev_qs.data(), T, T, S);
    normalize_residual(n_qq.data(), r_qq, T);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) n_qq_t[i * T + j] = n_qq[j * T + i];
    std::fill(tmp.begin(), tmp.end(), 0.0f);
    add_matmul(tmp.data(), cross_abar + l * T * S, n_ss.data(), T, S, S);  // Abar nrm(R_ss) (T, S)
    add_matmul(r_qs, n_qq_t.data(), tmp.data(), T, T, S);
  }
}

namespace {

// Copies map `map` (B, H, Tq, Tk) of row r, cropped to (H, tq, tk), into out.
void crop(float* out, const float* map, const Shape& shape, int64_t r, int64_t tq, int64_t tk) {
  const int64_t H = shape[1], Tq = shape[2], Tk = shape[3];
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < tq; ++i) {
      const float* row = map + ((r * H + h) * Tq + i) * Tk;  // (Tk)
      std::copy(row, row + tk, out + (h * tq + i) * tk);
    }
}

}  // namespace

std::map<std::string, std::vector<float>> grad_rollouts(const nn::Model& m, int64_t r, int64_t S, int64_t T) {
  const std::vector<nn::AttentionMap> maps = m.attention_maps();
  const std::vector<nn::HeadProbe>& probes = m.head_probes();
  QKV_CHECK(maps.size() == probes.size(), "head probes out of step with the attention maps");
  std::map<std::string, std::vector<float>> abar, out;  // per kind: (L, tq, tk); the rollouts
  std::map<std::string, int64_t> layers;
  std::vector<float> a, g;  // (H, tq, tk)
  for (size_t i = 0; i < maps.size(); ++i) {
    const std::string& kind = maps[i].kind;
    QKV_CHECK(probes[i].kind == kind, "head probes out of step with the attention maps");
    const int64_t tq = kind == "decoder_self" || kind == "cross" ? T : S, tk = kind == "decoder_self" ? T : S;
    const int64_t H = maps[i].shape[1];
    a.resize(H * tq * tk), g.resize(H * tq * tk);
    crop(a.data(), maps[i].weights, maps[i].shape, r, tq, tk);
    crop(g.data(), probes[i].att_grad.data(), maps[i].shape, r, tq, tk);
    std::vector<float>& ab = abar[kind];
    ab.resize(ab.size() + tq * tk);
    grad_weighted_mean(ab.data() + ab.size() - tq * tk, a.data(), g.data(), H, tq, tk);
    ++layers[kind];
  }
  for (const char* kind : {"self", "encoder_self"})
    if (abar.count(kind)) {
      out[kind].resize(S * S);
      grad_rollout_self(out[kind].data(), abar[kind].data(), layers[kind], S);
    }
  if (abar.count("cross")) {
    out["decoder_self"].resize(T * T), out["cross"].resize(T * S);
    grad_rollout_cross(out["decoder_self"].data(), out["cross"].data(), out.at("encoder_self").data(),
                       abar.at("decoder_self").data(), abar["cross"].data(), layers["cross"], T, S);
  }
  return out;
}

}  // namespace qkv::attend
