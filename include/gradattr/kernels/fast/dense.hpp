#pragma once
// Fast float fully-connected layer (torch layout, w [Out, In]) on Eigen's GEMM/GEMV.
// Eigen does not thread a GEMV, and VGG's classifier at batch 1 is three GEMVs streaming
// 400 MB of weights, so the work is tiled here: forward and backward-weights over blocks of
// output features, backward-data over blocks of input features. Tiles depend only on the
// shapes and each output element comes from one tile, so results are bitwise identical for any
// thread count; Eigen runs serially inside the team.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include "gradattr/core/detail/eigen.hpp"
#include <algorithm>
#include <cstdint>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"

namespace gradattr::kernels::fast {

namespace dense_detail {
// Whether a layer of N rows, In inputs and Out outputs, split into `parts` tiles, is worth a team
// (core/parallel.hpp): its multiply-adds, and its weights streamed once (a GEMV at batch 1).
inline bool worth_a_team(std::int64_t parts, std::int64_t N, std::int64_t In, std::int64_t Out) noexcept {
  const double weights = static_cast<double>(In) * static_cast<double>(Out);
  return worth_parallel(parts, weights * (1.0 + kMacWork * static_cast<double>(N)));
}
}  // namespace dense_detail

// y [N, Out] = x [N, In] w^T + b (b [Out] or empty)
inline void linear_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w,
                           const Tensor<float>& b) noexcept {
  using namespace conv_detail;
  const std::int64_t N = x.dim(0), In = x.dim(1), Out = w.dim(0);
  const Split s = split(Out, 256);
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = b.empty() ? nullptr : b.data();
  float* yd = y.data();
#pragma omp parallel for schedule(dynamic, 1) if (dense_detail::worth_a_team(s.parts, N, In, Out))
  for (std::int64_t t = 0; t < s.parts; ++t) {
    const std::int64_t o0 = s.begin(t), o1 = s.end(t);
    ConstMatMap xm(xd, N, In, Stride(In));
    ConstMatMap wm(wd + o0 * In, o1 - o0, In, Stride(In));
    MatMap ym(yd + o0, N, o1 - o0, Stride(Out));
    ym.noalias() = xm * wm.transpose();
    if (bd)
      for (std::int64_t n = 0; n < N; ++n)
        ym.row(n).array() += Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>>(bd + o0, o1 - o0);
  }
}

// dx [N, In] = dy [N, Out] w (assigned)
inline void linear_backward_data(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& w) noexcept {
  using namespace conv_detail;
  const std::int64_t N = dx.dim(0), In = dx.dim(1), Out = w.dim(0);
  const Split s = split(In, 1024);
  const float* gd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
#pragma omp parallel for schedule(dynamic, 1) if (dense_detail::worth_a_team(s.parts, N, In, Out))
  for (std::int64_t t = 0; t < s.parts; ++t) {
    const std::int64_t i0 = s.begin(t), i1 = s.end(t);
    ConstMatMap gm(gd, N, Out, Stride(Out));
    ConstMatMap wm(wd + i0, Out, i1 - i0, Stride(In));
    MatMap dxm(dxd + i0, N, i1 - i0, Stride(In));
    dxm.noalias() = gm * wm;
  }
}

// dw [Out, In] = dy^T x, db [Out] = column sums of dy (db may be empty); both assigned.
inline void linear_backward_weights(Tensor<float>& dw, Tensor<float>& db, const Tensor<float>& dy,
                                    const Tensor<float>& x) noexcept {
  using namespace conv_detail;
  const std::int64_t N = x.dim(0), In = x.dim(1), Out = dw.dim(0);
  const Split s = split(Out, 256);
  const float* gd = dy.data();
  const float* xd = x.data();
  float* dwd = dw.data();
  float* dbd = db.empty() ? nullptr : db.data();
#pragma omp parallel for schedule(dynamic, 1) if (dense_detail::worth_a_team(s.parts, N, In, Out))
  for (std::int64_t t = 0; t < s.parts; ++t) {
    const std::int64_t o0 = s.begin(t), o1 = s.end(t);
    ConstMatMap gm(gd + o0, N, o1 - o0, Stride(Out));
    ConstMatMap xm(xd, N, In, Stride(In));
    MatMap dwm(dwd + o0 * In, o1 - o0, In, Stride(In));
    if (N <= 4) {  // rank-N update: a GEMM would pack x for every tile; stream rows instead
      for (std::int64_t o = 0; o < o1 - o0; ++o) {
        dwm.row(o) = gm(0, o) * xm.row(0);
        for (std::int64_t n = 1; n < N; ++n) dwm.row(o) += gm(n, o) * xm.row(n);
      }
    } else {
      dwm.noalias() = gm.transpose() * xm;
    }
    if (dbd)
      for (std::int64_t o = o0; o < o1; ++o) {
        float acc = 0;
        for (std::int64_t n = 0; n < N; ++n) acc += gd[n * Out + o];
        dbd[o] = acc;
      }
  }
}

}  // namespace gradattr::kernels::fast
