#pragma once
// Winograd F(4x4, 3x3) internals for kernels/fast/conv3x3.hpp: filter packing (arch
// independent), the tile transforms and the driver (templated on the xsimd architecture so TUs
// built with different -m flags get distinct symbols); the GEMM micro-kernel is
// detail/panel_gemm.hpp's.
//
// Algorithm (Lavin & Gray 2016), for one 4x4 output tile and one (k, c) pair:
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,   d: 6x6 input patch, g: 3x3 filter.
// Summed over c, the 36 element-wise products become 36 independent GEMMs
//   M[xi][t][k] = sum_c V[xi][t][c] U[xi][c][k],  xi in 0..35, t = tile.
//
// Data layouts (all float, 64-byte aligned):
//   U (packed filters)  [36][K blocks of 64][C][bw]   bw = block width (64, last block 16..64);
//                        K padded to a multiple of 16 with zero columns.
//   strip (per thread)  [6 rows][Ws cols][Cp]         input rows in channel-minor order, zero
//                        outside the image and for c >= C (Cp = C rounded up to 16): transposed
//                        from NCHW, or copied row by row from an NHWC16 input.
//   V (per thread)      [36][Tb][Cp]                  transformed input of one tile block.
//   M (per thread)      [36][Tb][Kg]                  GEMM output for one group of Kg channels.
// Work item = (image, rectangular block of tiles, group of output channels); each item is
// independent (no reduction across items or threads), so results do not depend on the plan or
// on the thread count. The plan (block shape, channel group) comes from a small cost model.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "gradattr/core/aligned.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/kernels/fast/detail/panel_gemm.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace gradattr::kernels::fast::detail {

inline constexpr int kWinoPoints = 36;    // 6x6 transformed tile
inline constexpr std::int64_t kWinoPad = 16;   // channel padding (arch independent)
inline constexpr std::int64_t kWinoKBlock = kPanelWidth;  // packed filter column block

inline constexpr std::int64_t winograd_round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

// Packed filters of one direction. C = reduction channels, K = produced channels.
struct WinogradFilterPack {
  std::int64_t C = 0, K = 0, Kp = 0;
  std::shared_ptr<float[]> u;
  bool empty() const noexcept { return !u; }
  // offset of U[xi][c][k] in u
  std::int64_t offset(int xi, std::int64_t c, std::int64_t k) const noexcept {
    const std::int64_t blk = k / kWinoKBlock, bw = std::min(kWinoKBlock, Kp - blk * kWinoKBlock);
    return xi * C * Kp + blk * kWinoKBlock * C + c * bw + (k - blk * kWinoKBlock);
  }
  const float* block(int xi, std::int64_t blk) const noexcept {
    return u.get() + xi * C * Kp + blk * kWinoKBlock * C;
  }
};

// U = G g G^T in double, rounded once to float. g(k, c, r, s) returns the 3x3 filter tap.
template <class Tap>
WinogradFilterPack winograd_pack_filters(std::int64_t C, std::int64_t K, Tap g_tap) {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  WinogradFilterPack f;
  f.C = C;
  f.K = K;
  f.Kp = winograd_round_up(K, kWinoPad);
  const std::int64_t n = kWinoPoints * C * f.Kp;
  f.u = make_aligned_buffer<float>(static_cast<std::size_t>(n));
  const std::int64_t nblk = (f.Kp + kWinoKBlock - 1) / kWinoKBlock;
  // One column block (<= 64 output channels) per iteration, channels innermost so the
  // compiler vectorises; blocks are independent, so the result does not depend on threads.
  auto block = [&](std::int64_t blk) {
    const std::int64_t k0 = blk * kWinoKBlock, bw = std::min(kWinoKBlock, f.Kp - k0);
    alignas(64) double g[9][kWinoKBlock], t[6][3][kWinoKBlock], u[kWinoKBlock];
    for (std::int64_t c = 0; c < C; ++c) {
      for (int rs = 0; rs < 9; ++rs)
        for (std::int64_t kk = 0; kk < bw; ++kk) g[rs][kk] = k0 + kk < K ? g_tap(k0 + kk, c, rs / 3, rs % 3) : 0.0;
      for (int a = 0; a < 6; ++a)
        for (int s = 0; s < 3; ++s)
          for (std::int64_t kk = 0; kk < bw; ++kk)
            t[a][s][kk] = G[a][0] * g[s][kk] + G[a][1] * g[3 + s][kk] + G[a][2] * g[6 + s][kk];
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          for (std::int64_t kk = 0; kk < bw; ++kk) u[kk] = t[a][0][kk] * G[b][0] + t[a][1][kk] * G[b][1] + t[a][2][kk] * G[b][2];
          float* dst = f.u.get() + (a * 6 + b) * C * f.Kp + k0 * C + c * bw;
          for (std::int64_t kk = 0; kk < bw; ++kk) dst[kk] = static_cast<float>(u[kk]);
        }
    }
  };
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (worth_parallel(nblk, static_cast<double>(C * K) * 216.0))
#endif
  for (std::int64_t blk = 0; blk < nblk; ++blk) block(blk);
  return f;
}

// ---- plan ----------------------------------------------------------------------------------

struct WinogradPlan {
  std::int64_t th = 0, tw = 0;   // tiles per image
  std::int64_t rb = 1, cb = 1;   // tile block: rb tile rows x cb tile columns
  std::int64_t kg = 0;           // output channels per group (multiple of 64, or Kp)
  std::int64_t nby = 0, nbx = 0, nkg = 0;
  std::int64_t items() const noexcept { return nby * nbx * nkg; }
};

// Cost model in (rough) cycles: GEMM at 32 flop/cycle, transforms per 16-lane vector, filter
// traffic when a group's filters do not fit L2, and V/M spills when a block's workspace does
// not. The input transform of a tile block is charged once per block, not per channel group
// (a thread reuses it across consecutive groups, see run_item); the makespan of the contiguous
// per-thread ranges is estimated by the list-scheduling bound (items are mostly equal).
// whole_rows: every block spans whole tile rows (the adjoint, winograd_f43_adjoint.hpp, needs it
// to sum overlapping windows in a fixed order).
inline WinogradPlan winograd_plan(std::int64_t N, std::int64_t C, std::int64_t K, std::int64_t H, std::int64_t W,
                                  int threads, bool whole_rows = false) {
  const std::int64_t Cp = winograd_round_up(C, kWinoPad), Kp = winograd_round_up(K, kWinoPad);
  WinogradPlan best;
  best.th = (H + 3) / 4;
  best.tw = (W + 3) / 4;
  const double l2 = 1.5e6;
  double best_cost = 1e300;
  std::vector<std::int64_t> kgs;
  for (std::int64_t g = kWinoKBlock; g < Kp; g *= 2) kgs.push_back(g);
  kgs.push_back(Kp);
  const double nthreads = static_cast<double>(std::max(threads, 1));
  for (std::int64_t kg : kgs)
    for (std::int64_t rb = 1; rb <= best.th; ++rb)
      for (std::int64_t nbx = 1; nbx <= (rb == 1 && !whole_rows ? best.tw : 1); ++nbx) {
        // multi-row blocks span whole tile rows; single-row blocks may split a row
        const std::int64_t cb = (best.tw + nbx - 1) / nbx;
        if ((best.tw + cb - 1) / cb != nbx) continue;
        const std::int64_t tb = rb * cb;
        const double ws = 144.0 * static_cast<double>(tb) * static_cast<double>(Cp + kg);
        if (ws > 16e6 && tb > 1) continue;  // keep the per-thread workspace bounded
        WinogradPlan p = best;
        p.rb = rb;
        p.cb = cb;
        p.kg = kg;
        p.nby = (best.th + rb - 1) / rb;
        p.nbx = nbx;
        p.nkg = (Kp + kg - 1) / kg;
        auto in_cost = [&](std::int64_t rows, std::int64_t cols) {
          return static_cast<double>(rows * cols) * static_cast<double>(Cp) / 16.0 * 80.0 +
                 6.0 * static_cast<double>(rows * (4 * cols + 2) * Cp) / 16.0 * 8.0;
        };
        auto item_cost = [&](std::int64_t rows, std::int64_t cols, std::int64_t kw) {  // without in_cost
          const double t = static_cast<double>(rows * cols);
          const double tpad = static_cast<double>(winograd_round_up(rows * cols, 6));
          const double gemm = 36.0 * tpad * static_cast<double>(C) * static_cast<double>(kw) / 32.0;
          const double out = t * static_cast<double>(kw) / 16.0 * 120.0;
          const double ubytes = 144.0 * static_cast<double>(C) * static_cast<double>(kw);
          const double utraffic = ubytes > l2 ? ubytes / 12.0 : ubytes / 64.0;
          const double wsb = 144.0 * t * static_cast<double>(Cp + kw);
          const double spill = wsb > l2 ? 2.0 * wsb / 16.0 : 0.0;
          // the adjoint (whole_rows) transposes its filter slice once per item (about 1.5 cycles a float)
          const double transpose = whole_rows ? 36.0 * static_cast<double>(C) * static_cast<double>(kw) * 1.5 : 0.0;
          return gemm + out + utraffic + spill + transpose + 2000.0;
        };
        // the few distinct item sizes (full, edge row / column / channel group) with their counts
        const std::int64_t rows_last = best.th - (p.nby - 1) * rb, cols_last = best.tw - (nbx - 1) * cb;
        const std::int64_t kw_last = Kp - (p.nkg - 1) * kg;
        double total = 0, largest = 0;
        for (int ey = 0; ey < 2; ++ey)
          for (int ex = 0; ex < 2; ++ex) {
            const std::int64_t blocks = N * (ey ? 1 : p.nby - 1) * (ex ? 1 : nbx - 1);
            if (blocks == 0) continue;
            const double in = in_cost(ey ? rows_last : rb, ex ? cols_last : cb);
            total += static_cast<double>(blocks) * in;
            for (int ek = 0; ek < 2; ++ek) {
              const std::int64_t count = blocks * (ek ? 1 : p.nkg - 1);
              if (count == 0) continue;
              const double c = item_cost(ey ? rows_last : rb, ex ? cols_last : cb, ek ? kw_last : kg);
              total += static_cast<double>(count) * c;
              largest = std::max(largest, c + in);
            }
          }
        // list-scheduling bound, plus a little for total work
        const double cost = total / nthreads + largest * (1.0 - 1.0 / nthreads) + 0.02 * total;
        if (cost < best_cost) {
          best_cost = cost;
          best = p;
        }
      }
  return best;
}

// ---- transforms ----------------------------------------------------------------------------

// t = B^T d along one dimension (6 -> 6). Only the non-zero coefficients are used, so a NaN
// spreads exactly to the entries whose coefficient is non-zero.
template <class B>
inline void winograd_input_1d(const B& d0, const B& d1, const B& d2, const B& d3, const B& d4, const B& d5, B& t0,
                              B& t1, B& t2, B& t3, B& t4, B& t5) noexcept {
  const B four(4.0f), five(5.0f), two(2.0f);
  t0 = xsimd::fma(four, d0, xsimd::fnma(five, d2, d4));
  const B s12 = d1 + d2, s34 = d3 + d4, m12 = d1 - d2, m43 = d4 - d3, m42 = d4 - d2, m31 = d3 - d1;
  t1 = xsimd::fnma(four, s12, s34);
  t2 = xsimd::fma(four, m12, m43);
  t3 = xsimd::fma(two, m31, m42);
  t4 = xsimd::fnma(two, m31, m42);
  t5 = xsimd::fma(four, d1, xsimd::fnma(five, d3, d5));
}

// o = A^T m along one dimension (6 -> 4).
template <class B>
inline void winograd_output_1d(const B& m0, const B& m1, const B& m2, const B& m3, const B& m4, const B& m5, B& o0,
                               B& o1, B& o2, B& o3) noexcept {
  const B s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
  o0 = m0 + s12 + s34;
  o1 = xsimd::fma(B(2.0f), d34, d12);
  o2 = xsimd::fma(B(4.0f), s34, s12);
  o3 = xsimd::fma(B(8.0f), d34, d12) + m5;
}

// ---- AVX-512 16x16 transpose (layout conversion at the NCHW boundary) ----------------------

template <class Arch>
inline constexpr bool winograd_avx512 =
#if defined(__AVX512F__)
    std::is_base_of_v<xsimd::avx512f, Arch>;
#else
    false;
#endif

#if defined(__AVX512F__)
// r[i][j] -> r[j][i] for a 16x16 float block held in 16 registers.
// (The maskz forms with a full mask compile to the plain instructions; they avoid GCC 12's
// false -Wmaybe-uninitialized on _mm512_undefined_ps inside the unmasked intrinsics.)
inline void winograd_transpose16(__m512 r[16]) noexcept {
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_maskz_unpacklo_ps(kAll, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_maskz_shuffle_ps(kAll, t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_maskz_shuffle_ps(kAll, t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_maskz_shuffle_ps(kAll, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_maskz_shuffle_ps(kAll, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_maskz_shuffle_f32x4(kAll, r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_maskz_shuffle_f32x4(kAll, r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_maskz_shuffle_f32x4(kAll, t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(kAll, t[j], t[8 + j], 0xdd);
  }
}
#endif

// ---- input rows in channel-minor order ------------------------------------------------------

// dst[rr][col][c] = x[n][c][h0 + rr][w0 + col] for rr < nrows, col < width, c < Cp: zero outside
// the image and for c >= C. x is NCHW [N, C, H, W], or NHWC16 [N, H, W, Cp] when x_nhwc16 (one
// contiguous copy per row; its padding channels are not read).
template <class Arch>
inline void winograd_gather_rows(float* dst, const float* x, bool x_nhwc16, std::int64_t n, std::int64_t C,
                                 std::int64_t H, std::int64_t W, std::int64_t Cp, std::int64_t h0, std::int64_t nrows,
                                 std::int64_t w0, std::int64_t width) noexcept {
  for (std::int64_t rr = 0; rr < nrows; ++rr) {
    float* srow = dst + rr * width * Cp;
    const std::int64_t h = h0 + rr;
    if (h < 0 || h >= H) {
      std::memset(srow, 0, static_cast<std::size_t>(width * Cp) * sizeof(float));
      continue;
    }
    const std::int64_t lo = std::max<std::int64_t>(0, -w0), hi = std::min<std::int64_t>(width, W - w0);
    for (std::int64_t col = 0; col < lo; ++col) std::memset(srow + col * Cp, 0, Cp * sizeof(float));
    for (std::int64_t col = std::max(hi, lo); col < width; ++col) std::memset(srow + col * Cp, 0, Cp * sizeof(float));
    if (hi <= lo) continue;
    if (x_nhwc16) {  // already channel-minor with the same padding: one contiguous copy
      std::memcpy(srow + lo * Cp, x + ((n * H + h) * W + w0 + lo) * Cp,
                  static_cast<std::size_t>((hi - lo) * Cp) * sizeof(float));
      for (std::int64_t col = lo; col < hi && Cp > C; ++col)  // padding channels are not data
        std::memset(srow + col * Cp + C, 0, static_cast<std::size_t>(Cp - C) * sizeof(float));
      continue;
    }
    const float* xr = x + (n * C * H + h) * W + w0;  // srow[col][c] = xr[c][col], col in [lo, hi)
#if defined(__AVX512F__)
    if constexpr (winograd_avx512<Arch>) {
      for (std::int64_t c0 = 0; c0 < Cp; c0 += 16) {  // channels >= C come out zero
        const std::int64_t nc = std::max<std::int64_t>(0, std::min<std::int64_t>(16, C - c0));
        for (std::int64_t col = lo; col < hi; col += 16) {
          const std::int64_t nw = std::min<std::int64_t>(16, hi - col);
          const __mmask16 m = static_cast<__mmask16>((1u << nw) - 1u);
          __m512 r[16];
          for (std::int64_t i = 0; i < 16; ++i)
            r[i] = i < nc ? _mm512_maskz_loadu_ps(m, xr + (c0 + i) * H * W + col) : _mm512_setzero_ps();
          winograd_transpose16(r);
          for (std::int64_t j = 0; j < nw; ++j) _mm512_store_ps(srow + (col + j) * Cp + c0, r[j]);
        }
      }
      continue;
    }
#endif
    for (std::int64_t c = 0; c < C; ++c) {
      const float* xc = xr + c * H * W;
      for (std::int64_t col = lo; col < hi; ++col) srow[col * Cp + c] = xc[col];
    }
    for (std::int64_t col = lo; col < hi && Cp > C; ++col)
      std::memset(srow + col * Cp + C, 0, static_cast<std::size_t>(Cp - C) * sizeof(float));
  }
}

// ---- driver --------------------------------------------------------------------------------

// x and y are NCHW, or NHWC16 (kernels/fast/nhwc16.hpp: [N][H][W][round_up(channels, 16)]) when
// the flag says so. An NHWC16 input's padding channels are never read; an NHWC16 output's are
// written (zero, or NaN where a NaN input reached them through the zero filter columns).
struct WinogradArgs {
  float* y;          // [N, K, H, W]
  const float* x;    // [N, C, H, W]
  const float* bias; // [K] or null
  std::int64_t N, C, K, H, W;
  bool relu;
  bool x_nhwc16 = false;
  bool y_nhwc16 = false;
};

template <class Arch>
struct WinogradWorker {
  using B = xsimd::batch<float, Arch>;
  static constexpr std::int64_t LW = static_cast<std::int64_t>(B::size);

  const WinogradArgs& a;
  const WinogradFilterPack& f;
  const WinogradPlan& p;
  const float* bias_padded;  // [Kp]
  std::int64_t Cp, Ws, tbmax;
  float* strip;
  float* V;
  float* M;

  static std::int64_t floats_per_thread(const WinogradPlan& p, std::int64_t Cp) noexcept {
    const std::int64_t tb = p.rb * p.cb, ws = 4 * p.cb + 2;
    return winograd_round_up(6 * ws * Cp, 16) + kWinoPoints * tb * Cp + kWinoPoints * tb * p.kg + 16 * 64;
  }

  // strip[rr][col][c] = x[n][c][4ty-1+rr][4tx0-1+col], zero outside the image / for c >= C.
  void fill_strip(std::int64_t n, std::int64_t ty, std::int64_t tx0, std::int64_t ncols) const noexcept {
    winograd_gather_rows<Arch>(strip, a.x, a.x_nhwc16, n, a.C, a.H, a.W, Cp, 4 * ty - 1, 6, 4 * tx0 - 1, 4 * ncols + 2);
  }

  void input_transform(std::int64_t n, std::int64_t ty0, std::int64_t rows, std::int64_t tx0,
                       std::int64_t cols) const noexcept {
    const std::int64_t tb = rows * cols, ws = 4 * cols + 2;
    for (std::int64_t r = 0; r < rows; ++r) {
      fill_strip(n, ty0 + r, tx0, cols);
      for (std::int64_t j = 0; j < cols; ++j) {
        const std::int64_t t = r * cols + j;
        for (std::int64_t cv = 0; cv < Cp; cv += LW) {
          B tmp[6][6];
          for (int s = 0; s < 6; ++s) {
            const float* col = strip + (4 * j + s) * Cp + cv;
            B d[6];
            for (int rr = 0; rr < 6; ++rr) d[rr] = B::load_aligned(col + rr * ws * Cp);
            winograd_input_1d(d[0], d[1], d[2], d[3], d[4], d[5], tmp[0][s], tmp[1][s], tmp[2][s], tmp[3][s],
                              tmp[4][s], tmp[5][s]);
          }
          for (int i = 0; i < 6; ++i) {
            B o[6];
            winograd_input_1d(tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], tmp[i][4], tmp[i][5], o[0], o[1], o[2],
                              o[3], o[4], o[5]);
            for (int jj = 0; jj < 6; ++jj) o[jj].store_aligned(V + ((i * 6 + jj) * tb + t) * Cp + cv);
          }
        }
      }
    }
  }

  void gemm(std::int64_t tb, std::int64_t k0, std::int64_t kw) const noexcept {
    for (int xi = 0; xi < kWinoPoints; ++xi)
      for (std::int64_t kb = k0; kb < k0 + kw; kb += kWinoKBlock)
        panel_gemm<Arch>(V + xi * tb * Cp, Cp, a.C, f.block(xi, kb / kWinoKBlock),
                                  std::min(kWinoKBlock, f.Kp - kb), tb, M + xi * tb * p.kg + (kb - k0), p.kg);
  }

  void output_transform(std::int64_t n, std::int64_t ty0, std::int64_t rows, std::int64_t tx0, std::int64_t cols,
                        std::int64_t k0, std::int64_t kw) const noexcept {
    const std::int64_t tb = rows * cols, H = a.H, W = a.W, K = a.K;
    alignas(64) float buf[16 * 64];
    // channel vectors outside, tiles inside: consecutive tiles fill the same output lines
    for (std::int64_t kv = 0; kv < kw; kv += LW) {
      const std::int64_t kbase = k0 + kv;
      if (kbase >= K && !a.y_nhwc16) break;
      for (std::int64_t t = 0; t < tb; ++t) {
        const std::int64_t oh0 = 4 * (ty0 + t / cols), ow0 = 4 * (tx0 + t % cols);
        const std::int64_t nh = std::min<std::int64_t>(4, H - oh0), nw = std::min<std::int64_t>(4, W - ow0);
        const float* m = M + t * p.kg + kv;
        B tmp[4][6];
        for (int j = 0; j < 6; ++j) {
          B c0 = B::load_aligned(m + (0 * 6 + j) * tb * p.kg), c1 = B::load_aligned(m + (1 * 6 + j) * tb * p.kg),
            c2 = B::load_aligned(m + (2 * 6 + j) * tb * p.kg), c3 = B::load_aligned(m + (3 * 6 + j) * tb * p.kg),
            c4 = B::load_aligned(m + (4 * 6 + j) * tb * p.kg), c5 = B::load_aligned(m + (5 * 6 + j) * tb * p.kg);
          winograd_output_1d(c0, c1, c2, c3, c4, c5, tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j]);
        }
        const B bias = B::load_aligned(bias_padded + kbase);
        B px[16];
        for (int i = 0; i < 4; ++i) {
          B o[4];
          winograd_output_1d(tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], tmp[i][4], tmp[i][5], o[0], o[1], o[2],
                             o[3]);
          for (int j = 0; j < 4; ++j) {
            B v = o[j] + bias;
            if (a.relu) v = xsimd::select(v < B(0.0f), B(0.0f), v);  // keeps NaN, like torch.relu
            px[i * 4 + j] = v;
          }
        }
        if (a.y_nhwc16) {  // channel-minor output: each pixel's LW channels are one aligned store
          for (std::int64_t i = 0; i < nh; ++i)
            for (std::int64_t j = 0; j < nw; ++j)
              px[i * 4 + j].store_aligned(a.y + ((n * H + oh0 + i) * W + ow0 + j) * f.Kp + kbase);
          continue;
        }
        const std::int64_t nk = std::min<std::int64_t>(LW, K - kbase);
#if defined(__AVX512F__)
        if constexpr (winograd_avx512<Arch>) {
          if (nw == 4) {
            __m512 r[16];
            for (int i = 0; i < 16; ++i) r[i] = px[i];
            winograd_transpose16(r);  // r[kk] = the 4x4 tile of channel kbase + kk
            for (std::int64_t kk = 0; kk < nk; ++kk) {
              float* yk = a.y + ((n * K + kbase + kk) * H + oh0) * W + ow0;
              _mm_storeu_ps(yk, _mm512_maskz_extractf32x4_ps(0xF, r[kk], 0));
              if (nh > 1) _mm_storeu_ps(yk + W, _mm512_maskz_extractf32x4_ps(0xF, r[kk], 1));
              if (nh > 2) _mm_storeu_ps(yk + 2 * W, _mm512_maskz_extractf32x4_ps(0xF, r[kk], 2));
              if (nh > 3) _mm_storeu_ps(yk + 3 * W, _mm512_maskz_extractf32x4_ps(0xF, r[kk], 3));
            }
            continue;
          }
        }
#endif
        for (int i = 0; i < 16; ++i) px[i].store_aligned(buf + i * LW);
        for (std::int64_t kk = 0; kk < nk; ++kk) {
          float* yk = a.y + ((n * K + kbase + kk) * H + oh0) * W + ow0;
          for (std::int64_t i = 0; i < nh; ++i)
            for (std::int64_t j = 0; j < nw; ++j) yk[i * W + j] = buf[(i * 4 + j) * LW + kk];
        }
      }
    }
  }

  // Items are numbered with the channel group fastest and dealt to threads in contiguous
  // ranges (winograd_run_items), so a thread usually runs several groups of one tile block in a
  // row: V (which does not depend on the group) is then computed once. `v_block` remembers
  // whose V the workspace holds.
  void run_item(std::int64_t item, std::int64_t& v_block) const noexcept {
    const std::int64_t g = item % p.nkg, rest = item / p.nkg;
    const std::int64_t bx = rest % p.nbx, by = (rest / p.nbx) % p.nby, n = rest / (p.nbx * p.nby);
    const std::int64_t ty0 = by * p.rb, rows = std::min(p.rb, p.th - ty0);
    const std::int64_t tx0 = bx * p.cb, cols = std::min(p.cb, p.tw - tx0);
    const std::int64_t k0 = g * p.kg, kw = std::min(p.kg, f.Kp - k0);
    if (v_block != rest) input_transform(n, ty0, rows, tx0, cols);
    v_block = rest;
    gemm(rows * cols, k0, kw);
    output_transform(n, ty0, rows, tx0, cols, k0, kw);
  }
};

// Runs items 0 .. items-1 on `threads` threads, each thread a contiguous range in order, with
// its own worker from make_worker(thread id); then fixup(worker, i) for i < fixups (after
// every item is done). Static ranges: a worker reuses the group-independent transform of its
// previous item (run_item's block argument); results do not depend on the split.
template <class MakeWorker, class Fixup>
void winograd_run_items(std::int64_t items, int threads, MakeWorker make_worker, std::int64_t fixups,
                        Fixup fixup) noexcept {
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const auto w = make_worker(omp_get_thread_num());
      std::int64_t block = -1;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < items; ++i) w.run_item(i, block);
      // (implicit barrier: every item is done)
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < fixups; ++i) fixup(w, i);
    }
    return;
  }
#endif
  const auto w = make_worker(0);
  std::int64_t block = -1;
  for (std::int64_t i = 0; i < items; ++i) w.run_item(i, block);
  for (std::int64_t i = 0; i < fixups; ++i) fixup(w, i);
}

template <class Arch>
void winograd_conv3x3(const WinogradArgs& a, const WinogradFilterPack& f) noexcept {
  // Winograd F(4x4, 3x3) does about a quarter of the direct convolution's multiply-adds.
  int threads = threads_for(a.N * a.H, kMacWork * static_cast<double>(a.N * a.H * a.W * a.C * a.K) * 9.0 / 4.0);
  const WinogradPlan p = winograd_plan(a.N, a.C, a.K, a.H, a.W, threads);
  const std::int64_t Cp = winograd_round_up(a.C, kWinoPad);
  const std::int64_t items = a.N * p.items();
  threads = static_cast<int>(std::min<std::int64_t>(threads, items));
  const std::int64_t per = WinogradWorker<Arch>::floats_per_thread(p, Cp);
  auto ws = make_aligned_buffer<float>(static_cast<std::size_t>(per * threads + f.Kp));
  float* bias_padded = ws.get() + per * threads;
  for (std::int64_t k = 0; k < f.Kp; ++k) bias_padded[k] = (a.bias && k < a.K) ? a.bias[k] : 0.0f;
  auto make_worker = [&](int tid) {
    float* base = ws.get() + per * tid;
    const std::int64_t tb = p.rb * p.cb;
    WinogradWorker<Arch> w{a, f, p, bias_padded, Cp, 4 * p.cb + 2, tb, base,
                           base + winograd_round_up(6 * (4 * p.cb + 2) * Cp, 16), nullptr};
    w.M = w.V + kWinoPoints * tb * Cp;
    return w;
  };
  winograd_run_items(items, threads, make_worker, 0, [](const WinogradWorker<Arch>&, std::int64_t) {});
}

}  // namespace gradattr::kernels::fast::detail
