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
// value is kept as is (no copy, no zero-fill), later ones are added. A gradient handed over may
// be a view shared with another value's gradient or with the caller's seed (add passes dy to
// both inputs, reshape passes a view), and those must never change: a later gradient is added
// in place only into a buffer the sweep made itself (`owned`: a sum, or an accumulator()),
// which nothing else references until its value's own backward reads it.
//
// accumulator(i) is that owned buffer, for an op whose gradient covers part of its input (slice,
// gather): it adds into the region it touches instead of zero-filling, and summing, a whole
// input-sized buffer per call (ViT-B/16's q/k/v slices of one [197, 1, 2304] tensor: 3 buffers
// zero-filled and 2 whole-tensor sums per block before).
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::ad {

template <class T>
class BackwardContext {
 public:
  // inputs: the record's input indices (-1 = constant); on_path and grads are indexed by record.
  // owned: the sweep's flags, by record, of gradient buffers it made itself (sized as grads).
  BackwardContext(std::span<const std::int32_t> inputs, const std::vector<char>& on_path,
                  std::vector<Tensor<T>>& grads, std::vector<char>& owned, bool poison) noexcept
      : inputs_(inputs), on_path_(on_path), grads_(grads), owned_(owned), poison_(poison) {}

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
    const auto r = static_cast<std::size_t>(inputs_[i]);
    Tensor<T>& slot = grads_[r];
    if (slot.empty()) {
      slot = std::move(g);
      owned_[r] = 0;
      return;
    }
    if (!owned_[r]) {
      slot = add(slot, g);
      owned_[r] = 1;
      return;
    }
    add_into(slot, g);
  }

  // Input i's gradient as a buffer this op may add into (zero where nothing reached it yet).
  // Only for an input on the path (needs(i)); shape: the input's.
  Tensor<T>& accumulator(std::size_t i, const Shape& shape) {
    const auto r = static_cast<std::size_t>(inputs_[i]);
    Tensor<T>& slot = grads_[r];
    if (slot.empty()) {
      slot = Tensor<T>(shape);
    } else if (!owned_[r]) {
      slot = slot.clone();
    }
    owned_[r] = 1;
    return slot;
  }

 private:
  // Elementwise, so any split over threads gives the same sums.
  static constexpr std::int64_t kParallelAdd = std::int64_t{1} << 16;
  static Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> sum = Tensor<T>::uninitialized(a.shape());
    const T* x = a.data();
    const T* y = b.data();
    T* s = sum.data();
    const std::int64_t n = sum.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelAdd && !in_parallel_region())
    for (std::int64_t k = 0; k < n; ++k) s[k] = x[k] + y[k];
    return sum;
  }
  static void add_into(Tensor<T>& a, const Tensor<T>& b) {
    T* x = a.data();
    const T* y = b.data();
    const std::int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelAdd && !in_parallel_region())
    for (std::int64_t k = 0; k < n; ++k) x[k] = x[k] + y[k];
  }

  std::span<const std::int32_t> inputs_;
  const std::vector<char>& on_path_;
  std::vector<Tensor<T>>& grads_;
  std::vector<char>& owned_;
  bool poison_;
};

}  // namespace gradattr::ad
