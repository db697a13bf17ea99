#pragma once
// Token layers as CAM layers (docs/methods.md, "Token layers (Vision Transformers)").
//
// A ViT block's output is [N, k + P, D]: k prefix tokens (the class token; DeiT adds a
// distillation token: core/token_grid.hpp), then P patch tokens in raster order, D hidden units. When
// P is a perfect square s², the CAM methods see the layer as the image [N, D, s, s]: the prefix
// tokens dropped, the patch tokens folded into the s×s grid, hidden units as channels. That is pytorch-grad-cam's `reshape_transform` for ViTs, done here once for every
// method: fold_tokens runs after the model's forward_until, unfold_tokens before its
// forward_from (attr_detail::ClassifierRef), so the CAM maths never sees a token layer. The
// prefix tokens are carried as a constant (the last carried value, [N, k, D]): a gradient with
// respect to the folded activation is the gradient with respect to the patch tokens, the prefix
// tokens held fixed, which is what the hook plus reshape_transform gives in pytorch-grad-cam.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "gradattr/core/token_grid.hpp"
#include "gradattr/autodiff/ops.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/models/classifier.hpp"

namespace gradattr::attr_detail {

// The grid of a token layer [N, k + s², D], or {0, 0} when the shape is not rank 3.
// ArgumentError naming the layer and its shape when it is rank 3 but its tokens do not fold.
inline TokenGrid token_layer_grid(const Shape& s, const std::string& layer) {
  if (s.rank() != 3) return {};
  const TokenGrid g = token_grid(s[1]);
  if (g.side == 0)
    throw ArgumentError("layer '" + layer + "' has tokens " + s.str() + " that do not fold into a square grid: a token layer must be " +
                        "[N, T, D] where " + token_grid_rule() + "; " + std::to_string(s[1]) +
                        " tokens is not 1 or 2 plus a square");
  return g;
}

// cut at a token layer -> the same cut with A = the patch tokens as [N, D, s, s] and the prefix
// tokens [N, k, D] appended to the carried values; other cuts unchanged.
template <class T>
models::Cut<T> fold_tokens(models::Cut<T> cut) {
  const Shape s = cut.activation.shape();
  const TokenGrid g = token_layer_grid(s, cut.layer);
  if (g.side == 0) return cut;
  const ad::Var<T>& t = cut.activation;
  const std::int64_t N = s[0], D = s[2];
  const ad::Var<T> prefix = ad::slice(t, {0}, {g.prefix}, {1}, {});
  const ad::Var<T> patches = ad::slice(t, {g.prefix}, {s[1]}, {1}, {});
  cut.activation = ad::reshape(ad::transpose(patches, {0, 2, 1}), Shape{N, D, g.side, g.side});
  cut.carried.push_back(prefix);
  cut.tokens_folded = true;
  return cut;
}

// The inverse, recorded: [N, D, s, s] -> [N, k + s², D] with the carried prefix tokens in front,
// so forward_from's gradient reaches the folded activation.
template <class T>
models::Cut<T> unfold_tokens(models::Cut<T> cut) {
  if (!cut.tokens_folded) return cut;
  if (cut.carried.empty() || cut.activation.shape().rank() != 4)
    throw ArgumentError("the cut at '" + cut.layer + "' is marked as folded tokens but holds " + cut.activation.shape().str());
  const Shape s = cut.activation.shape();
  const ad::Var<T> prefix = cut.carried.back();
  cut.carried.pop_back();
  const ad::Var<T> patches = ad::transpose(ad::reshape(cut.activation, Shape{s[0], s[1], s[2] * s[3]}), {0, 2, 1});
  cut.activation = ad::concat(std::vector<ad::Var<T>>{prefix, patches}, 1);
  cut.tokens_folded = false;
  return cut;
}

}  // namespace gradattr::attr_detail
