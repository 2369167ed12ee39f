// Tensor: a dtype, a shape and a row-major, 64-byte aligned buffer shared
// between views. Views (view(), slice()) share storage with their source.
//
//   Tensor x({B, T, C});                  // float32, zero-filled
//   float* p = x.data<float>();           // checked against the dtype
//   Tensor rows = x.slice(0, 2);          // (2, T, C), same storage
//   Tensor flat = x.view({B * T, C});     // same storage, new shape
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qkv {

enum class DType { f32, i32, i64, u8 };

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);  // "float32", "int32", "int64", "uint8"

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, DType dtype = DType::f32);  // zero-filled

  template <class T>
  static Tensor from(const std::vector<T>& values, Shape shape) {
    Tensor t(std::move(shape), dtype_of<T>());
    t.copy_from_bytes(values.data(), values.size() * sizeof(T));
    return t;
  }

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return numel_ == 0; }
  bool defined() const { return static_cast<bool>(storage_); }

  template <class T> T* data() {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<T*>(raw());
  }
  template <class T> const T* data() const {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<const T*>(raw());
  }
  void* raw() { return storage_ ? storage_.get() + offset_ : nullptr; }
  const void* raw() const { return storage_ ? storage_.get() + offset_ : nullptr; }

  Tensor view(Shape shape) const;                  // same numel, shares storage
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0, shares storage
  Tensor clone() const;                            // deep copy
  void fill_zero();
  void copy_from_bytes(const void* src, size_t nbytes);

 private:
  void check_dtype(DType want) const;

  std::shared_ptr<uint8_t> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::f32;
};

}  // namespace qkv
