#include "nn/average.h"

#include "core/error.h"
#include "io/h5.h"
#include "nn/checkpoint.h"

namespace qkv::nn {

std::unique_ptr<Model> average_checkpoints(const std::vector<std::string>& paths) {
  if (paths.empty()) throw UsageError("average: give the checkpoints to average");
  std::unique_ptr<Model> first;
  std::vector<double> sum;  // (params) in the first model's flat layout
  for (const std::string& path : paths) {
    io::H5In in(path);
    std::unique_ptr<Model> m = load_model(in);
    if (!first) {
      first = std::move(m);
      sum.assign(static_cast<size_t>(first->params().size()), 0.0);
      const float* p = first->params().params();
      for (size_t i = 0; i < sum.size(); ++i) sum[i] = p[i];
      continue;
    }
    if (m->arch() != first->arch())
      throw DataError(path + ": a " + m->arch() + " checkpoint, but " + paths[0] + " is a " + first->arch() +
                      ": averaging needs checkpoints of one model");
    const ParamStore &a = first->params(), &b = m->params();
    for (const ParamInfo& pi : a.infos()) {
      const ParamId j = b.find(pi.name);
      if (j < 0)
        throw DataError(path + ": has no parameter " + pi.name + " (in " + paths[0] +
                        "): averaging needs checkpoints of one model");
      if (b.info(j).shape != pi.shape)
        throw DataError(path + ": parameter " + pi.name + " is " + shape_str(b.info(j).shape) + ", but " +
                        shape_str(pi.shape) + " in " + paths[0] + ": averaging needs checkpoints of one model");
      const float* src = b.param(j);
      for (int64_t i = 0; i < pi.numel; ++i) sum[static_cast<size_t>(pi.offset + i)] += src[i];
    }
    if (b.count() != a.count())
      throw DataError(path + ": " + std::to_string(b.count()) + " parameters, but " + std::to_string(a.count()) +
                      " in " + paths[0] + ": averaging needs checkpoints of one model");
  }
  float* p = first->params().params();
  const double n = static_cast<double>(paths.size());
  for (size_t i = 0; i < sum.size(); ++i) p[i] = static_cast<float>(sum[i] / n);
  return first;
}

}  // namespace qkv::nn
