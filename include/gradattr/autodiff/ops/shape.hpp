#pragma once
// Recorded ops that move elements without arithmetic: reshape (and flatten), select one
// spatial position, gather one class per row, concatenate along the batch and its inverse.
// Views share the input's buffer (values are never written after creation).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::ad::op {

template <class T>
struct Reshape {
  static constexpr const char* name = "reshape";
  Shape x_shape;
  Tensor<T> forward(const Tensor<T>& x, const Shape& shape) {
    if (shape.numel() != x.shape().numel())
      throw ShapeError(std::string(name) + ": cannot view " + x.shape().str() + " (" + std::to_string(x.numel()) +
                       " elements) as " + shape.str() + " (" + std::to_string(shape.numel()) + ")");
    x_shape = x.shape();
    return x.reshape(shape);
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const { ctx.accumulate(0, dy.reshape(x_shape)); }
};

// y[n, c] = x[n, c, h, w] for one position (h, w): t(x) = K Σ_k A_{k,0,0} starts here.
template <class T>
struct SelectPosition {
  static constexpr const char* name = "select_position";
  Shape x_shape;
  std::int64_t h = 0, w = 0;
  Tensor<T> forward(const Tensor<T>& x) {
    const Shape& s = x.shape();
    if (s.rank() != 4) throw ShapeError(std::string(name) + ": input must be [N, C, H, W], got " + s.str());
    if (h < 0 || h >= s[2] || w < 0 || w >= s[3])
      throw ArgumentError(std::string(name) + ": position (" + std::to_string(h) + ", " + std::to_string(w) +
                          ") out of range for input " + s.str());
    x_shape = s;
    const std::int64_t N = s[0], C = s[1];
    Tensor<T> y = Tensor<T>::uninitialized(Shape{N, C});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = x(n, c, h, w);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    dx.fill(T{0});
    const std::int64_t N = x_shape[0], C = x_shape[1];
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c) dx(n, c, h, w) = dy[n * C + c];
    ctx.accumulate(0, std::move(dx));
  }
};

// y[n] = x[n, classes[n]]: the class score of each image of a batch.
template <class T>
struct Gather {
  static constexpr const char* name = "gather";
  Shape x_shape;
  std::vector<std::int64_t> classes;
  Tensor<T> forward(const Tensor<T>& x, std::span<const std::int64_t> cls) {
    const Shape& s = x.shape();
    if (s.rank() != 2) throw ShapeError(std::string(name) + ": input must be [N, C], got " + s.str());
    if (static_cast<std::int64_t>(cls.size()) != s[0])
      throw ShapeError(std::string(name) + ": " + std::to_string(cls.size()) + " class indices for input " + s.str() +
                       " (expects " + std::to_string(s[0]) + ", one per row)");
    for (std::size_t n = 0; n < cls.size(); ++n)
      if (cls[n] < 0 || cls[n] >= s[1])
        throw ArgumentError(std::string(name) + ": class " + std::to_string(cls[n]) + " of row " + std::to_string(n) +
                            " out of range for input " + s.str());
    x_shape = s;
    classes.assign(cls.begin(), cls.end());
    Tensor<T> y = Tensor<T>::uninitialized(Shape{s[0]});
    for (std::int64_t n = 0; n < s[0]; ++n) y[n] = x[n * s[1] + classes[static_cast<std::size_t>(n)]];
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    dx.fill(T{0});
    for (std::int64_t n = 0; n < x_shape[0]; ++n) dx[n * x_shape[1] + classes[static_cast<std::size_t>(n)]] = dy[n];
    ctx.accumulate(0, std::move(dx));
  }
};

// y = [x_0; x_1; ...] along dimension 0; the other dimensions must agree.
template <class T>
struct ConcatBatch {
  static constexpr const char* name = "concat_batch";
  std::vector<std::int64_t> counts;  // rows contributed by each input
  Tensor<T> forward(std::span<const Tensor<T>* const> xs) {
    if (xs.empty()) throw ArgumentError(std::string(name) + ": no inputs");
    const Shape& s0 = xs[0]->shape();
    if (s0.rank() < 1) throw ShapeError(std::string(name) + ": input 0 is a scalar " + s0.str());
    std::int64_t rows = 0;
    counts.clear();
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const Shape& s = xs[i]->shape();
      bool ok = s.rank() == s0.rank();
      for (int d = 1; ok && d < s.rank(); ++d) ok = s[d] == s0[d];
      if (!ok)
        throw ShapeError(std::string(name) + ": input " + std::to_string(i) + " " + s.str() + " does not match input 0 " +
                         s0.str() + " beyond the batch dimension");
      counts.push_back(s[0]);
      rows += s[0];
    }
    Shape ys;
    ys.push(rows);
    for (int d = 1; d < s0.rank(); ++d) ys.push(s0[d]);
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    T* out = y.data();
    for (const Tensor<T>* x : xs) {
      if (x->numel() > 0) std::memcpy(out, x->data(), static_cast<std::size_t>(x->numel()) * sizeof(T));
      out += x->numel();
    }
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    std::int64_t start = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (ctx.needs(i)) ctx.accumulate(i, dy.slice_batch(start, counts[i]));
      start += counts[i];
    }
  }
};

// y = x[start : start + count] along dimension 0 (a view).
template <class T>
struct SliceBatch {
  static constexpr const char* name = "slice_batch";
  Shape x_shape;
  std::int64_t start = 0, count = 0;
  Tensor<T> forward(const Tensor<T>& x) {
    const Shape& s = x.shape();
    if (s.rank() < 1) throw ShapeError(std::string(name) + ": input is a scalar " + s.str());
    if (start < 0 || count < 0 || start + count > s[0])
      throw ArgumentError(std::string(name) + ": rows [" + std::to_string(start) + ", " + std::to_string(start + count) +
                          ") out of range for input " + s.str());
    x_shape = s;
    return x.slice_batch(start, count);
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    dx.fill(T{0});
    const std::int64_t row = x_shape.stride(0);
    std::copy(dy.begin(), dy.end(), dx.data() + start * row);
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
