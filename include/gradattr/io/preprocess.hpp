#pragma once
// Image preprocessing for classifiers, matching torchvision:
//   ImageNet (the default): Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize(mean, std),
//   giving a float tensor [1, 3, 224, 224].
//
// Resizing is the antialiased bilinear filter of PIL's Image.resize(BILINEAR) and PyTorch's
// _upsample_bilinear2d_aa (interpolate(mode="bilinear", antialias=True, align_corners=False)):
// separable, horizontal pass first, a triangle filter whose support is scaled by the
// downscale factor (support = max(in/out, 1)), output pixel i centred at (i + 0.5) * in/out in
// input coordinates, taps from trunc(center - support + 0.5) to trunc(center + support + 0.5)
// clamped to the image, weights tri((j - center + 0.5) / max(in/out, 1)) normalised to sum 1.
// When upscaling this is ordinary half-pixel bilinear with edge clamping.
//
// The arithmetic can follow either implementation (ResizeArithmetic):
//   float32        PyTorch's float path on values in [0, 1] (ToTensor first, then Resize on the
//                  float tensor): no intermediate rounding. The default; matches torchvision's
//                  tensor pipeline to ~5e-7 (tests/data/preprocess/expected_imagenet.npy).
//   pil            PIL on an 8-bit image, what torchvision's Resize does to a PIL image (the
//                  classic ImageNet evaluation pipeline): coefficients in 22-bit fixed point,
//                  each pass rounded and clamped to 8 bits (expected_imagenet_pil.npy).
//   float_rounded  the float path on 0..255 values, rounded to 8 bits at the end (torchvision's
//                  Resize on a uint8 tensor before its uint8 kernels).
// The three differ by at most about one 8-bit step (≈ 0.017 after normalisation).
//
// Centre crop offsets use torchvision's rounding, int(round((size - crop) / 2.0)), with
// Python's round-half-to-even. The shorter-side size is torchvision's: the longer side becomes
// int(size * long / short).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/io/image.hpp"

namespace gradattr::io {

enum class ResizeArithmetic { pil, float32, float_rounded };

struct PreprocessOptions {
  int resize = 256;  // the shorter side is resized to this; 0 keeps the size
  int crop = 224;    // centre square crop of this side; 0 keeps the whole image
  // When both are > 0: resize to exactly height x width (antialiased bilinear), no crop;
  // `resize` and `crop` are then ignored.
  int height = 0, width = 0;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  ResizeArithmetic arithmetic = ResizeArithmetic::float32;
};

namespace detail {

// Taps and weights of the antialiased triangle filter for one axis (see the top of the file).
struct AaAxis {
  int ksize = 0;
  std::vector<int> first, count;  // per output pixel
  std::vector<double> weights;    // out x ksize, normalised
};

inline AaAxis aa_axis(int in, int out) {
  AaAxis a;
  const double scale = static_cast<double>(in) / out;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // bilinear support 1
  a.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.resize(static_cast<std::size_t>(out));
  a.count.resize(static_cast<std::size_t>(out));
  a.weights.assign(static_cast<std::size_t>(out) * static_cast<std::size_t>(a.ksize), 0.0);
  for (int i = 0; i < out; ++i) {
    const double center = (i + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as in PIL and PyTorch
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in) xmax = in;
    const int n = xmax - xmin;
    double* w = &a.weights[static_cast<std::size_t>(i) * static_cast<std::size_t>(a.ksize)];
    double total = 0;
    for (int x = 0; x < n; ++x) {
      double t = std::abs((x + xmin - center + 0.5) / filterscale);
      w[x] = t < 1.0 ? 1.0 - t : 0.0;
      total += w[x];
    }
    if (total != 0.0)
      for (int x = 0; x < n; ++x) w[x] /= total;
    a.first[static_cast<std::size_t>(i)] = xmin;
    a.count[static_cast<std::size_t>(i)] = n;
  }
  return a;
}

// One PIL pass over interleaved 8-bit RGB: along x (horizontal) or y.
inline std::vector<std::uint8_t> pil_pass(const std::vector<std::uint8_t>& src, int w, int h, int out, bool horizontal) {
  constexpr int kBits = 22;  // PIL's PRECISION_BITS = 32 - 8 - 2
  const AaAxis a = aa_axis(horizontal ? w : h, out);
  std::vector<std::int32_t> k(a.weights.size());
  for (std::size_t i = 0; i < k.size(); ++i) {
    const double v = a.weights[i] * (1 << kBits);
    k[i] = static_cast<std::int32_t>(v < 0 ? v - 0.5 : v + 0.5);
  }
  const int ow = horizontal ? out : w, oh = horizontal ? h : out;
  std::vector<std::uint8_t> dst(static_cast<std::size_t>(ow) * static_cast<std::size_t>(oh) * 3);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      const int i = horizontal ? x : y;
      const std::int32_t* kk = &k[static_cast<std::size_t>(i) * static_cast<std::size_t>(a.ksize)];
      const int first = a.first[static_cast<std::size_t>(i)], n = a.count[static_cast<std::size_t>(i)];
      for (int c = 0; c < 3; ++c) {
        std::int32_t ss = 1 << (kBits - 1);
        for (int t = 0; t < n; ++t) {
          const int sx = horizontal ? first + t : x, sy = horizontal ? y : first + t;
          ss += static_cast<std::int32_t>(src[(static_cast<std::size_t>(sy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(sx)) * 3 + static_cast<std::size_t>(c)]) * kk[t];
        }
        const std::int32_t v = ss >> kBits;  // arithmetic shift, then clamp: PIL's clip8
        dst[(static_cast<std::size_t>(y) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(x)) * 3 + static_cast<std::size_t>(c)] =
            static_cast<std::uint8_t>(std::clamp(v, 0, 255));
      }
    }
  return dst;
}

// One float pass over planes [P, h, w] (double accumulation).
inline std::vector<float> float_pass(const std::vector<float>& src, int planes, int w, int h, int out, bool horizontal) {
  const AaAxis a = aa_axis(horizontal ? w : h, out);
  const int ow = horizontal ? out : w, oh = horizontal ? h : out;
  std::vector<float> dst(static_cast<std::size_t>(planes) * static_cast<std::size_t>(ow) * static_cast<std::size_t>(oh));
  for (int p = 0; p < planes; ++p) {
    const float* s = &src[static_cast<std::size_t>(p) * static_cast<std::size_t>(w) * static_cast<std::size_t>(h)];
    float* d = &dst[static_cast<std::size_t>(p) * static_cast<std::size_t>(ow) * static_cast<std::size_t>(oh)];
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        const int i = horizontal ? x : y;
        const double* kk = &a.weights[static_cast<std::size_t>(i) * static_cast<std::size_t>(a.ksize)];
        const int first = a.first[static_cast<std::size_t>(i)], n = a.count[static_cast<std::size_t>(i)];
        double acc = 0;
        for (int t = 0; t < n; ++t) {
          const int sx = horizontal ? first + t : x, sy = horizontal ? y : first + t;
          acc += s[static_cast<std::size_t>(sy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(sx)] * kk[t];
        }
        d[static_cast<std::size_t>(y) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(x)] = static_cast<float>(acc);
      }
  }
  return dst;
}

inline void check_image(const Image& img, const char* what) {
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3)
    throw ArgumentError(std::string(what) + ": invalid Image " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                        " with " + std::to_string(img.rgb.size()) + " bytes");
}

}  // namespace detail

// torchvision's Resize(size) output for an image of height h and width w: (new_h, new_w).
inline std::pair<int, int> resized_shorter_side(int h, int w, int size) {
  if (h <= 0 || w <= 0 || size <= 0)
    throw ArgumentError("resized_shorter_side: bad sizes " + std::to_string(h) + "x" + std::to_string(w) + " -> " + std::to_string(size));
  const int shorter = std::min(h, w), longer = std::max(h, w);
  const int new_long = static_cast<int>(static_cast<double>(size) * longer / shorter);
  return w <= h ? std::pair{new_long, size} : std::pair{size, new_long};
}

// torchvision's centre-crop offset along one axis: int(round((size - crop) / 2.0)), half to even.
inline int centre_crop_offset(int size, int crop) {
  if (crop > size || crop <= 0)
    throw ArgumentError("centre_crop_offset: crop " + std::to_string(crop) + " does not fit in " + std::to_string(size));
  const int d = size - crop, half = d / 2;
  return (d % 2 == 0 || half % 2 == 0) ? half : half + 1;
}

// Antialiased bilinear resize of an 8-bit image with PIL's arithmetic (or float_rounded).
inline Image resize_image(const Image& img, int height, int width, ResizeArithmetic arithmetic = ResizeArithmetic::pil) {
  detail::check_image(img, "resize_image");
  if (height <= 0 || width <= 0) throw ArgumentError("resize_image: bad size " + std::to_string(height) + "x" + std::to_string(width));
  Image out{width, height, {}};
  if (arithmetic == ResizeArithmetic::pil) {
    std::vector<std::uint8_t> cur = img.rgb;
    if (width != img.width) cur = detail::pil_pass(cur, img.width, img.height, width, true);
    if (height != img.height) cur = detail::pil_pass(cur, width, img.height, height, false);
    out.rgb = std::move(cur);
    return out;
  }
  // float paths: planes of 0..255 values
  const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
  std::vector<float> planes(3 * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < 3; ++c) planes[c * n + i] = img.rgb[i * 3 + c];
  if (width != img.width) planes = detail::float_pass(planes, 3, img.width, img.height, width, true);
  if (height != img.height) planes = detail::float_pass(planes, 3, width, img.height, height, false);
  const std::size_t m = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  out.rgb.resize(3 * m);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      out.rgb[i * 3 + c] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(planes[c * m + i]), 0.f, 255.f));
  return out;
}

// Antialiased bilinear resize of float planes x [N, C, H, W] -> [N, C, height, width], as
// torch.nn.functional.interpolate(x, (height, width), mode="bilinear", antialias=True).
inline Tensor<float> resize_bilinear_aa(const Tensor<float>& x, int height, int width) {
  if (x.rank() != 4 || x.empty() || height <= 0 || width <= 0)
    throw ShapeError("resize_bilinear_aa: need x [N, C, H, W] and a positive size, got " + x.shape().str());
  const int planes = static_cast<int>(x.dim(0) * x.dim(1)), h = static_cast<int>(x.dim(2)), w = static_cast<int>(x.dim(3));
  std::vector<float> cur(x.begin(), x.end());
  if (width != w) cur = detail::float_pass(cur, planes, w, h, width, true);
  if (height != h) cur = detail::float_pass(cur, planes, width, h, height, false);
  Tensor<float> y = Tensor<float>::uninitialized({x.dim(0), x.dim(1), height, width});
  std::copy(cur.begin(), cur.end(), y.begin());
  return y;
}

// The region [top, top + height) x [left, left + width) of an image.
inline Image crop_image(const Image& img, int top, int left, int height, int width) {
  detail::check_image(img, "crop_image");
  if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > img.height || left + width > img.width)
    throw ArgumentError("crop_image: region " + std::to_string(height) + "x" + std::to_string(width) + " at (" +
                        std::to_string(top) + ", " + std::to_string(left) + ") outside a " + std::to_string(img.height) + "x" +
                        std::to_string(img.width) + " image");
  Image out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3)};
  for (int y = 0; y < height; ++y)
    std::copy_n(&img.rgb[(static_cast<std::size_t>(top + y) * static_cast<std::size_t>(img.width) + static_cast<std::size_t>(left)) * 3],
                static_cast<std::size_t>(width) * 3, &out.rgb[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) * 3]);
  return out;
}

// Resize, crop, scale to [0, 1] and normalise: x [1, 3, H, W] (H = W = crop by default).
// ArgumentError if the crop does not fit in the resized image (torchvision would zero-pad).
inline Tensor<float> preprocess(const Image& img, const PreprocessOptions& opt = {}) {
  detail::check_image(img, "preprocess");
  for (int c = 0; c < 3; ++c)
    if (!(opt.std[static_cast<std::size_t>(c)] != 0.f)) throw ArgumentError("preprocess: std must be non-zero");
  int h = img.height, w = img.width;
  if (opt.height > 0 && opt.width > 0) {
    h = opt.height, w = opt.width;
  } else if (opt.resize > 0) {
    std::tie(h, w) = resized_shorter_side(img.height, img.width, opt.resize);
  }
  const bool crop = !(opt.height > 0 && opt.width > 0) && opt.crop > 0;
  int top = 0, left = 0, oh = h, ow = w;
  if (crop) {
    if (opt.crop > h || opt.crop > w)
      throw ArgumentError("preprocess: crop " + std::to_string(opt.crop) + " larger than the resized image " + std::to_string(h) +
                          "x" + std::to_string(w));
    top = centre_crop_offset(h, opt.crop);
    left = centre_crop_offset(w, opt.crop);
    oh = ow = opt.crop;
  }
  Tensor<float> x = Tensor<float>::uninitialized({1, 3, oh, ow});
  const std::size_t plane = static_cast<std::size_t>(oh) * static_cast<std::size_t>(ow);
  if (opt.arithmetic == ResizeArithmetic::float32) {
    // ToTensor, then resize in float, then crop and normalise.
    Tensor<float> t = Tensor<float>::uninitialized({1, 3, img.height, img.width});
    const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = 0; c < 3; ++c) t[static_cast<std::int64_t>(c * n + i)] = static_cast<float>(img.rgb[i * 3 + c]) / 255.f;
    if (h != img.height || w != img.width) t = resize_bilinear_aa(t, h, w);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < oh; ++y)
        for (int xx = 0; xx < ow; ++xx) {
          const float v = t(0, c, top + y, left + xx);
          x(0, c, y, xx) = (v - opt.mean[static_cast<std::size_t>(c)]) / opt.std[static_cast<std::size_t>(c)];
        }
    return x;
  }
  Image r = (h != img.height || w != img.width) ? resize_image(img, h, w, opt.arithmetic) : img;
  if (crop) r = crop_image(r, top, left, oh, ow);
  for (std::size_t i = 0; i < plane; ++i)
    for (std::size_t c = 0; c < 3; ++c) {
      const float v = static_cast<float>(r.rgb[i * 3 + c]) / 255.f;  // ToTensor's division, in float
      x[static_cast<std::int64_t>(c * plane + i)] = (v - opt.mean[c]) / opt.std[c];  // Normalize: sub then div
    }
  return x;
}

// The inverse of the normalisation, for overlays: x [1, 3, H, W] or [3, H, W] -> 8-bit RGB
// (x * std + mean, times 255, rounded and clamped).
inline Image denormalize(const Tensor<float>& x, const std::array<float, 3>& mean = PreprocessOptions{}.mean,
                         const std::array<float, 3>& std = PreprocessOptions{}.std) {
  const bool batched = x.rank() == 4;
  if (x.empty() || !((batched && x.dim(0) == 1 && x.dim(1) == 3) || (x.rank() == 3 && x.dim(0) == 3)))
    throw ShapeError("denormalize: need x [1, 3, H, W] or [3, H, W], got " + x.shape().str());
  const int h = static_cast<int>(x.dim(-2)), w = static_cast<int>(x.dim(-1));
  Image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3)};
  const std::size_t plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  for (std::size_t i = 0; i < plane; ++i)
    for (std::size_t c = 0; c < 3; ++c) {
      const float v = (x[static_cast<std::int64_t>(c * plane + i)] * std[c] + mean[c]) * 255.f;
      img.rgb[i * 3 + c] = static_cast<std::uint8_t>(std::isnan(v) ? 0.f : std::clamp(std::nearbyint(v), 0.f, 255.f));
    }
  return img;
}

}  // namespace gradattr::io
