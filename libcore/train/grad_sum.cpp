#include "train/grad_sum.h"

#include "core/clock.h"

namespace qkv::train {

std::vector<int64_t> grad_bucket_ends(const std::vector<int64_t>& marks, int64_t n, int64_t min_floats) {
  std::vector<int64_t> cuts;  // from the end down
  int64_t end = n;
  if (min_floats > 0)
    for (size_t i = marks.size(); i-- > 0;)
      if (marks[i] > 0 && marks[i] < end && end - marks[i] >= min_floats) cuts.push_back(end = marks[i]);
  std::vector<int64_t> ends(cuts.rbegin(), cuts.rend());
  ends.push_back(n);
  return ends;
}

GradSum::GradSum(dist::Comm& comm, nn::ParamStore& ps, int64_t min_floats)
    : ps_(ps),
      ends_(grad_bucket_ends(ps.marks(), ps.size(), min_floats)),
      sum_(comm, ps.grads(), ps.size(), ends_),
      next_(buckets() - 1) {}

GradSum::~GradSum() { ps_.set_grads_final_hook(nullptr); }

void GradSum::arm() {
  if (buckets() > 1) ps_.set_grads_final_hook([this](int64_t offset) { final_from(offset); });
}

void GradSum::start_next() {
  sum_.start(next_);
  --next_;
}

void GradSum::final_from(int64_t offset) {
  const double t0 = now_s();
  // bucket b spans [ends_[b - 1], ends_[b]) (bucket 0 from 0)
  while (next_ > 0 && ends_[next_ - 1] >= offset) start_next();
  if (next_ == 0 && offset <= 0) start_next();
  sum_.progress();
  seconds_ += now_s() - t0;
}

void GradSum::finish() {
  const double t0 = now_s();
  ps_.set_grads_final_hook(nullptr);
  overlapped_ = buckets() - 1 - next_;
  while (next_ >= 0) start_next();
  sum_.wait();
  next_ = buckets() - 1;
  seconds_ += now_s() - t0;
}

double GradSum::take_seconds() {
  const double s = seconds_;
  seconds_ = 0;
  return s;
}

}  // namespace qkv::train
