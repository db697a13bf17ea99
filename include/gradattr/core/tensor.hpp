#pragma once
// Tensor<T>: a contiguous, 64-byte-aligned, row-major array of rank 0..4 (NCHW for images).
//
// Promises:
//  - Copies share the buffer (cheap, like a shared_ptr); clone() makes an independent copy.
//  - A default-constructed tensor is empty: rank 0 and no buffer (numel() == 0, empty() true).
//  - Tensor(shape) is zero-filled; Tensor::uninitialized(shape) is not (for kernel outputs).
//  - Shapes are checked on construction and reshape; a mismatch throws ShapeError.
// Thread safety: distinct tensors may be used from distinct threads; writing one buffer from
// two threads at once is the caller's race.
#include "gradattr/core/detail/intrinsics.hpp"  // first: silences GCC 12 false warnings

#include "gradattr/core/detail/eigen.hpp"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gradattr/core/aligned.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"

namespace gradattr {

template <class T>
concept TensorElement = std::is_arithmetic_v<T>;

template <TensorElement T>
class Tensor {
 public:
  using value_type = T;
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

  Tensor() = default;
  explicit Tensor(const Shape& shape) : Tensor(uninitialized(shape)) { fill(T{0}); }
  Tensor(const Shape& shape, T value) : Tensor(uninitialized(shape)) { fill(value); }
  // Tensor({2, 3}, {1, 2, 3, 4, 5, 6})
  Tensor(const Shape& shape, std::initializer_list<T> values) : Tensor(shape, std::vector<T>(values)) {}
  Tensor(const Shape& shape, const std::vector<T>& values) : Tensor(uninitialized(shape)) {
    if (static_cast<std::int64_t>(values.size()) != numel())
      throw ShapeError("Tensor: " + std::to_string(values.size()) + " values given for shape " + shape.str());
    std::copy(values.begin(), values.end(), data_);
  }

  static Tensor uninitialized(const Shape& shape) {
    Tensor t;
    t.shape_ = shape;
    t.buffer_ = make_aligned_buffer<T>(static_cast<std::size_t>(shape.numel()));
    t.data_ = t.buffer_.get();
    return t;
  }
  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor full(const Shape& shape, T value) { return Tensor(shape, value); }
  static Tensor scalar(T value) { return Tensor(Shape{}, value); }

  const Shape& shape() const noexcept { return shape_; }
  int rank() const noexcept { return shape_.rank(); }
  std::int64_t dim(int i) const { return shape_.dim(i); }
  std::int64_t numel() const noexcept { return data_ ? shape_.numel() : 0; }
  bool empty() const noexcept { return data_ == nullptr; }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + numel(); }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + numel(); }

  T& operator[](std::int64_t i) noexcept { return data_[i]; }
  const T& operator[](std::int64_t i) const noexcept { return data_[i]; }
  // Element access by up to four indices (row-major); unchecked.
  T& operator()(std::int64_t i0, std::int64_t i1 = 0, std::int64_t i2 = 0, std::int64_t i3 = 0) noexcept {
    return data_[offset(i0, i1, i2, i3)];
  }
  const T& operator()(std::int64_t i0, std::int64_t i1 = 0, std::int64_t i2 = 0, std::int64_t i3 = 0) const noexcept {
    return data_[offset(i0, i1, i2, i3)];
  }
  // Checked element access: throws ShapeError on a bad index.
  T& at(std::initializer_list<std::int64_t> idx) {
    if (static_cast<int>(idx.size()) != rank())
      throw ShapeError("Tensor::at: " + std::to_string(idx.size()) + " indices for shape " + shape_.str());
    std::int64_t off = 0;
    int k = 0;
    for (auto i : idx) {
      if (i < 0 || i >= shape_[k])
        throw ShapeError("Tensor::at: index " + std::to_string(i) + " out of range in dimension " +
                         std::to_string(k) + " of " + shape_.str());
      off = off * shape_[k] + i;
      ++k;
    }
    return data_[off];
  }

  void fill(T value) noexcept { std::fill(begin(), end(), value); }

  Tensor clone() const {
    if (empty()) return Tensor();
    Tensor t = uninitialized(shape_);
    if (numel() > 0) std::memcpy(t.data_, data_, static_cast<std::size_t>(numel()) * sizeof(T));
    return t;
  }

  // A view with another shape and the same elements (shares the buffer).
  Tensor reshape(const Shape& shape) const {
    if (shape.numel() != shape_.numel())
      throw ShapeError("Tensor::reshape: cannot view " + shape_.str() + " as " + shape.str());
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }

  // Image n of a batch (a view of shape [1, ...] sharing the buffer).
  Tensor slice_batch(std::int64_t n, std::int64_t count = 1) const {
    if (rank() < 1 || n < 0 || count < 0 || n + count > shape_[0])
      throw ShapeError("Tensor::slice_batch: rows [" + std::to_string(n) + ", " + std::to_string(n + count) +
                       ") out of range for " + shape_.str());
    Tensor t = *this;
    Shape s;
    s.push(count);
    for (int i = 1; i < rank(); ++i) s.push(shape_[i]);
    t.shape_ = s;
    t.data_ = data_ + n * shape_.stride(0);
    return t;
  }

  bool shares_buffer_with(const Tensor& other) const noexcept { return buffer_ == other.buffer_; }

  template <TensorElement U>
  Tensor<U> cast() const {
    if (empty()) return Tensor<U>();
    auto t = Tensor<U>::uninitialized(shape_);
    for (std::int64_t i = 0; i < numel(); ++i) t[i] = static_cast<U>(data_[i]);
    return t;
  }

  // Eigen views. matrix(): rows = dim 0, cols = the rest (a batch of rows).
  Eigen::Map<RowMatrix, Eigen::Unaligned> matrix() noexcept { return {data_, rows(), cols()}; }
  Eigen::Map<const RowMatrix, Eigen::Unaligned> matrix() const noexcept { return {data_, rows(), cols()}; }
  Eigen::Map<Vector, Eigen::Unaligned> vector() noexcept { return {data_, numel()}; }
  Eigen::Map<const Vector, Eigen::Unaligned> vector() const noexcept { return {data_, numel()}; }

 private:
  std::int64_t rows() const noexcept { return rank() == 0 ? 1 : shape_[0]; }
  std::int64_t cols() const noexcept { return rank() == 0 ? 1 : shape_.stride(0); }
  std::int64_t offset(std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3) const noexcept {
    const auto& s = shape_;
    switch (s.rank()) {
      case 0: return 0;
      case 1: return i0;
      case 2: return i0 * s[1] + i1;
      case 3: return (i0 * s[1] + i1) * s[2] + i2;
      default: return ((i0 * s[1] + i1) * s[2] + i2) * s[3] + i3;
    }
  }

  std::shared_ptr<T[]> buffer_;
  T* data_ = nullptr;
  Shape shape_;
};

// Throws ShapeError naming `what` unless a and b have the same shape.
template <class A, class B>
void require_same_shape(const A& a, const B& b, const std::string& what) {
  if (a.shape() != b.shape())
    throw ShapeError(what + ": shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
}

}  // namespace gradattr
