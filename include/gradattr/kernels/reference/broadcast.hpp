#pragma once
// Reference broadcasting kernels (NumPy/ONNX multidirectional broadcasting, see
// kernels/graph_params.hpp): a binary op whose operands broadcast to the output, the sum of a
// tensor down to a shape that broadcasts to it (the backward of a broadcast), and the expansion
// of a tensor to a shape it broadcasts to. Index by index on the shapes as given, with no plan:
// the oracle the fast kernels are tested against. Shapes are the caller's to validate.
#include <array>
#include <cstdint>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels {

enum class BinaryOp { add, sub, mul, div };

template <class T>
constexpr T apply_binary(BinaryOp op, T a, T b) noexcept {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    default: return a / b;
  }
}

namespace reference {
namespace broadcast_detail {
// Offset in `x` (which broadcasts to `y`) of y's element i.
inline std::int64_t source_offset(const Shape& y, const Shape& x, std::int64_t i) noexcept {
  std::int64_t off = 0, stride = 1;
  const int shift = y.rank() - x.rank();
  for (int d = y.rank() - 1; d >= 0; --d) {
    const std::int64_t idx = i % y[d];
    i /= y[d];
    const int dx = d - shift;
    if (dx >= 0) {
      if (x[dx] != 1) off += idx * stride;
      stride *= x[dx];
    }
  }
  return off;
}
}  // namespace broadcast_detail

// y = a op b, a and b broadcast to y's shape (assigned).
template <class T>
void binary(Tensor<T>& y, const Tensor<T>& a, const Tensor<T>& b, BinaryOp op) noexcept {
  if (a.shape() == y.shape() && b.shape() == y.shape()) {  // equal shapes (double add/sub/mul): a flat loop per op
    const std::int64_t n = y.numel();
    switch (op) {
      case BinaryOp::add: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i]; return;
      case BinaryOp::sub: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] - b[i]; return;
      case BinaryOp::mul: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i]; return;
      case BinaryOp::div: for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] / b[i]; return;
    }
  }
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y[i] = apply_binary(op, a[broadcast_detail::source_offset(y.shape(), a.shape(), i)],
                        b[broadcast_detail::source_offset(y.shape(), b.shape(), i)]);
}

// dx = the sum of dy over the dimensions along which dx's shape broadcasts to dy's (assigned).
// Each element is summed in row-major order of dy, starting from 0.
template <class T>
void sum_to(Tensor<T>& dx, const Tensor<T>& dy) noexcept {
  dx.fill(T{0});
  for (std::int64_t i = 0; i < dy.numel(); ++i) dx[broadcast_detail::source_offset(dy.shape(), dx.shape(), i)] += dy[i];
}

// y = x repeated along the dimensions where x broadcasts to y (assigned).
template <class T>
void expand(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = x[broadcast_detail::source_offset(y.shape(), x.shape(), i)];
}

}  // namespace reference
}  // namespace gradattr::kernels
