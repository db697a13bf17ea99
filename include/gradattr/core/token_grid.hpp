#pragma once
// How a token sequence folds into an image grid (docs/methods.md, "Token layers (Vision
// Transformers)"): T tokens = k prefix tokens, then s*s patch tokens in raster order, with
// k = 1 (ViT: the class token) or k = 2 (DeiT: the class token, then the distillation token).
// The one place that decides it, for the CAM folding (attribution/detail/tokens.hpp), the
// attention maps (attribution/attention_maths.hpp) and a graph model's default CAM layer.
#include <cstdint>
#include <string>

namespace gradattr {

struct TokenGrid {
  std::int64_t prefix = 0;  // tokens before the patches (0: T does not fold)
  std::int64_t side = 0;    // s: the grid is s x s
};

inline constexpr std::int64_t kMaxPrefixTokens = 2;

// s is the largest side with s*s <= T - 1; the rest of the tokens are the prefix, accepted when
// there are 1..kMaxPrefixTokens of them. {0, 0} when T does not fold.
inline TokenGrid token_grid(std::int64_t tokens) {
  if (tokens < 2) return {};
  std::int64_t side = 0;
  while ((side + 1) * (side + 1) <= tokens - 1) ++side;
  const std::int64_t prefix = tokens - side * side;
  if (prefix < 1 || prefix > kMaxPrefixTokens) return {};
  return {prefix, side};
}

// What a foldable token count looks like, for error messages.
inline std::string token_grid_rule() {
  return "the tokens must be a class token (ViT) or a class and a distillation token (DeiT), then s*s patch tokens";
}

}  // namespace gradattr
