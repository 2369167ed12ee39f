#include "train/data_parallel.h"

#include "dist/allreduce.h"

namespace qkv::train {

std::pair<int64_t, int64_t> DataParallel::share(int64_t B) const {
  const int64_t r = comm_.rank(), n = comm_.size();
  return {B * r / n, B * (r + 1) / n};
}

nn::Batch DataParallel::part(const nn::Batch& batch, std::optional<nn::BatchSlice>& slice) {
  auto [begin, end] = share(batch.B);
  stand_in_ = begin == end;
  if (stand_in_) begin = 0, end = 1;
  slice.emplace(begin, end - begin, batch.B);
  return batch.rows(begin, end);
}

double DataParallel::whole_batch(nn::Stats& s) {
  const double mine = stand_in_ ? 0.0 : static_cast<double>(s.count);
  double v[3] = {stand_in_ ? 0.0 : s.loss_sum, mine, stand_in_ ? 0.0 : static_cast<double>(s.correct)};
  sum(v, 3);
  s.loss_sum = v[0];
  s.count = static_cast<int64_t>(v[1]);
  s.correct = static_cast<int64_t>(v[2]);
  return v[1] > 0 ? mine / v[1] : 0.0;
}

void DataParallel::sum(double* x, int64_t n) { dist::sum_over_ranks(comm_, x, n); }

void DataParallel::gradients(nn::ParamStore& ps) {
  if (stand_in_) ps.zero_grad();  // its row counts for nothing
  dist::sum_over_ranks(comm_, ps.grads(), ps.size());
}

}  // namespace qkv::train
