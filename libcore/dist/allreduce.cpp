#include "dist/allreduce.h"

#include <climits>

#include "core/clock.h"
#include "core/error.h"

#if QKV_WITH_MPI
#include <mpi.h>
#endif

namespace qkv::dist {

template <typename T>
struct SumAllreduce<T>::Bucket {
  int64_t begin = 0, n = 0;         // data_[begin, begin + n)
  std::vector<int> counts, displs;  // chunk j of the bucket: counts[j] values at displs[j] (from begin)
  int64_t recv_at = 0;              // this rank's (N, counts[rank]) pieces in recv_
  int phase = 0;                    // 0 not started, 1 pieces in flight, 2 sums in flight, 3 done
#if QKV_WITH_MPI
  MPI_Request req = MPI_REQUEST_NULL;
#endif
};

template <typename T>
struct SumAllreduce<T>::Mpi {
#if QKV_WITH_MPI
  MPI_Comm pieces = MPI_COMM_NULL, sums = MPI_COMM_NULL;
#endif
};

namespace {
#if QKV_WITH_MPI
template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
#endif
}  // namespace

template <typename T>
SumAllreduce<T>::SumAllreduce(Comm& comm, T* data, int64_t n, std::vector<int64_t> ends)
    : comm_(comm), data_(data), ends_(std::move(ends)), mpi_(std::make_unique<Mpi>()) {
  QKV_CHECK(!ends_.empty() && ends_.back() == n, "SumAllreduce: bucket ends must finish at n");
  const int N = comm_.size(), r = comm_.rank();
  b_.resize(ends_.size());
  int64_t begin = 0, recv_total = 0;
  for (size_t i = 0; i < ends_.size(); ++i) {
    Bucket& b = b_[i];
    b.begin = begin;
    b.n = ends_[i] - begin;
    QKV_CHECK(b.n > 0 && b.n <= INT_MAX, "SumAllreduce: bucket sizes must be in [1, INT_MAX]");
    b.counts.resize(N);
    b.displs.resize(N);
    for (int j = 0, at = 0; j < N; ++j) {
      b.counts[j] = static_cast<int>(b.n / N + (j < b.n % N ? 1 : 0));
      b.displs[j] = at;
      at += b.counts[j];
    }
    b.recv_at = recv_total;
    recv_total += static_cast<int64_t>(N) * b.counts[r];
    begin = ends_[i];
  }
  if (N == 1) return;
  recv_.resize(recv_total);
#if QKV_WITH_MPI
  MPI_Comm_dup(MPI_COMM_WORLD, &mpi_->pieces);
  MPI_Comm_dup(MPI_COMM_WORLD, &mpi_->sums);
#endif
}

template <typename T>
SumAllreduce<T>::~SumAllreduce() {
#if QKV_WITH_MPI
  if (comm_.size() == 1) return;
  for (Bucket& b : b_)
    if (b.req != MPI_REQUEST_NULL) MPI_Wait(&b.req, MPI_STATUS_IGNORE);
  MPI_Comm_free(&mpi_->pieces);
  MPI_Comm_free(&mpi_->sums);
#endif
}

template <typename T>
void SumAllreduce<T>::start(int i) {
  Bucket& b = b_.at(i);
  QKV_CHECK(b.phase == 0, "SumAllreduce: bucket started twice in one round");
  if (comm_.size() == 1) {
    b.phase = 3;
    return;
  }
#if QKV_WITH_MPI
  const int N = comm_.size(), r = comm_.rank();
  // Chunk j of this rank's bucket goes to rank j; rank i's chunk r arrives at i * counts[r].
  std::vector<int> rcounts(N, b.counts[r]), rdispls(N);
  for (int j = 0; j < N; ++j) rdispls[j] = j * b.counts[r];
  MPI_Ialltoallv(data_ + b.begin, b.counts.data(), b.displs.data(), mpi_type<T>(), recv_.data() + b.recv_at,
                 rcounts.data(), rdispls.data(), mpi_type<T>(), mpi_->pieces, &b.req);
  b.phase = 1;
  started_.push_back(i);
#endif
}

template <typename T>
void SumAllreduce<T>::gather(Bucket& b) {
#if QKV_WITH_MPI
  // This rank's chunk: the N pieces summed in rank order.
  const int N = comm_.size(), r = comm_.rank(), c = b.counts[r];
  const T* pieces = recv_.data() + b.recv_at;  // (N, c)
  T* out = data_ + b.begin + b.displs[r];      // (c)
  for (int k = 0; k < c; ++k) out[k] = pieces[k];
  for (int i = 1; i < N; ++i) {
    const T* p = pieces + static_cast<int64_t>(i) * c;
    for (int k = 0; k < c; ++k) out[k] += p[k];
  }
  MPI_Iallgatherv(MPI_IN_PLACE, 0, mpi_type<T>(), data_ + b.begin, b.counts.data(), b.displs.data(), mpi_type<T>(),
                  mpi_->sums, &b.req);
  b.phase = 2;
#else
  (void)b;
#endif
}

template <typename T>
void SumAllreduce<T>::progress() {
#if QKV_WITH_MPI
  if (comm_.size() == 1) return;
  // Gathers start in the order the buckets were started, the same on every rank.
  while (gathered_ < started_.size()) {
    Bucket& b = b_[started_[gathered_]];
    int done = 0;
    MPI_Test(&b.req, &done, MPI_STATUS_IGNORE);
    if (!done) break;
    gather(b);
    ++gathered_;
  }
  for (Bucket& b : b_) {
    if (b.phase != 2) continue;
    int done = 0;
    MPI_Test(&b.req, &done, MPI_STATUS_IGNORE);
    if (done) b.phase = 3;
  }
#endif
}

template <typename T>
void SumAllreduce<T>::wait() {
  const double t0 = now_s();
  for (size_t i = 0; i < b_.size(); ++i)
    if (b_[i].phase == 0) start(static_cast<int>(i));
#if QKV_WITH_MPI
  if (comm_.size() > 1) {
    for (; gathered_ < started_.size(); ++gathered_) {
      Bucket& b = b_[started_[gathered_]];
      MPI_Wait(&b.req, MPI_STATUS_IGNORE);
      gather(b);
    }
    for (Bucket& b : b_)
      if (b.phase == 2) MPI_Wait(&b.req, MPI_STATUS_IGNORE);
  }
#endif
  for (Bucket& b : b_) b.phase = 0;
  started_.clear();
  gathered_ = 0;
  wait_seconds_ += now_s() - t0;
}

template <typename T>
void sum_over_ranks(Comm& comm, T* x, int64_t n) {
  if (comm.size() == 1 || n == 0) return;
  SumAllreduce<T> r(comm, x, n, {n});
  r.wait();
}

template class SumAllreduce<float>;
template class SumAllreduce<double>;
template void sum_over_ranks<float>(Comm&, float*, int64_t);
template void sum_over_ranks<double>(Comm&, double*, int64_t);

}  // namespace qkv::dist
