#pragma once
// Token layers as CAM layers (docs/methods.md, "Token layers (Vision Transformers)").
//
// A ViT block's output is [N, 1 + P, D]: the class token, then P patch tokens in raster order,
// D hidden units. When P is a perfect square s², the CAM methods see the layer as the image
// [N, D, s, s]: the class token dropped, the patch tokens folded into the s×s grid, hidden units
// as channels. That is pytorch-grad-cam's `reshape_transform` for ViTs, done here once for every
// method: fold_tokens runs after the model's forward_until, unfold_tokens before its
// forward_from (attr_detail::ClassifierRef), so the CAM maths never sees a token layer. The
// class token is carried as a constant (the last carried value): a gradient with respect to the
// folded activation is the gradient with respect to the patch tokens, the class token held
// fixed, which is what the hook plus reshape_transform gives in pytorch-grad-cam.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/models/classifier.hpp"

namespace gradattr::attr_detail {

// The grid side s of a token layer [N, 1 + s², D] (s >= 1), or 0 when the shape is not rank 3.
// ArgumentError naming the layer and its shape when it is rank 3 but 1 + s² does not fit.
inline std::int64_t token_grid_side(const Shape& s, const std::string& layer) {
  if (s.rank() != 3) return 0;
  const std::int64_t patches = s[1] - 1;
  auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<std::int64_t>(patches, 0)))));
  while (side * side > patches) --side;
  while ((side + 1) * (side + 1) <= patches) ++side;
  if (patches < 1 || side * side != patches)
    throw ArgumentError("layer '" + layer + "' has tokens " + s.str() + " that do not fold into a square grid: " +
                        "a token layer must be [N, 1 + s*s, D] (a class token, then s*s patch tokens); " + std::to_string(patches) +
                        " patch tokens is not a square");
  return side;
}

// cut at a token layer -> the same cut with A = the patch tokens as [N, D, s, s] and the class
// token [N, 1, D] appended to the carried values; other cuts unchanged.
template <class T>
models::Cut<T> fold_tokens(models::Cut<T> cut) {
  const Shape s = cut.activation.shape();
  const std::int64_t side = token_grid_side(s, cut.layer);
  if (side == 0) return cut;
  const ad::Var<T>& t = cut.activation;
  const std::int64_t N = s[0], D = s[2];
  const ad::Var<T> cls = ad::slice(t, {0}, {1}, {1}, {});
  const ad::Var<T> patches = ad::slice(t, {1}, {s[1]}, {1}, {});
  cut.activation = ad::reshape(ad::transpose(patches, {0, 2, 1}), Shape{N, D, side, side});
  cut.carried.push_back(cls);
  cut.tokens_folded = true;
  return cut;
}

// The inverse, recorded: [N, D, s, s] -> [N, 1 + s², D] with the carried class token in front,
// so forward_from's gradient reaches the folded activation.
template <class T>
models::Cut<T> unfold_tokens(models::Cut<T> cut) {
  if (!cut.tokens_folded) return cut;
  if (cut.carried.empty() || cut.activation.shape().rank() != 4)
    throw ArgumentError("the cut at '" + cut.layer + "' is marked as folded tokens but holds " + cut.activation.shape().str());
  const Shape s = cut.activation.shape();
  const ad::Var<T> cls = cut.carried.back();
  cut.carried.pop_back();
  const ad::Var<T> patches = ad::transpose(ad::reshape(cut.activation, Shape{s[0], s[1], s[2] * s[3]}), {0, 2, 1});
  cut.activation = ad::concat(std::vector<ad::Var<T>>{cls, patches}, 1);
  cut.tokens_folded = false;
  return cut;
}

}  // namespace gradattr::attr_detail
