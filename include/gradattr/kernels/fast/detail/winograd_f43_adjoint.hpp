#pragma once
// Backward-data of the Winograd F(4x4, 3x3) convolution as the adjoint (transpose) of the
// forward algorithm of winograd_f43.hpp, so that it runs on the forward's packed filters
// U = G g G^T: a model keeps one filter pack per layer (4x its weights) instead of two.
//
//   forward, tile t:  Y_t  = A^T [ sum_c U_kc .* (B^T d_t B) ] A     d_t: 6x6 input window
//   adjoint, tile t:  dd_t = B [ sum_k U_kc .* (A dY_t A^T) ] B^T    dY_t: 4x4 output gradient
//   dx = sum over tiles of dd_t placed on t's window (rows 4ty-1..4ty+4, columns 4tx-1..4tx+4)
//
// The output-gradient tiles do not overlap; the windows of neighbouring tiles overlap by two
// rows or columns, so a dx pixel is the sum of up to four window values. Their order is fixed,
// whatever the plan or the thread count (results are bitwise reproducible): windows of one tile
// row are combined left to right (overlap = left + right), then the rows of two consecutive
// tile rows as upper + lower. Work items span whole tile rows (plan with whole_rows), and an
// item combines the tile rows inside its block itself; the two rows it shares with the block
// above are written as their upper part by that block, and their lower part goes to a side
// buffer that is added (dx = upper + lower) once every item is done.
//
// GEMM: dV[xi][t][c] = sum_k dM[xi][t][k] U[xi][c][k]. U is packed k-minor for the forward, so
// for each transform point and block of 64 produced channels the item first transposes the
// slice into a k-major panel and then runs the forward's micro-kernel unchanged.
//
// Data layouts (per thread, float, 64-byte aligned; R = reduced channels = forward K, P =
// produced channels = forward C, Rp / Pp rounded up to 16, cg = channel group of the plan):
//   rows   [4][4 tw][Rp]        output-gradient rows of one tile row, channel-minor
//   dM     [36][tb][Rp]         A dY A^T of every tile of the block
//   panel  [Rp][64]             U[xi] for 64 produced channels, transposed
//   dV     [36][tb][cg]         GEMM output
//   strips [2][6][4 tw + 2][cg] the combined windows of the current and the previous tile row
// Side buffer (shared): [N][blocks][2 rows][W][Pp], the lower parts of the shared rows.
#include "gradattr/kernels/fast/detail/winograd_f43.hpp"

namespace gradattr::kernels::fast::detail {

// m = A y along one dimension (4 -> 6), A = (A^T)^T of winograd_output_1d. Only non-zero
// coefficients are used, so a NaN spreads exactly where the coefficient is non-zero.
template <class B>
inline void winograd_adjoint_in_1d(const B& y0, const B& y1, const B& y2, const B& y3, B& m0, B& m1, B& m2, B& m3,
                                   B& m4, B& m5) noexcept {
  const B e = y0 + y2, o = y1 + y3;
  const B e4 = xsimd::fma(B(4.0f), y2, y0), o2 = B(2.0f) * xsimd::fma(B(4.0f), y3, y1);
  m0 = y0;
  m1 = e + o;
  m2 = e - o;
  m3 = e4 + o2;
  m4 = e4 - o2;
  m5 = y3;
}

// d = B m along one dimension (6 -> 6), B = (B^T)^T of winograd_input_1d:
//   d0 = 4 m0                                  d3 = m1 - m2 + 2 m3 - 2 m4 - 5 m5
//   d1 = -4 m1 + 4 m2 - 2 m3 + 2 m4 + 4 m5     d4 = m0 + m1 + m2 + m3 + m4
//   d2 = -5 m0 - 4 m1 - 4 m2 - m3 - m4         d5 = m5
template <class B>
inline void winograd_adjoint_out_1d(const B& m0, const B& m1, const B& m2, const B& m3, const B& m4, const B& m5,
                                    B& d0, B& d1, B& d2, B& d3, B& d4, B& d5) noexcept {
  const B s12 = m1 + m2, d21 = m2 - m1, s34 = m3 + m4, d43 = m4 - m3;
  d0 = B(4.0f) * m0;
  d1 = xsimd::fma(B(2.0f), d43, B(4.0f) * (d21 + m5));
  d2 = -xsimd::fma(B(4.0f), s12, xsimd::fma(B(5.0f), m0, s34));
  d3 = -xsimd::fma(B(5.0f), m5, xsimd::fma(B(2.0f), d43, d21));
  d4 = m0 + s12 + s34;
  d5 = m5;
}

struct WinogradAdjointArgs {
  float* dx;          // [N, P, H, W], or NHWC16 when dx_nhwc16
  const float* dy;    // [N, R, H, W], or NHWC16 when dy_nhwc16
  std::int64_t N, R, P, H, W;  // R: forward's produced channels (reduced here), P: forward's C
  bool dy_nhwc16 = false;
  bool dx_nhwc16 = false;
};

template <class Arch>
struct WinogradAdjointWorker {
  using B = xsimd::batch<float, Arch>;
  static constexpr std::int64_t LW = static_cast<std::int64_t>(B::size);

  const WinogradAdjointArgs& a;
  const WinogradFilterPack& f;  // the forward pack: f.C == P, f.K == R
  const WinogradPlan& p;
  std::int64_t Rp, Pp;
  float* rows;
  float* dM;
  float* panel;
  float* dV;
  float* strips;
  float* lower;  // side buffer, or null when the plan has one row block

  static std::int64_t strip_floats(const WinogradPlan& p) noexcept { return 6 * (4 * p.tw + 2) * p.kg; }
  static std::int64_t floats_per_thread(const WinogradPlan& p, std::int64_t Rp) noexcept {
    const std::int64_t tb = p.rb * p.tw;
    return winograd_round_up(16 * p.tw * Rp, 16) + kWinoPoints * tb * Rp + Rp * kWinoKBlock + kWinoPoints * tb * p.kg +
           2 * strip_floats(p);
  }
  void bind(float* base) noexcept {
    const std::int64_t tb = p.rb * p.tw;
    rows = base;
    dM = rows + winograd_round_up(16 * p.tw * Rp, 16);
    panel = dM + kWinoPoints * tb * Rp;
    dV = panel + Rp * kWinoKBlock;
    strips = dV + kWinoPoints * tb * p.kg;
  }

  // dM = A dY A^T for every tile of tile rows ty0 .. ty0 + nrows - 1 (all tile columns).
  void dy_transform(std::int64_t n, std::int64_t ty0, std::int64_t nrows) const noexcept {
    const std::int64_t tw = p.tw, tb = nrows * tw, ws = 4 * tw;
    for (std::int64_t r = 0; r < nrows; ++r) {
      winograd_gather_rows<Arch>(rows, a.dy, a.dy_nhwc16, n, a.R, a.H, a.W, Rp, 4 * (ty0 + r), 4, 0, ws);
      for (std::int64_t j = 0; j < tw; ++j) {
        const std::int64_t t = r * tw + j;
        for (std::int64_t cv = 0; cv < Rp; cv += LW) {
          B tmp[6][4];
          for (int s = 0; s < 4; ++s) {
            const float* col = rows + (4 * j + s) * Rp + cv;
            winograd_adjoint_in_1d(B::load_aligned(col), B::load_aligned(col + ws * Rp),
                                   B::load_aligned(col + 2 * ws * Rp), B::load_aligned(col + 3 * ws * Rp), tmp[0][s],
                                   tmp[1][s], tmp[2][s], tmp[3][s], tmp[4][s], tmp[5][s]);
          }
          for (int i = 0; i < 6; ++i) {
            B o[6];
            winograd_adjoint_in_1d(tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], o[0], o[1], o[2], o[3], o[4], o[5]);
            for (int jj = 0; jj < 6; ++jj) o[jj].store_aligned(dM + ((i * 6 + jj) * tb + t) * Rp + cv);
          }
        }
      }
    }
  }

  // panel[k][cc] = U[xi][cb + cc][k] for k < R, cc < pw (zero for produced channels >= P).
  void transpose_panel(int xi, std::int64_t cb, std::int64_t pw) const noexcept {
    for (std::int64_t kb = 0; kb < a.R; kb += kWinoKBlock) {
      const std::int64_t bw = std::min(kWinoKBlock, f.Kp - kb);
      const float* ub = f.block(xi, kb / kWinoKBlock);  // [P][bw]
      for (std::int64_t cc0 = 0; cc0 < pw; cc0 += 16) {
        const std::int64_t nc = std::max<std::int64_t>(0, std::min<std::int64_t>(16, a.P - cb - cc0));
        for (std::int64_t kk0 = 0; kk0 < bw && kb + kk0 < a.R; kk0 += 16) {
#if defined(__AVX512F__)
          if constexpr (winograd_avx512<Arch>) {
            __m512 r[16];
            for (std::int64_t i = 0; i < 16; ++i)
              r[i] = i < nc ? _mm512_load_ps(ub + (cb + cc0 + i) * bw + kk0) : _mm512_setzero_ps();
            winograd_transpose16(r);
            for (std::int64_t kk = 0; kk < 16; ++kk) _mm512_store_ps(panel + (kb + kk0 + kk) * pw + cc0, r[kk]);
            continue;
          }
#endif
          for (std::int64_t kk = 0; kk < 16; ++kk)
            for (std::int64_t i = 0; i < 16; ++i)
              panel[(kb + kk0 + kk) * pw + cc0 + i] = i < nc ? ub[(cb + cc0 + i) * bw + kk0 + kk] : 0.0f;
        }
      }
    }
  }

  // dV[xi][t][c0 + cc] for cc < cw (cw: this item's share of the channel group).
  void gemm(std::int64_t tb, std::int64_t c0, std::int64_t cw) const noexcept {
    for (int xi = 0; xi < kWinoPoints; ++xi)
      for (std::int64_t cb = c0; cb < c0 + cw; cb += kWinoKBlock) {
        const std::int64_t pw = std::min(kWinoKBlock, c0 + cw - cb);
        transpose_panel(xi, cb, pw);
        panel_gemm<Arch>(dM + xi * tb * Rp, Rp, a.R, panel, pw, tb, dV + xi * tb * p.kg + (cb - c0), p.kg);
      }
  }

  // One combined strip row (strip columns 1..W are dx columns 0..W-1; channel vector cbase..)
  // to dx row h, or to the side buffer row `dst_lower` when non-null.
  void emit_row(const float* srow, std::int64_t n, std::int64_t h, std::int64_t cbase, float* dst_lower) const noexcept {
    const std::int64_t W = a.W;
    if (dst_lower || a.dx_nhwc16) {  // channel-minor destination: one aligned store per pixel
      float* dst = dst_lower ? dst_lower + cbase : a.dx + (n * a.H + h) * W * Pp + cbase;
      for (std::int64_t w = 0; w < W; ++w) B::load_aligned(srow + (1 + w) * p.kg).store_aligned(dst + w * Pp);
      return;
    }
    const std::int64_t nk = std::min<std::int64_t>(LW, a.P - cbase);
    if (nk <= 0) return;
    float* dx0 = a.dx + ((n * a.P + cbase) * a.H + h) * W;
#if defined(__AVX512F__)
    if constexpr (winograd_avx512<Arch>) {
      for (std::int64_t w0 = 0; w0 < W; w0 += 16) {
        const std::int64_t nw = std::min<std::int64_t>(16, W - w0);
        const __mmask16 m = static_cast<__mmask16>((1u << nw) - 1u);
        __m512 r[16];
        for (std::int64_t i = 0; i < 16; ++i) r[i] = i < nw ? _mm512_load_ps(srow + (1 + w0 + i) * p.kg) : _mm512_setzero_ps();
        winograd_transpose16(r);  // r[kk] = channel cbase + kk over columns w0 ..
        for (std::int64_t kk = 0; kk < nk; ++kk) _mm512_mask_storeu_ps(dx0 + kk * a.H * W + w0, m, r[kk]);
      }
      return;
    }
#endif
    for (std::int64_t w = 0; w < W; ++w)
      for (std::int64_t kk = 0; kk < nk; ++kk) dx0[kk * a.H * W + w] = srow[(1 + w) * p.kg + kk];
  }

  // Windows of tile rows ty0 .. ty0 + nrows - 1 (block `by`) for channels c0 .. c0 + cw - 1,
  // combined in the fixed order and written to dx (or, for the rows shared with the block
  // above, to the side buffer).
  void dx_transform(std::int64_t n, std::int64_t by, std::int64_t ty0, std::int64_t nrows, std::int64_t c0,
                    std::int64_t cw) const noexcept {
    const std::int64_t tw = p.tw, tb = nrows * tw, sw = 4 * tw + 2, kg = p.kg, H = a.H;
    for (std::int64_t r = 0; r < nrows; ++r) {
      const std::int64_t ty = ty0 + r;
      float* S = strips + (r % 2) * strip_floats(p);
      const float* prev = strips + ((r + 1) % 2) * strip_floats(p);
      for (std::int64_t cv = 0; cv < cw; cv += LW) {
        for (std::int64_t j = 0; j < tw; ++j) {
          const float* m = dV + (r * tw + j) * kg + cv;
          B tmp[6][6];
          for (int b = 0; b < 6; ++b)
            winograd_adjoint_out_1d(B::load_aligned(m + (0 * 6 + b) * tb * kg), B::load_aligned(m + (1 * 6 + b) * tb * kg),
                                    B::load_aligned(m + (2 * 6 + b) * tb * kg), B::load_aligned(m + (3 * 6 + b) * tb * kg),
                                    B::load_aligned(m + (4 * 6 + b) * tb * kg), B::load_aligned(m + (5 * 6 + b) * tb * kg),
                                    tmp[0][b], tmp[1][b], tmp[2][b], tmp[3][b], tmp[4][b], tmp[5][b]);
          for (int i = 0; i < 6; ++i) {
            B o[6];
            winograd_adjoint_out_1d(tmp[i][0], tmp[i][1], tmp[i][2], tmp[i][3], tmp[i][4], tmp[i][5], o[0], o[1], o[2],
                                    o[3], o[4], o[5]);
            float* dst = S + (i * sw + 4 * j) * kg + cv;
            for (int s = 0; s < 6; ++s) {
              if (j > 0 && s < 2) o[s] = B::load_aligned(dst + s * kg) + o[s];  // left + right
              o[s].store_aligned(dst + s * kg);
            }
          }
        }
        // strip rows 0, 1 are dx rows 4ty-1, 4ty: inside the block, upper (previous tile row's
        // strip rows 4, 5) + lower
        if (r > 0)
          for (int i = 0; i < 2; ++i)
            for (std::int64_t col = 1; col <= a.W; ++col) {
              float* lo = S + (i * sw + col) * kg + cv;
              (B::load_aligned(prev + ((4 + i) * sw + col) * kg + cv) + B::load_aligned(lo)).store_aligned(lo);
            }
        for (int i = 0; i < 6; ++i) {
          const std::int64_t h = 4 * ty - 1 + i;
          if (h < 0 || h >= H) continue;
          const float* srow = S + i * sw * kg + cv;
          float* side = nullptr;
          if (i < 2 && r == 0 && ty > 0) {  // lower part of a row shared with the block above
            side = lower + ((n * p.nby + by) * 2 + i) * a.W * Pp;
          } else if (i >= 4 && r + 1 < nrows) {
            continue;  // carried into the next tile row of this block
          }
          emit_row(srow, n, h, c0 + cv, side);
        }
      }
    }
  }

  // As the forward's run_item: dM does not depend on the channel group, so it is computed once
  // for consecutive items of one row block (winograd_run_items deals contiguous ranges).
  void run_item(std::int64_t item, std::int64_t& dm_block) const noexcept {
    const std::int64_t g = item % p.nkg, rest = item / p.nkg;
    const std::int64_t by = rest % p.nby, n = rest / p.nby;
    const std::int64_t ty0 = by * p.rb, nrows = std::min(p.rb, p.th - ty0);
    const std::int64_t c0 = g * p.kg, cw = std::min(p.kg, Pp - c0);
    if (dm_block != rest) dy_transform(n, ty0, nrows);
    dm_block = rest;
    gemm(nrows * p.tw, c0, cw);
    dx_transform(n, by, ty0, nrows, c0, cw);
  }

  // dx rows 4ty0-1 and 4ty0 of block `by` (> 0): upper (already in dx) + lower (side buffer).
  void add_lower(std::int64_t n, std::int64_t by) const noexcept {
    const std::int64_t W = a.W, H = a.H;
    for (int i = 0; i < 2; ++i) {
      const std::int64_t h = 4 * by * p.rb - 1 + i;
      const float* lo = lower + ((n * p.nby + by) * 2 + i) * W * Pp;
      if (a.dx_nhwc16) {
        float* d = a.dx + (n * H + h) * W * Pp;
        for (std::int64_t e = 0; e < W * Pp; e += LW) (B::load_aligned(d + e) + B::load_aligned(lo + e)).store_aligned(d + e);
        continue;
      }
      for (std::int64_t c = 0; c < a.P; ++c) {
        float* d = a.dx + ((n * a.P + c) * H + h) * W;
        for (std::int64_t w = 0; w < W; ++w) d[w] = d[w] + lo[w * Pp + c];
      }
    }
  }
};

// dx = conv3x3_backward_data(dy, w) through the forward pack f of w (f.C == P, f.K == R).
// Assigns every dx element (NHWC16: padding channels too). Requires H, W >= 1, R, P >= 1.
// `forced` (tests): use that plan instead of the cost model's; it must span whole tile rows
// (cb == tw, nbx == 1) with kg a multiple of 64 or the padded channel count.
template <class Arch>
void winograd_conv3x3_adjoint(const WinogradAdjointArgs& a, const WinogradFilterPack& f,
                              const WinogradPlan* forced = nullptr) noexcept {
  int threads = threads_for(a.N * a.H, kMacWork * static_cast<double>(a.N * a.H * a.W * a.R * a.P) * 9.0 / 4.0);
  const WinogradPlan p = forced ? *forced : winograd_plan(a.N, a.R, a.P, a.H, a.W, threads, /*whole_rows=*/true);
  const std::int64_t Rp = f.Kp, Pp = winograd_round_up(a.P, kWinoPad);
  const std::int64_t items = a.N * p.items();
  threads = static_cast<int>(std::min<std::int64_t>(threads, items));
  const std::int64_t per = WinogradAdjointWorker<Arch>::floats_per_thread(p, Rp);
  const std::int64_t side = p.nby > 1 ? a.N * p.nby * 2 * a.W * Pp : 0;
  auto ws = make_aligned_buffer<float>(static_cast<std::size_t>(per * threads + side));
  float* lower = side ? ws.get() + per * threads : nullptr;
  auto worker = [&](int tid) {
    WinogradAdjointWorker<Arch> w{a, f, p, Rp, Pp, nullptr, nullptr, nullptr, nullptr, nullptr, lower};
    w.bind(ws.get() + per * tid);
    return w;
  };
  const std::int64_t fixups = p.nby > 1 ? a.N * (p.nby - 1) : 0;
  winograd_run_items(items, threads, worker, fixups, [&](const WinogradAdjointWorker<Arch>& w, std::int64_t i) {
    w.add_lower(i / (p.nby - 1), 1 + i % (p.nby - 1));
  });
}

}  // namespace gradattr::kernels::fast::detail
