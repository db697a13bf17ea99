#pragma once
// The float GEMM micro-kernel and its panel loop, shared by the Winograd convolution
// (detail/winograd_f43*.hpp) and the packed GEMM (kernels/fast/gemm.hpp). Templated on the
// xsimd architecture so TUs built with different -m flags get distinct symbols.
//
// A panel is at most kPanelWidth (64) columns of the right operand, packed row after row,
// 64-byte aligned; the left operand is read in place (row-major, any row stride). The
// micro-kernel keeps kPanelRows x 4 vectors of accumulators in registers (AVX-512: 24 of 32).
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>

namespace gradattr::kernels::fast::detail {

inline constexpr std::int64_t kPanelWidth = 64;  // columns of one packed panel
inline constexpr int kPanelRows = 6;             // left-operand rows (Winograd tiles) per micro-kernel call
inline constexpr std::int64_t kPanelKC = 128;    // reduction rows of a panel per pass

// m[r][v*W..] (+)= sum_{c0 <= c < c1} v[r*ldv + c] * u[c*ldu + v*W..] for r < RT, v < NV: assigned
// when c0 == 0, else continued from m's partial sums (the same float operations in the same
// order as one pass over all c, so C-blocking does not change the result).
template <class Arch, int RT, int NV>
inline void panel_ukernel(const float* v, std::int64_t ldv, const float* u, std::int64_t ldu, std::int64_t c0,
                          std::int64_t c1, float* m, std::int64_t ldm) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = static_cast<int>(B::size);
  B acc[RT][NV];
#pragma GCC unroll 8
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[r][j] = c0 == 0 ? B(0.0f) : B::load_aligned(m + r * ldm + j * W);
  for (std::int64_t c = c0; c < c1; ++c) {
    B uu[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) uu[j] = B::load_aligned(u + c * ldu + j * W);
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) {
      const B a(v[r * ldv + c]);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[r][j] = xsimd::fma(a, uu[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[r][j].store_aligned(m + r * ldm + j * W);
}

template <class Arch, int NV>
inline void panel_ukernel_rows(int rt, const float* v, std::int64_t ldv, const float* u, std::int64_t ldu,
                               std::int64_t c0, std::int64_t c1, float* m, std::int64_t ldm) noexcept {
  switch (rt) {
    case 6: panel_ukernel<Arch, 6, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 5: panel_ukernel<Arch, 5, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 4: panel_ukernel<Arch, 4, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 3: panel_ukernel<Arch, 3, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 2: panel_ukernel<Arch, 2, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
    default: panel_ukernel<Arch, 1, NV>(v, ldv, u, ldu, c0, c1, m, ldm); break;
  }
}

template <class Arch>
inline void panel_ukernel_dispatch(int rt, int nv, const float* v, std::int64_t ldv, const float* u,
                                   std::int64_t ldu, std::int64_t c0, std::int64_t c1, float* m,
                                   std::int64_t ldm) noexcept {
  switch (nv) {
    case 4: panel_ukernel_rows<Arch, 4>(rt, v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 3: panel_ukernel_rows<Arch, 3>(rt, v, ldv, u, ldu, c0, c1, m, ldm); break;
    case 2: panel_ukernel_rows<Arch, 2>(rt, v, ldv, u, ldu, c0, c1, m, ldm); break;
    default: panel_ukernel_rows<Arch, 1>(rt, v, ldv, u, ldu, c0, c1, m, ldm); break;
  }
}

// m[t][0..width) (+)= sum_{c < reduction} v[t * ldv + c] * u[c * width + 0..width) for t < tb:
// one panel (width <= kPanelWidth columns, a multiple of the vector width) against a block of
// rows (Winograd tiles). Reduction blocks of kPanelKC rows keep the panel slice (kPanelKC x 64
// floats) in L1 while every group of kPanelRows rows reuses it; the order of the float
// operations does not depend on tb, so neither do the results.
template <class Arch>
inline void panel_gemm(const float* v, std::int64_t ldv, std::int64_t reduction, const float* u,
                       std::int64_t width, std::int64_t tb, float* m, std::int64_t ldm) noexcept {
  constexpr std::int64_t LW = static_cast<std::int64_t>(xsimd::batch<float, Arch>::size);
  constexpr int NVMAX = static_cast<int>(kPanelWidth / LW) < 4 ? static_cast<int>(kPanelWidth / LW) : 4;
  for (std::int64_t c0 = 0; c0 < reduction; c0 += kPanelKC) {
    const std::int64_t c1 = std::min(reduction, c0 + kPanelKC);
    for (std::int64_t sub = 0; sub < width; sub += NVMAX * LW) {
      const int nv = static_cast<int>(std::min<std::int64_t>(NVMAX, (width - sub) / LW));
      for (std::int64_t t0 = 0; t0 < tb; t0 += kPanelRows) {
        const int rt = static_cast<int>(std::min<std::int64_t>(kPanelRows, tb - t0));
        panel_ukernel_dispatch<Arch>(rt, nv, v + t0 * ldv, ldv, u + sub, width, c0, c1, m + t0 * ldm + sub, ldm);
      }
    }
  }
}

}  // namespace gradattr::kernels::fast::detail
