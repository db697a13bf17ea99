#pragma once
// BackwardContext<T>: what one op's backward sees of the gradient sweep.
//
// An op numbers its inputs (conv2d: 0 = x, 1 = w, 2 = b) and, for each input i,
//  - asks needs(i): is input i on a path from a grad() target? Constants and values off the
//    path answer false, and the op must then skip that input's kernel entirely (this is what
//    keeps a gradient with respect to an activation from ever computing a weight gradient);
//  - allocates the input's gradient with buffer(shape), lets a kernel assign it, and hands it
//    over with accumulate(i, g).
// accumulate() implements "first write assigns, later ones add": the first gradient reaching a
// value is kept as is (no copy, no zero-fill), later ones are added out of place. Out of place
// because a gradient may be a view shared with another value's gradient or with the caller's
// seed (add passes dy to both inputs, reshape passes a view), and those must never change.
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "gradattr/core/tensor.hpp"

namespace gradattr::ad {

template <class T>
class BackwardContext {
 public:
  // inputs: the record's input indices (-1 = constant); on_path and grads are indexed by record.
  BackwardContext(std::span<const std::int32_t> inputs, const std::vector<char>& on_path,
                  std::vector<Tensor<T>>& grads, bool poison) noexcept
      : inputs_(inputs), on_path_(on_path), grads_(grads), poison_(poison) {}

  bool needs(std::size_t i) const noexcept {
    return i < inputs_.size() && inputs_[i] >= 0 && on_path_[static_cast<std::size_t>(inputs_[i])];
  }

  // A fresh gradient buffer for a kernel to assign. With Tape::poison_gradient_buffers it is
  // filled with NaN, so a kernel or op that accumulates instead of assigning shows up as NaN.
  Tensor<T> buffer(const Shape& shape) const {
    if (poison_) return Tensor<T>(shape, std::numeric_limits<T>::quiet_NaN());
    return Tensor<T>::uninitialized(shape);
  }

  void accumulate(std::size_t i, Tensor<T> g) {
    if (!needs(i)) return;
    Tensor<T>& slot = grads_[static_cast<std::size_t>(inputs_[i])];
    if (slot.empty()) {
      slot = std::move(g);
      return;
    }
    Tensor<T> sum = Tensor<T>::uninitialized(slot.shape());
    for (std::int64_t k = 0; k < sum.numel(); ++k) sum[k] = slot[k] + g[k];
    slot = std::move(sum);
  }

 private:
  std::span<const std::int32_t> inputs_;
  const std::vector<char>& on_path_;
  std::vector<Tensor<T>>& grads_;
  bool poison_;
};

}  // namespace gradattr::ad
