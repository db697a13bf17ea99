#pragma once
// Parameters of the spatial kernels and the one place their output shapes are computed and
// validated. Every caller (autodiff ops, nn layers, fast and reference kernels) uses these,
// so a bad shape is reported the same way everywhere, before any parallel region.
#include <cstdint>
#include <string>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"

namespace gradattr::kernels {

// Convolution as torch.nn.functional.conv2d / ONNX Conv, NCHW, weight [Co, Ci / groups, KH, KW].
// pad_h / pad_w pad the top / left; pad_bottom / pad_right the bottom / right, -1 meaning "as
// pad_h / pad_w" (ONNX pads = [pad_h, pad_w, pad_b(), pad_r()]). `Conv2dParams{sh, sw, ph, pw}`
// is the symmetric, undilated, ungrouped convolution it always was.
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int pad_bottom = -1, pad_right = -1;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  // exact: never the Winograd algorithm (whose transforms round differently from a plain sum of
  // products; docs/benchmarks.md, "Accuracy"): 3x3 convolutions run as im2col + GEMM like every
  // other shape. Set on a whole model by set_exact_convolutions (the CLI's --precise).
  bool exact = false;
  // A 3x3 / stride 1 / pad 1 convolution whose output has fewer 4x4 Winograd tiles per image
  // than this (ceil(OH/4) ceil(OW/4)) runs as im2col + GEMM: its Winograd filters are 4x the weights,
  // and with a handful of tiles reading them costs more than the arithmetic saves (ResNet-50's
  // layer4 at 7x7: 4 tiles, 38 MB of filters per convolution; docs/benchmarks.md). 0: Winograd
  // at any size. Graph models set it (graph::kWinogradMinTiles); the VGG path keeps 0.
  int winograd_min_tiles = 0;
  int pad_b() const noexcept { return pad_bottom < 0 ? pad_h : pad_bottom; }
  int pad_r() const noexcept { return pad_right < 0 ? pad_w : pad_right; }
  // Field by field: {1, 1, 1, 1} differs from {1, 1, 1, 1, 1, 1} although both pad 1 everywhere;
  // compare the effective values (pad_b(), pad_r()) to ask "same convolution?".
  bool operator==(const Conv2dParams&) const = default;
};

// An activation a kernel applies to each output value as it stores it: the inference path's
// fusion of Conv + Relu / Clip (graph/graph_model.hpp). Exactly the separate op's function, so
// a fused result equals the unfused one bit for bit: relu(v) = v < 0 ? 0 : v, clip(v) =
// v < lo ? lo : (v > hi ? hi : v) (NaN passes through both).
struct Activation {
  enum Kind : unsigned char { None, Relu, Clip };
  Kind kind = None;
  float lo = 0, hi = 0;
  static Activation relu() noexcept { return {Relu, 0, 0}; }
  static Activation clip(float lo, float hi) noexcept { return {Clip, lo, hi}; }
  explicit operator bool() const noexcept { return kind != None; }
  template <class V>
  V operator()(V v) const noexcept {
    if (kind == Relu) return v < V(0) ? V(0) : v;
    if (kind == Clip) return v < V(lo) ? V(lo) : (v > V(hi) ? V(hi) : v);
    return v;
  }
};

// Max and average pooling as torch.nn.functional.max_pool2d / avg_pool2d and ONNX MaxPool /
// AveragePool (dilation 1). pad_h / pad_w pad the top / left, pad_bottom / pad_right the bottom
// / right (-1: as pad_h / pad_w); each pad must be smaller than the window (ONNX's rule).
// Max pooling treats padding as -infinity. ceil_mode rounds the output size up, with torch's
// rule that the last window must start inside the input or the top/left padding (see
// pool2d_output_shape); such a window may run past the bottom/right padding.
struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  int pad_bottom = -1, pad_right = -1;
  bool ceil_mode = false;
  int pad_b() const noexcept { return pad_bottom < 0 ? pad_h : pad_bottom; }
  int pad_r() const noexcept { return pad_right < 0 ? pad_w : pad_right; }
  bool operator==(const Pool2dParams&) const = default;
};

namespace detail {
// Windows of (dilated) extent `extent` in `in` padded by pad_lo + pad_hi: floor or, with
// ceil_mode, ceil((in + pads - extent) / stride) + 1, dropping a last window that would start
// in the bottom/right padding (torch's pooling_output_shape; ONNX Runtime does the same).
inline std::int64_t window_count(std::int64_t in, std::int64_t extent, std::int64_t stride, std::int64_t pad_lo,
                                 std::int64_t pad_hi, bool ceil_mode = false) {
  const std::int64_t span = in + pad_lo + pad_hi - extent;
  if (span < 0) return 0;
  std::int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad_lo) --out;
  return out;
}
inline std::int64_t window_count(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad) {
  return window_count(in, k, stride, pad, pad);
}
inline void require(bool ok, const std::string& op, const std::string& msg) {
  if (!ok) throw ShapeError(op + ": " + msg);
}
inline std::string str(std::int64_t v) { return std::to_string(v); }
}  // namespace detail

// x [N, Ci, H, W], w [Co, Ci / groups, KH, KW] -> y [N, Co, OH, OW] with
// OH = floor((H + pad_h + pad_b - dilation_h (KH - 1) - 1) / stride_h) + 1, and so for OW.
inline Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  using detail::str;
  const std::string op = "conv2d";
  detail::require(x.rank() == 4, op, "input must be [N, C, H, W], got " + x.str());
  detail::require(w.rank() == 4, op, "weight must be [C_out, C_in / groups, KH, KW], got " + w.str());
  detail::require(p.groups > 0, op, "groups must be positive, got " + str(p.groups) + " (input " + x.str() +
                                        ", weight " + w.str() + ")");
  detail::require(x[1] % p.groups == 0 && w[0] % p.groups == 0, op,
                  "groups " + str(p.groups) + " must divide the input channels of " + x.str() +
                      " and the output channels of weight " + w.str());
  detail::require(x[1] == w[1] * p.groups, op,
                  "input " + x.str() + " has " + str(x[1]) + " channels but weight " + w.str() + " expects " +
                      str(w[1] * p.groups) + (p.groups > 1 ? " (" + str(w[1]) + " per group x " + str(p.groups) +
                                                                  " groups)" : std::string()));
  detail::require(p.stride_h > 0 && p.stride_w > 0, op, "stride must be positive");
  detail::require(p.dilation_h > 0 && p.dilation_w > 0, op,
                  "dilation must be positive, got " + str(p.dilation_h) + "x" + str(p.dilation_w) + " (input " +
                      x.str() + ", weight " + w.str() + ")");
  detail::require(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_bottom >= -1 && p.pad_right >= -1, op,
                  "padding must be non-negative (pad_bottom / pad_right -1: as pad_h / pad_w), got " + str(p.pad_h) +
                      "," + str(p.pad_w) + "," + str(p.pad_bottom) + "," + str(p.pad_right) + " (input " + x.str() +
                      ", weight " + w.str() + ")");
  detail::require(x[0] > 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, op, "input " + x.str() + " has a zero-sized dimension");
  detail::require(w[0] > 0 && w[2] > 0 && w[3] > 0, op, "weight " + w.str() + " has a zero-sized dimension");
  const std::int64_t eh = std::int64_t{p.dilation_h} * (w[2] - 1) + 1, ew = std::int64_t{p.dilation_w} * (w[3] - 1) + 1;
  detail::require(x[2] + p.pad_h + p.pad_b() >= eh && x[3] + p.pad_w + p.pad_r() >= ew, op,
                  "input " + x.str() + " (padded by " + str(p.pad_h) + "," + str(p.pad_b()) + " x " + str(p.pad_w) +
                      "," + str(p.pad_r()) + ") is smaller than the kernel " + w.str() +
                      (eh != w[2] || ew != w[3] ? " (dilated to " + str(eh) + "x" + str(ew) + ")" : std::string()));
  return Shape{x[0], w[0], detail::window_count(x[2], eh, p.stride_h, p.pad_h, p.pad_b()),
               detail::window_count(x[3], ew, p.stride_w, p.pad_w, p.pad_r())};
}

// x [N, C, H, W] -> y [N, C, OH, OW]; `op` names the caller in messages (max_pool2d, avg_pool2d).
inline Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const std::string& op = "max_pool2d") {
  using detail::str;
  detail::require(x.rank() == 4, op, "input must be [N, C, H, W], got " + x.str());
  detail::require(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0, op,
                  "kernel and stride must be positive");
  detail::require(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_bottom >= -1 && p.pad_right >= -1 && p.pad_h < p.kernel_h &&
                      p.pad_b() < p.kernel_h && p.pad_w < p.kernel_w && p.pad_r() < p.kernel_w,
                  op,
                  "padding " + str(p.pad_h) + "," + str(p.pad_b()) + " x " + str(p.pad_w) + "," + str(p.pad_r()) +
                      " must be non-negative and smaller than the " + str(p.kernel_h) + "x" + str(p.kernel_w) +
                      " window (input " + x.str() + ")");
  detail::require(x[0] > 0 && x[1] > 0 && x[2] > 0 && x[3] > 0, op, "input " + x.str() + " has a zero-sized dimension");
  detail::require(x[2] + p.pad_h + p.pad_b() >= p.kernel_h && x[3] + p.pad_w + p.pad_r() >= p.kernel_w, op,
                  "input " + x.str() + " is smaller than the " + str(p.kernel_h) + "x" + str(p.kernel_w) + " window");
  // With pads < kernel and the ceil rule, every window holds at least one input element.
  return Shape{x[0], x[1], detail::window_count(x[2], p.kernel_h, p.stride_h, p.pad_h, p.pad_b(), p.ceil_mode),
               detail::window_count(x[3], p.kernel_w, p.stride_w, p.pad_w, p.pad_r(), p.ceil_mode)};
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
