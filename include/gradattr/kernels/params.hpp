#pragma once
// Parameters of the spatial kernels and the one place their output shapes are computed and
// validated. Every caller (autodiff ops, nn layers, fast and reference kernels) uses these,
// so a bad shape is reported the same way everywhere, before any parallel region.
#include <cstdint>
#include <string>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"

namespace gradattr::kernels {

// Convolution as in torch.nn.functional.conv2d with groups = 1, dilation = 1.
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool operator==(const Conv2dParams&) const = default;
};

// Max pooling as in torch.nn.functional.max_pool2d (ceil_mode = false, dilation = 1);
// padding behaves as -infinity.
struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool operator==(const Pool2dParams&) const = default;
};

namespace detail {
inline std::int64_t window_count(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad) {
  const std::int64_t span = in + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}
inline void require(bool ok, const std::string& op, const std::string& msg) {
  if (!ok) throw ShapeError(op + ": " + msg);
}
}  // namespace detail

// x [N, C_in, H, W], w [C_out, C_in, KH, KW] -> y [N, C_out, OH, OW]
inline Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  const std::string op = "conv2d";
  detail::require(x.rank() == 4, op, "input must be [N, C, H, W], got " + x.str());
  detail::require(w.rank() == 4, op, "weight must be [C_out, C_in, KH, KW], got " + w.str());
  detail::require(x[1] == w[1], op, "input " + x.str() + " has " + std::to_string(x[1]) +
                                        " channels but weight " + w.str() + " expects " + std::to_string(w[1]));
  detail::require(p.stride_h > 0 && p.stride_w > 0, op, "stride must be positive");
  detail::require(p.pad_h >= 0 && p.pad_w >= 0, op, "padding must be non-negative");
  detail::require(x[0] > 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, op, "input " + x.str() + " has a zero-sized dimension");
  detail::require(w[0] > 0 && w[2] > 0 && w[3] > 0, op, "weight " + w.str() + " has a zero-sized dimension");
  detail::require(x[2] + 2 * p.pad_h >= w[2] && x[3] + 2 * p.pad_w >= w[3], op,
                  "input " + x.str() + " (padded by " + std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) +
                      ") is smaller than the kernel " + w.str());
  return Shape{x[0], w[0], detail::window_count(x[2], w[2], p.stride_h, p.pad_h),
               detail::window_count(x[3], w[3], p.stride_w, p.pad_w)};
}

// x [N, C, H, W] -> y [N, C, OH, OW]
inline Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p) {
  const std::string op = "max_pool2d";
  detail::require(x.rank() == 4, op, "input must be [N, C, H, W], got " + x.str());
  detail::require(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0, op,
                  "kernel and stride must be positive");
  detail::require(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,
                  "padding must be non-negative and at most half the kernel");
  detail::require(x[0] > 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, op, "input " + x.str() + " has a zero-sized dimension");
  detail::require(x[2] + 2 * p.pad_h >= p.kernel_h && x[3] + 2 * p.pad_w >= p.kernel_w, op,
                  "input " + x.str() + " is smaller than the " + std::to_string(p.kernel_h) + "x" +
                      std::to_string(p.kernel_w) + " window");
  return Shape{x[0], x[1], detail::window_count(x[2], p.kernel_h, p.stride_h, p.pad_h),
               detail::window_count(x[3], p.kernel_w, p.stride_w, p.pad_w)};
}

// x [N, In], w [Out, In] (torch layout), b [Out] or empty -> y [N, Out]
inline Shape linear_output_shape(const Shape& x, const Shape& w) {
  const std::string op = "linear";
  detail::require(x.rank() == 2, op, "input must be [N, features], got " + x.str());
  detail::require(w.rank() == 2, op, "weight must be [out, in], got " + w.str());
  detail::require(x[1] == w[1], op, "input " + x.str() + " has " + std::to_string(x[1]) +
                                        " features but weight " + w.str() + " expects " + std::to_string(w[1]));
  detail::require(x[0] > 0 && w[0] > 0 && w[1] > 0, op, "zero-sized dimension in " + x.str() + " or " + w.str());
  return Shape{x[0], w[0]};
}

// x [N, C, H, W] -> [N, C, OH, OW]
inline Shape adaptive_pool2d_output_shape(const Shape& x, std::int64_t oh, std::int64_t ow) {
  const std::string op = "adaptive_avg_pool2d";
  detail::require(x.rank() == 4, op, "input must be [N, C, H, W], got " + x.str());
  detail::require(oh > 0 && ow > 0, op, "output size must be positive");
  detail::require(x[0] > 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, op, "input " + x.str() + " has a zero-sized dimension");
  return Shape{x[0], x[1], oh, ow};
}

}  // namespace gradattr::kernels
