#pragma once
// Direct 3x3 / stride 1 / pad 1 convolution for few channels (VGG's first layer: C_in = 3 in the
// forward pass, C_out = 3 for the input gradient), where Winograd's per-channel transforms and
// 16-channel padding cost more than they save. Vectorised along the image row (xsimd, templated
// on the architecture); register block: KB output channels x WV row vectors.
//   out[n][o][h][w] = bias[o] + sum_{i,r,s} wt(o, i, r, s) * in[n][i][h+r-1][w+s-1], then ReLU if asked.
// Every output is one fixed-order sum over (i, r, s), whatever the thread count.
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gradattr/core/aligned.hpp"
#include "gradattr/core/parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gradattr::kernels::fast::detail {

struct Conv3x3DirectArgs {
  float* out;          // [N, O, H, W]
  const float* in;     // [N, I, H, W]
  const float* wt;     // packed: [O blocks of KB][I][3][3][KB] (zero for o >= O)
  const float* bias;   // [O] or null
  std::int64_t N, I, O, H, W;
  bool relu;
};

inline constexpr int kDirectKB = 4;  // output channels per register block

// w [K, C, 3, 3]; backward_data: the kernel of dx = conv(dy, w flipped, channels swapped).
inline std::shared_ptr<float[]> conv3x3_direct_pack(const float* w, std::int64_t K, std::int64_t C, bool backward_data,
                                                    std::int64_t& O, std::int64_t& I) {
  O = backward_data ? C : K;
  I = backward_data ? K : C;
  const std::int64_t ob = (O + kDirectKB - 1) / kDirectKB;
  const std::size_t n = static_cast<std::size_t>(ob * I * 9 * kDirectKB);
  auto p = make_aligned_buffer<float>(n);
  std::fill(p.get(), p.get() + n, 0.0f);
  for (std::int64_t o = 0; o < O; ++o)
    for (std::int64_t i = 0; i < I; ++i)
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) {
          const float v = backward_data ? w[((i * C + o) * 3 + (2 - r)) * 3 + (2 - s)] : w[((o * C + i) * 3 + r) * 3 + s];
          p[static_cast<std::size_t>((((o / kDirectKB) * I + i) * 9 + r * 3 + s) * kDirectKB + o % kDirectKB)] = v;
        }
  return p;
}

template <class Arch, int WV>
inline void conv3x3_direct_block(const float* rows, std::int64_t ldr, std::int64_t ldi, std::int64_t I,
                                 const float* wb, float* o, std::int64_t ldo) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int L = static_cast<int>(B::size);
  B acc[kDirectKB][WV];
  for (int k = 0; k < kDirectKB; ++k)
    for (int v = 0; v < WV; ++v) acc[k][v] = B(0.0f);
  for (std::int64_t i = 0; i < I; ++i)
    for (int r = 0; r < 3; ++r) {
      const float* row = rows + i * ldi + r * ldr;
      for (int s = 0; s < 3; ++s) {
        B x[WV];
        for (int v = 0; v < WV; ++v) x[v] = B::load_unaligned(row + s + v * L);
        const float* wk = wb + ((i * 9) + r * 3 + s) * kDirectKB;
        for (int k = 0; k < kDirectKB; ++k) {
          const B wv(wk[k]);
          for (int v = 0; v < WV; ++v) acc[k][v] = xsimd::fma(wv, x[v], acc[k][v]);
        }
      }
    }
  for (int k = 0; k < kDirectKB; ++k)
    for (int v = 0; v < WV; ++v) acc[k][v].store_aligned(o + k * ldo + v * L);
}

template <class Arch>
void conv3x3_direct(const Conv3x3DirectArgs& a) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t L = static_cast<std::int64_t>(B::size);
  const std::int64_t N = a.N, I = a.I, O = a.O, H = a.H, W = a.W;
  const std::int64_t Wp = (W + L - 1) / L * L;   // output row, whole vectors
  const std::int64_t ldr = Wp + L;               // padded input row: 1 zero left, zeros right
  const std::int64_t ldi = 3 * ldr;              // one input channel's 3 rows
  const std::int64_t ob = (O + kDirectKB - 1) / kDirectKB;
  const std::int64_t per = I * ldi + kDirectKB * Wp;
  const int threads = threads_for(N * H, kMacWork * static_cast<double>(N * H * W * I * O) * 9.0);
  auto ws = make_aligned_buffer<float>(static_cast<std::size_t>(per * threads));
  auto body = [&](int tid, std::int64_t item) {
    const std::int64_t n = item / H, h = item % H;
    float* rows = ws.get() + per * tid;
    float* obuf = rows + I * ldi;
    for (std::int64_t i = 0; i < I; ++i)
      for (int r = 0; r < 3; ++r) {
        float* dst = rows + i * ldi + r * ldr;
        const std::int64_t hh = h + r - 1;
        std::fill(dst, dst + ldr, 0.0f);
        if (hh >= 0 && hh < H) std::memcpy(dst + 1, a.in + ((n * I + i) * H + hh) * W, static_cast<std::size_t>(W) * sizeof(float));
      }
    for (std::int64_t b = 0; b < ob; ++b) {
      const float* wb = a.wt + b * I * 9 * kDirectKB;
      std::int64_t w0 = 0;
      for (; w0 + 4 * L <= Wp; w0 += 4 * L) conv3x3_direct_block<Arch, 4>(rows + w0, ldr, ldi, I, wb, obuf + w0, Wp);
      switch ((Wp - w0) / L) {
        case 3: conv3x3_direct_block<Arch, 3>(rows + w0, ldr, ldi, I, wb, obuf + w0, Wp); break;
        case 2: conv3x3_direct_block<Arch, 2>(rows + w0, ldr, ldi, I, wb, obuf + w0, Wp); break;
        case 1: conv3x3_direct_block<Arch, 1>(rows + w0, ldr, ldi, I, wb, obuf + w0, Wp); break;
        default: break;
      }
      for (std::int64_t k = 0; k < kDirectKB && b * kDirectKB + k < O; ++k) {
        const std::int64_t o = b * kDirectKB + k;
        const float bias = a.bias ? a.bias[o] : 0.0f;
        float* dst = a.out + ((n * O + o) * H + h) * W;
        const float* src = obuf + k * Wp;
        for (std::int64_t w = 0; w < W; ++w) {
          const float v = src[w] + bias;
          dst[w] = (a.relu && v < 0.0f) ? 0.0f : v;  // NaN kept, like torch.relu
        }
      }
    }
  };
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const int tid = omp_get_thread_num();
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < N * H; ++i) body(tid, i);
    }
    return;
  }
#endif
  for (std::int64_t i = 0; i < N * H; ++i) body(0, i);
}

}  // namespace gradattr::kernels::fast::detail
