#pragma once
// Shape: the extents of a tensor of rank 0..4, row-major (NCHW for images).
#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "gradattr/core/error.hpp"

namespace gradattr {

class Shape {
 public:
  static constexpr int kMaxRank = 4;

  Shape() = default;  // rank 0: a scalar with one element
  Shape(std::initializer_list<std::int64_t> dims) {
    if (dims.size() > kMaxRank)
      throw ShapeError("Shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of 4");
    for (auto d : dims) push(d);
  }

  int rank() const noexcept { return rank_; }
  std::int64_t operator[](int i) const noexcept { return dims_[static_cast<std::size_t>(i)]; }
  // dim(-1) is the last dimension, as in PyTorch.
  std::int64_t dim(int i) const {
    const int j = i < 0 ? i + rank_ : i;
    if (j < 0 || j >= rank_)
      throw ShapeError("Shape::dim(" + std::to_string(i) + ") out of range for " + str());
    return dims_[static_cast<std::size_t>(j)];
  }
  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  // Extent of everything after dimension i (row stride of dimension i).
  std::int64_t stride(int i) const noexcept {
    std::int64_t n = 1;
    for (int k = i + 1; k < rank_; ++k) n *= dims_[static_cast<std::size_t>(k)];
    return n;
  }

  void push(std::int64_t d) {
    if (rank_ == kMaxRank) throw ShapeError("Shape: rank exceeds the maximum of 4");
    if (d < 0) throw ShapeError("Shape: negative extent " + std::to_string(d));
    if (d > 0 && numel() > std::numeric_limits<std::int64_t>::max() / d)
      throw ShapeError("Shape: element count overflows");
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) noexcept { return !(a == b); }

  // "[2, 3, 224, 224]"
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
  }

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace gradattr
