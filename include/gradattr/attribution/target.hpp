#pragma once
// Target: which class each image is explained for.
//
//   Target{}, Target::top()          the top class of each image (argmax of its logits at x; the
//                                    default)
//   Target{7}, Target(7), 7          class 7 for every image of the batch (`cam(x, 7)`)
//   Target::per_image({5, 8})        one class per image (as many entries as images)
// One class for all and one class per image are spelled differently on purpose: there is no
// list constructor, so a braced list never silently means "per image" (Target{{5, 8}} does not
// compile).
//
// Path and noise methods resolve the target once, from the logits of the clean input x, and keep
// it at every path point, masked input and noisy copy.
// Errors (from resolve): ArgumentError naming the class and the valid range [0, C) for a class
// out of range; ArgumentError when a per-image list does not have one entry per image.
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr {

class Target {
 public:
  Target() = default;                                       // top class
  Target(std::int64_t cls) : kind_(Kind::One), classes_{cls} {}  // NOLINT: implicit, `cam(x, 7)`

  static Target top() { return {}; }
  static Target all(std::int64_t cls) { return Target(cls); }
  static Target per_image(std::vector<std::int64_t> classes) {
    Target t;
    t.kind_ = Kind::PerImage;
    t.classes_ = std::move(classes);
    return t;
  }

  bool is_top() const noexcept { return kind_ == Kind::Top; }

  // One class per row of the logits z [N, C].
  template <class T>
  std::vector<std::int64_t> resolve(const Tensor<T>& z, const std::string& who) const {
    if (z.rank() != 2) throw ShapeError(who + ": logits must be [N, C], got " + z.shape().str());
    const auto N = z.dim(0), C = z.dim(1);
    std::vector<std::int64_t> out(static_cast<std::size_t>(N));
    switch (kind_) {
      case Kind::Top:
        for (std::int64_t n = 0; n < N; ++n) {
          std::int64_t best = 0;
          for (std::int64_t j = 1; j < C; ++j)
            if (z(n, j) > z(n, best)) best = j;  // first maximum on ties, as torch.argmax
          out[static_cast<std::size_t>(n)] = best;
        }
        return out;
      case Kind::One:
        check(classes_[0], C, who);
        std::fill(out.begin(), out.end(), classes_[0]);
        return out;
      case Kind::PerImage:
        if (static_cast<std::int64_t>(classes_.size()) != N)
          throw ArgumentError(who + ": " + std::to_string(classes_.size()) + " target classes given for " +
                              std::to_string(N) + " images");
        for (auto c : classes_) check(c, C, who);
        return classes_;
    }
    return out;
  }

 private:
  enum class Kind { Top, One, PerImage };
  static void check(std::int64_t c, std::int64_t C, const std::string& who) {
    if (c < 0 || c >= C)
      throw ArgumentError(who + ": target class " + std::to_string(c) + " is outside the model's classes [0, " +
                          std::to_string(C) + ")");
  }
  Kind kind_ = Kind::Top;
  std::vector<std::int64_t> classes_;
};

}  // namespace gradattr
