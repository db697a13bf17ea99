#pragma once
// Tape<T>: the record of one differentiable computation.
//
// Promises:
//  - Records live in an arena (a std::vector) in creation order and are addressed by index.
//    An op can only consume values that already exist, so creation order is a topological
//    order: grad() is one reverse sweep, with no recursion and no sort.
//  - Each record holds one op from a closed set (the std::variant Op<T> below) with exactly what
//    that op's backward needs, the indices of its inputs (-1 for a constant) and its output
//    shape. An op type without `backward(dy, ctx)` does not compile.
//  - Only ops with at least one tracked input are recorded (see ops.hpp): the same model code
//    runs a plain forward on constants and leaves the tape empty.
//  - clear() drops every record and moves to a new generation; a Var made before clear() is
//    then rejected with an ArgumentError by every op and by grad().
//  - grad() does not consume the tape: it may run several times (e.g. with different seeds).
// Thread safety: a tape is single-threaded (one computation, one thread). Distinct tapes may be
// used by distinct threads at once; nothing is global.
// Lifetime: not copyable or movable, since Vars point at it; it must outlive its Vars.
#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/autodiff/ops/activation.hpp"
#include "gradattr/autodiff/ops/broadcast.hpp"
#include "gradattr/autodiff/ops/conv.hpp"
#include "gradattr/autodiff/ops/dense.hpp"
#include "gradattr/autodiff/ops/elementwise.hpp"
#include "gradattr/autodiff/ops/layer_norm.hpp"
#include "gradattr/autodiff/ops/layout.hpp"
#include "gradattr/autodiff/ops/matmul.hpp"
#include "gradattr/autodiff/ops/pointwise.hpp"
#include "gradattr/autodiff/ops/pool.hpp"
#include "gradattr/autodiff/ops/reduce.hpp"
#include "gradattr/autodiff/ops/reduce_axes.hpp"
#include "gradattr/autodiff/ops/shape.hpp"
#include "gradattr/autodiff/ops/softmax.hpp"
#include "gradattr/autodiff/ops/softmax_axis.hpp"
#include "gradattr/autodiff/profile.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"

namespace gradattr::ad {

namespace op {
// A tape variable: where gradients stop.
template <class T>
struct Leaf {
  static constexpr const char* name = "variable";
  void backward(const Tensor<T>&, BackwardContext<T>&) const noexcept {}
};

// What grad_once() leaves of a record after running its backward: the op's saved tensors are
// gone, so a later grad() through it is an error.
template <class T>
struct Released {
  static constexpr const char* name = "released";
  const char* op_name = "";  // the op that was here
  void backward(const Tensor<T>&, BackwardContext<T>&) const {
    throw ArgumentError(std::string("grad: the tape's '") + op_name +
                        "' record was released by an earlier grad_once(); record the computation again, or use "
                        "grad() to keep the tape");
  }
};
}  // namespace op

// The closed set of recorded ops. Adding an op = writing its struct and listing it here.
template <class T>
using Op = std::variant<op::Leaf<T>,                                                          //
                        op::Add<T>, op::Sub<T>, op::Mul<T>, op::AddColumn<T>, op::Scale<T>,    //
                        op::AddScalar<T>, op::Exp<T>, op::Log<T>,                              //
                        op::Sum<T>, op::Mean<T>, op::SumDim1<T>,                               //
                        op::Reshape<T>, op::SelectPosition<T>, op::Gather<T>, op::ConcatBatch<T>,
                        op::SliceBatch<T>,                                                     //
                        op::Conv2d<T>, op::Linear<T>, op::MaxPool2d<T>, op::AdaptiveAvgPool2d<T>,
                        op::AvgPool2d<T>,                                                      //
                        op::Relu<T>, op::Softmax<T>, op::LogSoftmax<T>,                       //
                        // graph ops (ONNX models): broadcast.hpp, pointwise.hpp, reduce_axes.hpp,
                        // layout.hpp, matmul.hpp, softmax_axis.hpp, layer_norm.hpp
                        op::BroadcastAdd<T>, op::BroadcastSub<T>, op::BroadcastMul<T>, op::Div<T>,
                        op::ChannelAffine<T>, op::Clip<T>, op::Sigmoid<T>, op::HardSigmoid<T>,
                        op::HardSwish<T>, op::Tanh<T>, op::Erf<T>, op::Sqrt<T>, op::PowScalar<T>,
                        op::Gelu<T>, op::Silu<T>, op::ReduceSum<T>, op::ReduceMean<T>, op::Concat<T>,
                        op::Transpose<T>, op::Pad<T>, op::Slice<T>, op::MatMul<T>,
                        op::SoftmaxAxis<T>, op::LogSoftmaxAxis<T>, op::GatherAxis<T>, op::Expand<T>,
                        op::LayerNorm<T>,                                                      //
                        op::Released<T>>;

// What every recorded op must provide.
template <class O, class T>
concept RecordedOp = requires(const O& o, const Tensor<T>& dy, BackwardContext<T>& ctx) {
  { O::name } -> std::convertible_to<const char*>;
  o.backward(dy, ctx);
};

namespace detail {
// Generations are drawn from one process-wide counter, so they are unique across tapes too:
// besides a cleared tape, this also catches (in practice) a Var of a destroyed tape whose
// address a new tape happens to reuse.
inline std::uint64_t next_generation() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

template <class T, class... Os>
consteval bool all_recorded_ops(std::variant<Os...>*) {
  return (RecordedOp<Os, T> && ...);
}
}  // namespace detail

template <class T>
struct Record {
  Op<T> op;
  std::vector<std::int32_t> inputs;  // record index per op input, -1 for a constant
  Shape shape;                       // of the output

  const char* name() const {
    return std::visit([](const auto& o) { return std::decay_t<decltype(o)>::name; }, op);
  }
};

template <class T>
class Tape {
  static_assert(detail::all_recorded_ops<T>(static_cast<Op<T>*>(nullptr)),
                "every op in gradattr::ad::Op needs `name` and `backward(dy, BackwardContext&) const`");

 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // A tracked leaf holding `value` (shared, not copied). Gradients can be asked for it.
  Var<T> variable(Tensor<T> value) {
    if (value.empty()) throw ArgumentError("Tape::variable: the tensor is empty");
    return push(op::Leaf<T>{}, std::move(value), {});
  }

  void clear() noexcept {
    records_.clear();
    labels_.clear();
    generation_ = detail::next_generation();
  }

  std::size_t size() const noexcept { return records_.size(); }
  std::uint64_t generation() const noexcept { return generation_; }
  const Record<T>& record(std::size_t i) const noexcept { return records_[i]; }

  // The label record i was made under (record_label(), profile.hpp), or nullptr.
  const std::string* label(std::size_t i) const noexcept {
    auto it = std::lower_bound(labels_.begin(), labels_.end(), static_cast<std::int32_t>(i),
                               [](const auto& l, std::int32_t k) { return l.first < k; });
    return it != labels_.end() && it->first == static_cast<std::int32_t>(i) ? &it->second : nullptr;
  }

  // Drops record i's op (and the tensors it saved for its backward), keeping its inputs and
  // shape; a later backward through it throws. Used by grad_once().
  void release(std::size_t i) {
    Record<T>& r = records_.at(i);
    if (std::holds_alternative<op::Leaf<T>>(r.op) || std::holds_alternative<op::Released<T>>(r.op)) return;
    r.op = op::Released<T>{r.name()};  // (a leaf saves nothing and stays usable)
  }

  // Debugging aid (dlib-style): gradient buffers handed to kernels start as NaN instead of
  // uninitialised memory, so an op that accumulates into a buffer instead of assigning it
  // produces NaN in grad()'s results.
  void poison_gradient_buffers(bool on) noexcept { poison_ = on; }
  bool poisons_gradient_buffers() const noexcept { return poison_; }

  // Throws ArgumentError unless v is a live variable of this tape. `what` names the caller.
  void check(const Var<T>& v, const std::string& what) const {
    if (v.tape() != this)
      throw ArgumentError(what + (v.tracked() ? " is recorded on another tape" : " is a constant, not a tape variable"));
    if (v.generation() != generation_ || v.index() < 0 || static_cast<std::size_t>(v.index()) >= records_.size())
      throw ArgumentError(what + " is from before Tape::clear() (generation " + std::to_string(v.generation()) +
                          ", the tape is at generation " + std::to_string(generation_) + ")");
  }

  // Appends a record; used by the functions in ops.hpp after they have computed `value`.
  template <class O>
  Var<T> push(O&& o, Tensor<T> value, std::vector<std::int32_t> inputs) {
    if (records_.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw ArgumentError("Tape: too many records");
    const auto index = static_cast<std::int32_t>(records_.size());
    records_.push_back(Record<T>{Op<T>(std::forward<O>(o)), std::move(inputs), value.shape()});
    if (const std::string* l = record_label()) labels_.emplace_back(index, *l);
    return Var<T>(std::move(value), this, index, generation_);
  }

 private:
  std::vector<Record<T>> records_;
  std::vector<std::pair<std::int32_t, std::string>> labels_;  // (record, label), by record: profiling only
  std::uint64_t generation_ = detail::next_generation();
  bool poison_ = false;
};

}  // namespace gradattr::ad
