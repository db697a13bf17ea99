#pragma once
// Packed float GEMM for the token-major products of a transformer (kernels/fast/matmul.hpp)
// and the forward convolution's products (kernels/fast/conv_gemm.hpp): one column panel of the
// output at a time.
//
//   y[i][n0 + j] = sum_c A(i, c) B(c, n0 + j),  i < M, j < width <= kPanelWidth,
//   A(i, c) = a[i * lda + c]           (rows contiguous: an activation, or dy),
//   B(c, n) = b[c * brs + n * bcs]     (any strides: a weight or its transpose).
//
// The panel of B is packed once per call into a 64-byte aligned [K][64] block (zero columns
// past `width`), then every group of A's rows runs against it through the register-blocked
// micro-kernel (detail/panel_gemm.hpp) into an aligned tile that is stored to y.
// Why not Eigen's GEMM: on ViT-B/16's shapes (197 x 768 x 3072 and its kin) Eigen ran at
// 200-240 GFLOP/s on 2 threads, this kernel at the numbers in docs/benchmarks.md ("ViT-B/16").
//
// Each output element is one dot product over c in increasing order, independent of M, of the
// panel's position and of the thread: results are bitwise identical for any thread count and
// any batch size.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gradattr/kernels/fast/detail/panel_gemm.hpp"

namespace gradattr::kernels::fast {

// Rows of A a caller gives one task when it splits a product's rows over tasks (the convolution
// does, kernels/fast/conv_gemm.hpp): enough rows that packing the panel is a small share of a
// task's work, few enough that layer4's 512-2048 output channels make tasks for both threads.
inline constexpr std::int64_t kGemmRows = 96;

// Floats of scratch gemm_panel needs for a reduction of K: the packed panel and one tile.
inline std::int64_t gemm_panel_scratch(std::int64_t K) noexcept {
  return K * detail::kPanelWidth + detail::kPanelRows * detail::kPanelWidth;
}

// gemm_panel's default store: the finished row of the tile, copied.
struct CopyRow {
  void operator()(std::int64_t /*row*/, const float* tile_row, float* y_row, std::int64_t width) const noexcept {
    std::memcpy(y_row, tile_row, static_cast<std::size_t>(width) * sizeof(float));
  }
};

// y[i][n0 + j] for i < M, j < width (y's rows ldy apart), written by
// store(i, tile_row, &y[i][n0], width), which may fuse an epilogue (bias, activation) into the
// copy. scratch: 64-byte aligned, gemm_panel_scratch(K) floats, private to the calling thread.
//
// Each group of kPanelRows rows runs over the whole reduction with its accumulators in
// registers, and its tile is stored while it is in L1: on ResNet-50's convolutions and
// ViT-B/16's products this beat blocks of 96 rows swept in reduction blocks of 128 by 10-35%
// (single thread; the packed panel streams from L2, which keeps up).
template <class Arch, class Store = CopyRow>
void gemm_panel(std::int64_t M, std::int64_t K, const float* a, std::int64_t lda, const float* b, std::int64_t brs,
                std::int64_t bcs, std::int64_t n0, std::int64_t width, float* y, std::int64_t ldy, float* scratch,
                const Store& store = {}) noexcept {
  constexpr std::int64_t LW = static_cast<std::int64_t>(xsimd::batch<float, Arch>::size);
  constexpr std::int64_t PW = detail::kPanelWidth;
  constexpr std::int64_t NVMAX = PW / LW < 4 ? PW / LW : 4;
  const std::int64_t wp = (width + LW - 1) / LW * LW;  // the micro-kernel's columns
  float* u = scratch;
  float* tile = scratch + K * PW;
  // pack B's panel: u[c][j] = B(c, n0 + j), zero for width <= j < wp
  if (bcs == 1) {
    for (std::int64_t c = 0; c < K; ++c) {
      std::memcpy(u + c * wp, b + c * brs + n0, static_cast<std::size_t>(width) * sizeof(float));
      std::fill(u + c * wp + width, u + (c + 1) * wp, 0.0f);
    }
  } else {
    // a transpose in blocks of 16 reduction rows: 16 output rows of the panel stay in cache
    for (std::int64_t c0 = 0; c0 < K; c0 += 16) {
      const std::int64_t c1 = std::min(K, c0 + 16);
      for (std::int64_t j = 0; j < width; ++j) {
        const float* col = b + (n0 + j) * bcs;
        for (std::int64_t c = c0; c < c1; ++c) u[c * wp + j] = col[c * brs];
      }
    }
    for (std::int64_t c = 0; c < K; ++c) std::fill(u + c * wp + width, u + (c + 1) * wp, 0.0f);
  }
  for (std::int64_t r0 = 0; r0 < M; r0 += detail::kPanelRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(detail::kPanelRows, M - r0));
    if (K == 0) {
      std::fill(tile, tile + rows * PW, 0.0f);
    } else {
      for (std::int64_t sub = 0; sub < wp; sub += NVMAX * LW) {
        const int nv = static_cast<int>(std::min<std::int64_t>(NVMAX, (wp - sub) / LW));
        detail::panel_ukernel_dispatch<Arch>(rows, nv, a + r0 * lda, lda, u + sub, wp, 0, K, tile + sub, PW);
      }
    }
    for (int i = 0; i < rows; ++i) store(r0 + i, tile + i * PW, y + (r0 + i) * ldy + n0, width);
  }
}

}  // namespace gradattr::kernels::fast
