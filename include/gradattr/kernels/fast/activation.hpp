#pragma once
// Fast float ReLU. Semantics of kernels/reference/activation.hpp, bit for bit, in the SIMD body
// and the scalar tail: relu(x) = x < 0 ? 0 : x (so relu(NaN) = NaN, relu(-0) = -0), and
// dx = y > 0 ? dy : 0 (0 where y is 0 or NaN). Blocks of a fixed size are spread over threads.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::fast {
namespace activation_detail {
inline constexpr std::int64_t kBlock = std::int64_t{1} << 15;  // a multiple of every batch size
}

// y = relu(x), any shape (y may alias x).
template <class Arch>
void relu_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t n = x.numel(), blocks = (n + activation_detail::kBlock - 1) / activation_detail::kBlock;
  const float* xd = x.data();
  float* yd = y.data();
  parallel_for(0, blocks, [&](std::int64_t blk) {
    const std::int64_t i0 = blk * activation_detail::kBlock, i1 = std::min(n, i0 + activation_detail::kBlock);
    const B zero(0.0f);
    std::int64_t i = i0;
    for (; i + S <= i1; i += S) {
      const B v = B::load_unaligned(xd + i);
      xsimd::select(v < zero, zero, v).store_unaligned(yd + i);
    }
    for (; i < i1; ++i) yd[i] = xd[i] < 0.0f ? 0.0f : xd[i];
  });
}

// dx = dy where the forward output y > 0, else 0 (assigned; dx may alias dy).
template <class Arch>
void relu_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& y) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t n = dy.numel(), blocks = (n + activation_detail::kBlock - 1) / activation_detail::kBlock;
  const float* gd = dy.data();
  const float* yd = y.data();
  float* dxd = dx.data();
  parallel_for(0, blocks, [&](std::int64_t blk) {
    const std::int64_t i0 = blk * activation_detail::kBlock, i1 = std::min(n, i0 + activation_detail::kBlock);
    const B zero(0.0f);
    std::int64_t i = i0;
    for (; i + S <= i1; i += S) {
      const B v = B::load_unaligned(yd + i), g = B::load_unaligned(gd + i);
      xsimd::select(v > zero, g, zero).store_unaligned(dxd + i);
    }
    for (; i < i1; ++i) dxd[i] = yd[i] > 0.0f ? gd[i] : 0.0f;
  });
}

}  // namespace gradattr::kernels::fast
