// Layer-level timing of libcore/nn on nanoGPT's "baby GPT" shapes (4 layers,
// 4 heads, d_model 128, T 64, B 12, vocab 65): forward + backward of the whole
// stack built directly from the layers, plus a per-layer breakdown. The model
// benchmark against PyTorch (scripts/bench/) is the nn-models one; this shows
// where the time goes inside a step.
//   nn_layers_bench [steps] [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "blas/blas_setup.h"
#include "core/rng.h"
#include "nn/attention.h"
#include "nn/cross_entropy.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/residual.h"
#include "nn/transformer_layer.h"

using namespace qkv;
using namespace qkv::nn;
using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
std::vector<float> randn(int64_t n, Rng& rng, float s) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.normal() * s;
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20;
  blas::set_threads(argc > 2 ? std::atoi(argv[2]) : 1);
  const int64_t B = 12, T = 64, C = 128, H = 4, L = 4, V = 65, F = 4 * C, N = B * T;
  Rng rng(1);
  struct LayerParams {
    std::vector<float> ln1w, ln1b, inw, inb, outw, outb, ln2w, ln2b, w1, b1, w2, b2;
  };
  auto make = [&] {
    LayerParams p;
    p.ln1w.assign(C, 1.f), p.ln1b.assign(C, 0.f), p.ln2w.assign(C, 1.f), p.ln2b.assign(C, 0.f);
    p.inw = randn(3 * C * C, rng, 0.02f), p.inb.assign(3 * C, 0.f), p.outw = randn(C * C, rng, 0.02f),
    p.outb.assign(C, 0.f), p.w1 = randn(F * C, rng, 0.02f), p.b1.assign(F, 0.f), p.w2 = randn(C * F, rng, 0.02f),
    p.b2.assign(C, 0.f);
    return p;
  };
  std::vector<LayerParams> P, G;
  for (int l = 0; l < L; ++l) {
    P.push_back(make());
    G.push_back(make());
  }
  auto wte = randn(V * C, rng, 0.02f), wpe = randn(T * C, rng, 0.02f), head = randn(V * C, rng, 0.02f);
  std::vector<float> lnfw(C, 1.f), lnfb(C, 0.f);
  std::vector<float> dwte(V * C), dwpe(T * C), dhead(V * C), dlnfw(C), dlnfb(C);
  std::vector<int32_t> idx(N), tgt(N), pos(N);
  for (int64_t i = 0; i < N; ++i) idx[i] = rng.below(V), tgt[i] = rng.below(V), pos[i] = i % T;
  TransformerLayerConfig cfg;
  cfg.d_model = C, cfg.n_head = H, cfg.d_ff = F, cfg.norm_first = true, cfg.causal = true;
  cfg.activation = Activation::gelu_erf;
  std::vector<EncoderLayerCache> cache(L);
  std::vector<std::vector<float>> xs(L + 1, std::vector<float>(N * C)), dxs(L + 1, std::vector<float>(N * C));
  std::vector<float> tmp(N * C), lnf(N * C), mean(N), rstd(N), logits(N * V), dlnf(N * C), dlogits(N * V);
  auto W = [&](LayerParams& p) {
    return EncoderLayerWeights{{p.inw.data(), p.inb.data(), p.outw.data(), p.outb.data()},
                               {p.ln1w.data(), p.ln1b.data()},
                               {p.ln2w.data(), p.ln2b.data()},
                               {p.w1.data(), p.b1.data(), p.w2.data(), p.b2.data()}};
  };
  auto Gr = [&](LayerParams& g) {
    return EncoderLayerGrads{{g.inw.data(), g.inb.data(), g.outw.data(), g.outb.data()},
                             {g.ln1w.data(), g.ln1b.data()},
                             {g.ln2w.data(), g.ln2b.data()},
                             {g.w1.data(), g.b1.data(), g.w2.data(), g.b2.data()}};
  };
  double t_embed = 0, t_layers_f = 0, t_head_f = 0, t_head_b = 0, t_layers_b = 0, t_total = 0;
  double loss = 0;
  for (int s = -3; s < steps; ++s) {
    auto t0 = Clock::now(), t = t0;
    embedding_forward(xs[0].data(), idx.data(), wte.data(), N, V, C);
    embedding_forward(tmp.data(), pos.data(), wpe.data(), N, T, C);
    accumulate(xs[0].data(), tmp.data(), N * C);
    double e = ms_since(t);
    t = Clock::now();
    for (int l = 0; l < L; ++l)
      encoder_layer_forward(xs[l + 1].data(), xs[l].data(), nullptr, W(P[l]), cfg, B, T, true, &rng, cache[l]);
    double lf = ms_since(t);
    t = Clock::now();
    layernorm_forward(lnf.data(), mean.data(), rstd.data(), xs[L].data(), lnfw.data(), lnfb.data(), N, C);
    linear_forward(logits.data(), lnf.data(), head.data(), nullptr, N, C, V);
    auto r = cross_entropy_forward(logits.data(), logits.data(), tgt.data(), N, V);
    loss = r.loss;
    double hf = ms_since(t);
    t = Clock::now();
    std::fill(dlogits.begin(), dlogits.end(), 0.f);
    cross_entropy_backward(dlogits.data(), logits.data(), tgt.data(), N, V, r);
    std::fill(dlnf.begin(), dlnf.end(), 0.f);
    linear_backward(dlnf.data(), dhead.data(), nullptr, dlogits.data(), lnf.data(), head.data(), N, C, V);
    for (auto& d : dxs) std::fill(d.begin(), d.end(), 0.f);
    layernorm_backward(dxs[L].data(), dlnfw.data(), dlnfb.data(), dlnf.data(), xs[L].data(), lnfw.data(), mean.data(),
                       rstd.data(), N, C);
    double hb = ms_since(t);
    t = Clock::now();
    for (int l = L - 1; l >= 0; --l)
      encoder_layer_backward(dxs[l].data(), Gr(G[l]), dxs[l + 1].data(), xs[l].data(), W(P[l]), cache[l]);
    double lb = ms_since(t);
    t = Clock::now();
    embedding_backward(dwte.data(), dxs[0].data(), idx.data(), N, C);
    embedding_backward(dwpe.data(), dxs[0].data(), pos.data(), N, C);
    e += ms_since(t);
    if (s >= 0) {
      t_embed += e, t_layers_f += lf, t_head_f += hf, t_head_b += hb, t_layers_b += lb, t_total += ms_since(t0);
    }
  }
  std::printf("baby GPT fwd+bwd (no optimizer), %s\n", blas::describe().substr(0, 60).c_str());
  std::printf("step %.2f ms (%.0f tok/s): embed %.2f, layers fwd %.2f, head+CE fwd %.2f, head bwd %.2f, layers bwd %.2f; loss %.4f\n",
              t_total / steps, N / (t_total / steps) * 1e3, t_embed / steps, t_layers_f / steps, t_head_f / steps,
              t_head_b / steps, t_layers_b / steps, loss);
  return 0;
}
