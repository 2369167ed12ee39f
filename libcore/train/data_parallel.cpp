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
  if (stand_in_) s = nn::Stats();
  const double mine = static_cast<double>(s.count);
  sum_stats(s);
  return s.count > 0 ? mine / static_cast<double>(s.count) : 0.0;
}

void DataParallel::sum_stats(nn::Stats& s) {
  double v[3] = {s.loss_sum, static_cast<double>(s.count), static_cast<double>(s.correct)};
  sum(v, 3);
  s.loss_sum = v[0];
  s.count = static_cast<int64_t>(v[1]);
  s.correct = static_cast<int64_t>(v[2]);
}

void DataParallel::sum(double* x, int64_t n) { dist::sum_over_ranks(comm_, x, n); }

DataParallel::DataParallel(dist::Comm& comm, int64_t bucket_floats) : comm_(comm), bucket_floats_(bucket_floats) {}
DataParallel::~DataParallel() = default;

GradSum& DataParallel::grad_sum(nn::ParamStore& ps) {
  if (!grad_sum_ || &grad_sum_->store() != &ps) grad_sum_ = std::make_unique<GradSum>(comm_, ps, bucket_floats_);
  return *grad_sum_;
}

void DataParallel::backward_begins(nn::ParamStore& ps) {
  // A stand-in's gradients count for nothing: zeroed after its backward (gradients()), summed then.
  if (comm_.size() > 1 && ps.size() > 0 && !stand_in_) grad_sum(ps).arm();
}

void DataParallel::gradients(nn::ParamStore& ps) {
  if (stand_in_) ps.zero_grad();  // its row counts for nothing
  sum_gradients(ps);
}

void DataParallel::sum_gradients(nn::ParamStore& ps) {
  if (comm_.size() == 1 || ps.size() == 0) return;
  GradSum& sum = grad_sum(ps);
  sum.finish();
  wait_s_ += sum.take_seconds();
  ++wait_steps_;
}

double DataParallel::take_wait_per_step() {
  const double mean = wait_steps_ > 0 ? wait_s_ / static_cast<double>(wait_steps_) : 0.0;
  wait_s_ = 0;
  wait_steps_ = 0;
  return mean;
}

}  // namespace qkv::train
