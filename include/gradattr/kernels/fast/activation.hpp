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
#include "gradattr/kernels/params.hpp"

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
  parallel_for(0, blocks, static_cast<double>(activation_detail::kBlock), [&](std::int64_t blk) {
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

// act(v) on one SIMD batch: the same selects as relu_forward and clip_forward.
template <class B>
B apply_activation(const B& v, const Activation& act) noexcept {
  if (act.kind == Activation::Relu) return xsimd::select(v < B(0.0f), B(0.0f), v);
  if (act.kind == Activation::Clip) {
    const B lo(act.lo), hi(act.hi);
    return xsimd::select(v < lo, lo, xsimd::select(v > hi, hi, v));
  }
  return v;
}

// p[0, n) = act(p[0, n)), serially (inside a kernel's task, on a tile it has just written).
template <class Arch = xsimd::default_arch>
void apply_activation(float* p, std::int64_t n, const Activation& act) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  if (!act) return;
  std::int64_t i = 0;
  for (; i + S <= n; i += S) apply_activation(B::load_unaligned(p + i), act).store_unaligned(p + i);
  for (; i < n; ++i) p[i] = act(p[i]);
}

// y = act(y) over a whole tensor, blocks spread over threads.
template <class Arch = xsimd::default_arch>
void apply_activation(Tensor<float>& y, const Activation& act) noexcept {
  if (!act) return;
  const std::int64_t n = y.numel(), blocks = (n + activation_detail::kBlock - 1) / activation_detail::kBlock;
  float* yd = y.data();
  parallel_for(0, blocks, static_cast<double>(activation_detail::kBlock), [&](std::int64_t blk) {
    const std::int64_t i0 = blk * activation_detail::kBlock, i1 = std::min(n, i0 + activation_detail::kBlock);
    apply_activation<Arch>(yd + i0, i1 - i0, act);
  });
}

// y = act(a + b), a, b and y of one shape (y may alias a or b): the add kernel's a + b, then act.
template <class Arch = xsimd::default_arch>
void add_activation(Tensor<float>& y, const Tensor<float>& a, const Tensor<float>& b, const Activation& act) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t n = y.numel(), blocks = (n + activation_detail::kBlock - 1) / activation_detail::kBlock;
  const float* ad = a.data();
  const float* bd = b.data();
  float* yd = y.data();
  parallel_for(0, blocks, static_cast<double>(activation_detail::kBlock), [&](std::int64_t blk) {
    const std::int64_t i0 = blk * activation_detail::kBlock, i1 = std::min(n, i0 + activation_detail::kBlock);
    std::int64_t i = i0;
    for (; i + S <= i1; i += S)
      apply_activation(B::load_unaligned(ad + i) + B::load_unaligned(bd + i), act).store_unaligned(yd + i);
    for (; i < i1; ++i) yd[i] = act(ad[i] + bd[i]);
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
  parallel_for(0, blocks, static_cast<double>(activation_detail::kBlock), [&](std::int64_t blk) {
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
