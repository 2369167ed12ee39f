// Uses the installed headers and library: a matmul and an HDF5 round trip in memory.
#include <cstdio>

#include "io/h5.h"
#include "tensor/ops.h"

int main() {
  qkv::Tensor a = qkv::Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  qkv::Tensor c = qkv::ops::matmul(a, a);
  qkv::io::H5Out out(":memory:", "consumer");
  out.write("c", c);
  qkv::io::H5In in(out.image(), "consumer.h5");
  float v = in.read("c", qkv::DType::f32).data<float>()[3];
  std::printf("%g\n", v);
  return v == 22.0f ? 0 : 1;
}
