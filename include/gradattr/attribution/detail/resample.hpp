#pragma once
// Bilinear resampling with aligned corners, as torch.nn.UpsamplingBilinear2d (that is,
// interpolate(mode="bilinear", align_corners=True)): output pixel o samples the input at
// o·(in − 1)/(out − 1), so the corner pixels of input and output coincide. Used only for
// pytorch-grad-cam-compatible Score-CAM masks; everything else uses half-pixel centres
// (kernels::upsample_bilinear).
#include <cstdint>

#include "gradattr/core/tensor.hpp"

namespace gradattr::cam::detail {

struct AlignedSource {
  std::int64_t i0, i1;
  double t;  // weight of i1
};
inline AlignedSource aligned_source(std::int64_t dst, std::int64_t in, std::int64_t out) noexcept {
  const double scale = out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
  const double src = static_cast<double>(dst) * scale;
  auto i0 = static_cast<std::int64_t>(src);
  if (i0 > in - 1) i0 = in - 1;
  const std::int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  return {i0, i1, src - static_cast<double>(i0)};
}

// y [N, C, OH, OW] resampled from x [N, C, H, W]; shapes checked by the caller.
template <class T>
void upsample_bilinear_align_corners(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t nc = 0; nc < NC; ++nc) {
    const T* p = x.data() + nc * H * W;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const auto r = aligned_source(oh, H, OH);
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const auto c = aligned_source(ow, W, OW);
        const double top = (1 - c.t) * p[r.i0 * W + c.i0] + c.t * p[r.i0 * W + c.i1];
        const double bot = (1 - c.t) * p[r.i1 * W + c.i0] + c.t * p[r.i1 * W + c.i1];
        y[(nc * OH + oh) * OW + ow] = static_cast<T>((1 - r.t) * top + r.t * bot);
      }
    }
  }
}

}  // namespace gradattr::cam::detail
