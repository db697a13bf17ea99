#pragma once
// Var<T>: a value flowing through a differentiable computation.
//
// Promises:
//  - A Var is a Tensor plus, when tracked, the tape and the index of the record that made it.
//  - An untracked Var is a constant: ops on constants only compute values and record nothing.
//    A Tensor converts implicitly to a constant Var, so model weights can be passed as they are.
//  - A tracked Var remembers the tape's generation; after Tape::clear() every op and grad()
//    rejects it with an ArgumentError instead of reading a record that no longer exists.
//  - Copies are cheap (the value is a shared buffer). Values are never written after creation:
//    ops save the tensors they need for backward by sharing, not copying, so do not modify a
//    tensor in place while a tape that has seen it is in use.
// Lifetime: a tracked Var points at its tape; the tape must outlive it (a Var of a destroyed tape
// must not be used).
// Thread safety: as Tensor; a tracked Var belongs to its tape's thread.
#include <cstdint>

#include "gradattr/core/tensor.hpp"

namespace gradattr::ad {

template <class T>
class Tape;

template <class T>
class Var {
 public:
  Var() = default;
  Var(Tensor<T> value) : value_(std::move(value)) {}  // NOLINT: implicit, a constant

  const Tensor<T>& value() const noexcept { return value_; }
  const Shape& shape() const noexcept { return value_.shape(); }
  bool empty() const noexcept { return value_.empty(); }

  bool tracked() const noexcept { return tape_ != nullptr; }
  Tape<T>* tape() const noexcept { return tape_; }
  std::int32_t index() const noexcept { return index_; }
  std::uint64_t generation() const noexcept { return generation_; }

 private:
  friend class Tape<T>;
  Var(Tensor<T> value, Tape<T>* tape, std::int32_t index, std::uint64_t generation)
      : value_(std::move(value)), tape_(tape), index_(index), generation_(generation) {}

  Tensor<T> value_;
  Tape<T>* tape_ = nullptr;
  std::int32_t index_ = -1;
  std::uint64_t generation_ = 0;
};

}  // namespace gradattr::ad
