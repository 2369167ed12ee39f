#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/memory.h"

namespace qkv {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "float32";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw DataError("negative dimension in shape " + shape_str(s));
    n *= d;
  }
  return n;
}

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  numel_ = shape_numel(shape_);
  size_t bytes = nbytes();
  size_t alloc = ((bytes + 63) / 64) * 64;
  if (alloc == 0) alloc = 64;
  // Big buffers: 2 MiB aligned and marked for transparent huge pages, so
  // touching them costs one page fault per 2 MiB instead of per 4 KiB (with
  // THP in "madvise" mode, Debian's default, nothing else asks for them).
  const bool huge = alloc >= 4 * kHugePage;
  if (huge) alloc = (alloc + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(huge ? kHugePage : 64, alloc);
  if (!p) throw std::bad_alloc();
  if (huge) advise_huge_pages(p, alloc);
  std::memset(p, 0, alloc);
  storage_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw DataError("dim " + std::to_string(i) + " out of range for shape " + shape_str(shape_));
  return shape_[i];
}

Tensor Tensor::view(Shape shape) const {
  if (shape_numel(shape) != numel_)
    throw DataError("cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end < begin || end > shape_[0])
    throw DataError("slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " +
                    shape_str(shape_));
  Tensor t = *this;
  int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  t.offset_ += static_cast<size_t>(begin * row) * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  t.numel_ = row * (end - begin);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, dtype_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::fill_zero() {
  if (nbytes()) std::memset(raw(), 0, nbytes());
}

void Tensor::copy_from_bytes(const void* src, size_t n) {
  if (n != nbytes())
    throw DataError("copy of " + std::to_string(n) + " bytes into a tensor of " + std::to_string(nbytes()));
  if (n) std::memcpy(raw(), src, n);
}

void Tensor::check_dtype(DType want) const {
  if (want != dtype_)
    throw DataError(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(want));
}

}  // namespace qkv
