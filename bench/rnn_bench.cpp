// rnn_bench: training-step speed of the "rnn" architecture (GRU/LSTM encoder-decoder with
// additive attention) at grapheme-to-phoneme size, forward and backward timed apart.
//   rnn_bench [--reps N] [--batch B] [--len T] [--hidden H] [--cell gru|lstm] [--layers L] [--threads N]
// Prints one line per phase with ms per batch and target tokens per second. The PyTorch twin
// at the same size is timed by scripts/bench/41-rnn.sh beside it.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "blas/blas_setup.h"
#include "core/clock.h"
#include "core/rng.h"
#include "nn/decoding.h"
#include "nn/model.h"
#include "nn/optim.h"

using namespace qkv;

int main(int argc, char** argv) {
  blas::ensure_best_kernels(argc, argv);
  int reps = 20;
  int64_t B = 64, T = 12, H = 256, L = 1, V = 48;
  std::string cell = "gru";
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--reps") reps = std::atoi(argv[i + 1]);
    else if (k == "--batch") B = std::atoll(argv[i + 1]);
    else if (k == "--len") T = std::atoll(argv[i + 1]);
    else if (k == "--hidden") H = std::atoll(argv[i + 1]);
    else if (k == "--layers") L = std::atoll(argv[i + 1]);
    else if (k == "--cell") cell = argv[i + 1];
    else if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "rnn_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  blas::set_threads(threads);
  std::printf("%s\n", blas::describe().c_str());
  nn::Config c;
  c.set("src_vocab_size", V), c.set("tgt_vocab_size", V), c.set("cell", cell), c.set("n_layer", L);
  c.set("d_emb", int64_t{128}), c.set("d_hidden", H), c.set("dropout", 0.1);
  auto m = nn::make_model("rnn", c, 1);
  std::printf("rnn %s: B=%lld S=T=%lld d_hidden=%lld n_layer=%lld, %lld parameters\n", cell.c_str(),
              static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(H),
              static_cast<long long>(L), static_cast<long long>(m->params().num_params()));
  Rng rng(1);
  std::vector<int32_t> src(B * T), tin(B * T), tout(B * T);
  for (int64_t i = 0; i < B * T; ++i) {
    src[i] = 3 + static_cast<int32_t>(rng.below(V - 3));
    tin[i] = 3 + static_cast<int32_t>(rng.below(V - 3));
    tout[i] = 3 + static_cast<int32_t>(rng.below(V - 3));
  }
  nn::Batch b = nn::Batch::seq2seq(B, T, T, src, tin, tout);
  nn::Optimizer opt(nn::OptimConfig{}, m->params());
  double t_fwd = 0, t_bwd = 0, t_opt = 0;
  for (int r = -2; r < reps; ++r) {  // two warm-up steps
    m->params().zero_grad();
    const double t0 = now_s();
    m->forward(b, true);
    const double t1 = now_s();
    m->backward();
    const double t2 = now_s();
    opt.step(1e-3);
    const double t3 = now_s();
    if (r >= 0) t_fwd += t1 - t0, t_bwd += t2 - t1, t_opt += t3 - t2;
  }
  auto line = [&](const char* what, double t) {
    std::printf("%-22s %9.2f ms/batch %12.0f tgt tokens/s\n", what, 1e3 * t / reps, B * T * reps / t);
  };
  line("forward", t_fwd);
  line("backward", t_bwd);
  line("adamw step", t_opt);
  line("train step (total)", t_fwd + t_bwd + t_opt);
  double t_dec = 0;
  std::vector<nn::Request> reqs;  // the batch's sources, greedy through nn/decoding.h
  for (int64_t i = 0; i < b.B; ++i) reqs.push_back({{b.src.begin() + i * b.S, b.src.begin() + (i + 1) * b.S}, {1}, {}});
  nn::SearchOptions so;
  so.eos = 2;
  so.max_len = T;
  auto dec = m->decoder();
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    nn::decode(*dec, reqs, so);
    t_dec += now_s() - t0;
  }
  line("greedy decode", t_dec);
  return 0;
}
