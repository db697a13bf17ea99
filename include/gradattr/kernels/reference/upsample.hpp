#pragma once
// Reference bilinear resampling with half-pixel centres, as
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False).
#include <cstdint>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

namespace detail {
struct LerpIndex {
  std::int64_t i0, i1;
  double t;  // weight of i1
};
inline LerpIndex bilinear_source(std::int64_t dst, std::int64_t in, std::int64_t out) noexcept {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  double src = (static_cast<double>(dst) + 0.5) * scale - 0.5;
  if (src < 0) src = 0;
  auto i0 = static_cast<std::int64_t>(src);
  if (i0 > in - 1) i0 = in - 1;
  const std::int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  return {i0, i1, src - static_cast<double>(i0)};
}
}  // namespace detail

// y [N, C, OH, OW] resampled from x [N, C, H, W].
template <class T>
void upsample_bilinear(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const auto r = detail::bilinear_source(oh, H, OH);
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const auto c = detail::bilinear_source(ow, W, OW);
        const T* p = x.data() + nc * H * W;
        const double top = (1 - c.t) * p[r.i0 * W + c.i0] + c.t * p[r.i0 * W + c.i1];
        const double bot = (1 - c.t) * p[r.i1 * W + c.i0] + c.t * p[r.i1 * W + c.i1];
        y[(nc * OH + oh) * OW + ow] = static_cast<T>((1 - r.t) * top + r.t * bot);
      }
    }
}

}  // namespace gradattr::kernels::reference
