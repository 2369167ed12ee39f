// Attention flow (Abnar & Zuidema 2020): the attention graph of one
// self-attention stack has a node per (layer boundary, token), (L+1) x T
// nodes, and an edge from token i above layer l to token j below it with
// capacity Ahat_l[i, j] (the residual-added, row-normalised fused attention
// of attend/rollout.h). flow[i, j] is the maximum flow from output token i
// (top) to input token j (bottom), each row then divided by its sum, as the
// paper's code does.
//
// Cost: T * T max-flow problems, each on a graph of (L+1) T nodes and L T^2
// edges (Dinic's algorithm: a few breadth-first phases over all edges each),
// so about L * T^4 edge visits per phase; flow_work() is that count
// (measured 30-90 ns each on one core: L 4, T 64 takes 6 s per example).
// check_flow_size() refuses an example above kMaxFlowWork (about a minute);
// rollout costs L * T^3 and always fits.
#pragma once
#include <cstdint>
#include <string>

#include "attend/rollout.h"

namespace qkv::attend {

constexpr double kMaxFlowWork = 1e9;

double flow_work(int64_t L, int64_t T);  // L * T^4
// Throws UsageError naming `what` (e.g. "example 3") and the sizes when
// flow_work(L, T) > kMaxFlowWork.
void check_flow_size(int64_t L, int64_t T, const std::string& what);

// out (T, T) from att (L, H, T, T).
void flow(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt);

}  // namespace qkv::attend
