#include "attend/flow.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/error.h"

namespace qkv::attend {

namespace {

constexpr double kEps = 1e-12;  // residual capacity below this counts as saturated

// Dinic's max-flow over a fixed graph whose capacities are reset per problem.
class MaxFlow {
 public:
  explicit MaxFlow(int64_t n) : head_(n, -1), level_(n), it_(n) {}
  void add_edge(int64_t u, int64_t v, double cap) {
    push(u, v, cap);
    push(v, u, 0.0);
  }
  double run(int64_t s, int64_t t) {
    cap_ = cap0_;
    double total = 0;
    while (bfs(s, t)) {
      it_ = head_;
      for (double f; (f = dfs(s, t, std::numeric_limits<double>::infinity())) > kEps;) total += f;
    }
    return total;
  }

 private:
  void push(int64_t u, int64_t v, double cap) {
    to_.push_back(v);
    cap0_.push_back(cap);
    next_.push_back(head_[u]);
    head_[u] = static_cast<int64_t>(to_.size()) - 1;
  }
  bool bfs(int64_t s, int64_t t) {
    std::fill(level_.begin(), level_.end(), -1);
    std::vector<int64_t> queue{s};
    level_[s] = 0;
    for (size_t q = 0; q < queue.size(); ++q)
      for (int64_t e = head_[queue[q]]; e >= 0; e = next_[e])
        if (cap_[e] > kEps && level_[to_[e]] < 0) {
          level_[to_[e]] = level_[queue[q]] + 1;
          queue.push_back(to_[e]);
        }
    return level_[t] >= 0;
  }
  double dfs(int64_t u, int64_t t, double limit) {
    if (u == t) return limit;
    for (int64_t& e = it_[u]; e >= 0; e = next_[e]) {
      const int64_t v = to_[e];
      if (cap_[e] <= kEps || level_[v] != level_[u] + 1) continue;
      const double f = dfs(v, t, std::min(limit, cap_[e]));
      if (f > kEps) {
        cap_[e] -= f;
        cap_[e ^ 1] += f;  // edges are pushed in pairs: e ^ 1 is the reverse
        return f;
      }
    }
    return 0.0;
  }
  std::vector<int64_t> head_, level_, it_, to_, next_;
  std::vector<double> cap0_, cap_;
};

}  // namespace

double flow_work(int64_t L, int64_t T) {
  const double t = static_cast<double>(T);
  return static_cast<double>(L) * t * t * t * t;
}

void check_flow_size(int64_t L, int64_t T, const std::string& what) {
  const double work = flow_work(L, T);
  if (work <= kMaxFlowWork) return;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "--flow: %s has %lld tokens over %lld layers: about %.3g edge visits (L x T^4), more than the "
                "limit %.3g; use --rollout, or select shorter examples",
                what.c_str(), static_cast<long long>(T), static_cast<long long>(L), work, kMaxFlowWork);
  throw UsageError(buf);
}

void flow(float* out, const float* att, int64_t L, int64_t H, int64_t T, const RolloutOptions& opt) {
  const int64_t TT = T * T;
  std::vector<float> ahat(L * TT);  // (L, T, T)
  residual_matrices(ahat.data(), att, L, H, T, opt);
  // node (layer boundary b, token i) = b * T + i; boundary 0 is the input
  MaxFlow g((L + 1) * T);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) {
        const float c = ahat[l * TT + i * T + j];
        if (c > 0.0f) g.add_edge((l + 1) * T + i, l * T + j, c);
      }
  std::vector<double> row(T);
  for (int64_t i = 0; i < T; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < T; ++j) sum += row[j] = g.run(L * T + i, j);
    for (int64_t j = 0; j < T; ++j) out[i * T + j] = sum > 0 ? static_cast<float>(row[j] / sum) : 0.0f;
  }
}

}  // namespace qkv::attend
