#include "train/data_parallel.h"

#include "core/clock.h"
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

DataParallel::DataParallel(dist::Comm& comm) : comm_(comm) {}
DataParallel::~DataParallel() = default;

void DataParallel::gradients(nn::ParamStore& ps) {
  if (stand_in_) ps.zero_grad();  // its row counts for nothing
  if (comm_.size() == 1 || ps.size() == 0) return;
  if (!grad_sum_ || grad_sum_of_ != ps.grads()) {
    grad_sum_ = std::make_unique<dist::SumAllreduce<float>>(comm_, ps.grads(), ps.size(), std::vector<int64_t>{ps.size()});
    grad_sum_of_ = ps.grads();
  }
  const double t0 = now_s();
  grad_sum_->wait();
  wait_s_ += now_s() - t0;
  ++wait_steps_;
}

double DataParallel::take_wait_per_step() {
  const double mean = wait_steps_ > 0 ? wait_s_ / static_cast<double>(wait_steps_) : 0.0;
  wait_s_ = 0;
  wait_steps_ = 0;
  return mean;
}

}  // namespace qkv::train
