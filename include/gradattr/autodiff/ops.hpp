#pragma once
// The differentiable functions: what models and attribution methods call on Vars.
//
// Each function validates its inputs, computes its value with the op struct's forward (which
// calls the gradattr::kernels entry points for the heavy work) and then:
//  - if no input is tracked, returns a constant and records nothing (a plain forward pass,
//    e.g. a model run without a tape, or the weights of a frozen model);
//  - otherwise appends one record to the inputs' tape and returns a tracked Var.
// Errors: ShapeError naming the op and the shapes; ArgumentError for bad indices, for inputs
// from different tapes and for inputs from a cleared tape.
// Arguments after the first accept a Tensor where a Var is expected (a constant), so
// `ad::conv2d(x, layer.weight, layer.bias, p)` works with plain weight tensors.
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"

namespace gradattr::ad {

template <class T>
using Same = std::type_identity_t<T>;  // keeps an argument out of template deduction

namespace detail {
// Records `o` on the tape shared by the tracked inputs, or returns a constant if there is none.
template <class T, class O>
Var<T> record(O&& o, Tensor<T> value, const std::vector<const Var<T>*>& inputs) {
  using Op = std::decay_t<O>;
  Tape<T>* tape = nullptr;
  for (const Var<T>* in : inputs) {
    if (!in->tracked()) continue;
    if (tape && in->tape() != tape) throw ArgumentError(std::string(Op::name) + ": inputs are recorded on different tapes");
    tape = in->tape();
  }
  if (!tape) return Var<T>(std::move(value));
  std::vector<std::int32_t> indices;
  indices.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Var<T>& in = *inputs[i];
    if (in.tracked()) tape->check(in, std::string(Op::name) + ": input " + std::to_string(i));
    indices.push_back(in.tracked() ? in.index() : -1);
  }
  return tape->push(std::forward<O>(o), std::move(value), std::move(indices));
}

// A broadcasting binary op (ops/broadcast.hpp); keeps a factor alive only for the other's gradient.
template <class O, class T>
Var<T> broadcast(const Var<T>& a, const Var<T>& b) {
  O o;
  Tensor<T> y = o.forward(a.value(), b.value());
  if (!b.tracked()) o.a = Tensor<T>();  // a is needed only for b's gradient (mul, div)
  if (!a.tracked() && std::is_same_v<O, op::BroadcastMul<T>>) o.b = Tensor<T>();  // div needs b for both
  return record(std::move(o), std::move(y), {&a, &b});
}
}  // namespace detail

// ---- elementwise ----

// add, sub, mul (and div, in the graph ops below): NumPy/ONNX multidirectional broadcasting.
// Equal shapes record op::Add/Sub/Mul (dy passed through as it is); other shapes record
// op::Broadcast (ops/broadcast.hpp), whose backward sums dy over the broadcast dimensions.
template <class T>
Var<T> add(const Var<T>& a, const Same<Var<T>>& b) {
  if (a.shape() != b.shape()) return detail::broadcast<op::BroadcastAdd<T>>(a, b);
  op::Add<T> o;
  Tensor<T> y = o.forward(a.value(), b.value());
  return detail::record(std::move(o), std::move(y), {&a, &b});
}

template <class T>
Var<T> sub(const Var<T>& a, const Same<Var<T>>& b) {
  if (a.shape() != b.shape()) return detail::broadcast<op::BroadcastSub<T>>(a, b);
  op::Sub<T> o;
  Tensor<T> y = o.forward(a.value(), b.value());
  return detail::record(std::move(o), std::move(y), {&a, &b});
}

template <class T>
Var<T> mul(const Var<T>& a, const Same<Var<T>>& b) {
  if (a.shape() != b.shape()) return detail::broadcast<op::BroadcastMul<T>>(a, b);
  op::Mul<T> o;
  Tensor<T> y = o.forward(a.value(), b.value());
  // a is only needed for db and b only for da: keep neither alive for a constant's sake.
  if (!b.tracked()) o.a = Tensor<T>();
  if (!a.tracked()) o.b = Tensor<T>();
  return detail::record(std::move(o), std::move(y), {&a, &b});
}

// x [N, C] + col [N] or [N, 1], the column broadcast along each row.
template <class T>
Var<T> add_column(const Var<T>& x, const Same<Var<T>>& col) {
  op::AddColumn<T> o;
  Tensor<T> y = o.forward(x.value(), col.value());
  return detail::record(std::move(o), std::move(y), {&x, &col});
}

template <class T>
Var<T> scale(const Var<T>& x, Same<T> s) {
  op::Scale<T> o{s};
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> add_scalar(const Var<T>& x, Same<T> s) {
  op::AddScalar<T> o{s};
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> exp(const Var<T>& x) {
  op::Exp<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> log(const Var<T>& x) {
  op::Log<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> operator+(const Var<T>& a, const Var<T>& b) { return add(a, b); }
template <class T>
Var<T> operator-(const Var<T>& a, const Var<T>& b) { return sub(a, b); }
template <class T>
Var<T> operator*(const Var<T>& a, const Var<T>& b) { return mul(a, b); }
template <class T>
Var<T> operator-(const Var<T>& x) { return scale(x, T{-1}); }
template <class T>
Var<T> operator*(const Var<T>& x, Same<T> s) { return scale(x, s); }
template <class T>
Var<T> operator*(Same<T> s, const Var<T>& x) { return scale(x, s); }
template <class T>
Var<T> operator+(const Var<T>& x, Same<T> s) { return add_scalar(x, s); }
template <class T>
Var<T> operator-(const Var<T>& x, Same<T> s) { return add_scalar(x, -s); }

// ---- reductions ----

// Σ of every element, as a rank-0 scalar.
template <class T>
Var<T> sum(const Var<T>& x) {
  op::Sum<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// Mean of every element, as a rank-0 scalar.
template <class T>
Var<T> mean(const Var<T>& x) {
  op::Mean<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// [N, C] -> [N], [N, C, H] -> [N, H], [N, C, H, W] -> [N, H, W]: the sum over dimension 1.
template <class T>
Var<T> sum_dim1(const Var<T>& x) {
  op::SumDim1<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// ---- moving elements ----

template <class T>
Var<T> reshape(const Var<T>& x, const Shape& shape) {
  op::Reshape<T> o;
  Tensor<T> y = o.forward(x.value(), shape);
  return detail::record(std::move(o), std::move(y), {&x});
}

// [N, ...] -> [N, rest], as torch.flatten(x, 1).
template <class T>
Var<T> flatten(const Var<T>& x) {
  const Shape& s = x.shape();
  if (s.rank() < 1) throw ShapeError("flatten: input must have a batch dimension, got " + s.str());
  return reshape(x, Shape{s[0], s.stride(0)});
}

// [N, C, H, W] -> [N, C]: the activations at one spatial position (h, w).
template <class T>
Var<T> select_position(const Var<T>& x, std::int64_t h, std::int64_t w) {
  op::SelectPosition<T> o;
  o.h = h;
  o.w = w;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// [N, C] and one class per row -> [N]: y[n] = x[n, classes[n]].
template <class T>
Var<T> gather(const Var<T>& x, const std::vector<std::int64_t>& classes) {
  op::Gather<T> o;
  Tensor<T> y = o.forward(x.value(), classes);
  return detail::record(std::move(o), std::move(y), {&x});
}

// Concatenation along dimension 0 (e.g. many masked or interpolated images as one batch).
template <class T>
Var<T> concat_batch(const std::vector<Var<T>>& xs) {
  std::vector<const Tensor<T>*> values;
  std::vector<const Var<T>*> inputs;
  for (const Var<T>& x : xs) {
    values.push_back(&x.value());
    inputs.push_back(&x);
  }
  op::ConcatBatch<T> o;
  Tensor<T> y = o.forward(values);
  return detail::record(std::move(o), std::move(y), inputs);
}

// Rows [start, start + count) along dimension 0; the inverse of concat_batch.
template <class T>
Var<T> slice_batch(const Var<T>& x, std::int64_t start, std::int64_t count) {
  op::SliceBatch<T> o;
  o.start = start;
  o.count = count;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// ---- layers ----

// x [N, In], w [Out, In], b [Out] or empty -> [N, Out]
template <class T>
Var<T> linear(const Var<T>& x, const Same<Var<T>>& w, const Same<Var<T>>& b = Same<Var<T>>()) {
  op::Linear<T> o;
  Tensor<T> y = o.forward(x.value(), w.value(), b.value());
  // Keep a layer's input alive only for a weight gradient, and its weight only for an input
  // gradient: a Grad-CAM head with frozen weights then holds no activations at all.
  if (!w.tracked() && !b.tracked()) o.x = Tensor<T>();
  if (!x.tracked()) o.w = Tensor<T>();
  return detail::record(std::move(o), std::move(y), {&x, &w, &b});
}

// x [N, Ci, H, W], w [Co, Ci/groups, KH, KW], b [Co] or empty -> [N, Co, OH, OW]; stride,
// asymmetric padding, dilation and groups from p (torch conv2d / ONNX Conv). `prepared` (may be
// null) must stay alive until the last grad() over this record.
template <class T>
Var<T> conv2d(const Var<T>& x, const Same<Var<T>>& w, const Same<Var<T>>& b, const kernels::Conv2dParams& p = {},
              const kernels::Conv2dPrepared<T>* prepared = nullptr) {
  op::Conv2d<T> o;
  o.p = p;
  o.prepared = prepared;
  Tensor<T> y = o.forward(x.value(), w.value(), b.value());
  if (!w.tracked() && !b.tracked()) o.x = Tensor<T>();  // as linear
  if (!x.tracked()) o.w = Tensor<T>();
  return detail::record(std::move(o), std::move(y), {&x, &w, &b});
}

// act(conv2d(x, w, b)) in one kernel call (the activation applied as the output is stored), for
// inference: every input must be a constant (ArgumentError otherwise: a recorded computation
// runs conv2d and the activation op one by one). Bitwise the value of conv2d followed by relu /
// clip (kernels::Activation).
//
// residual (may be empty): act(conv2d(x, w, b) + residual), residual of the conv's output shape
// (ShapeError otherwise): bitwise conv2d, add, then the activation.
template <class T>
Var<T> conv2d_activation(const Var<T>& x, const Same<Var<T>>& w, const Same<Var<T>>& b, const kernels::Conv2dParams& p,
                         const kernels::Conv2dPrepared<T>* prepared, const kernels::Activation& act,
                         const Same<Var<T>>& residual = Same<Var<T>>()) {
  if (x.tracked() || w.tracked() || b.tracked() || residual.tracked())
    throw ArgumentError("conv2d_activation: inference only, every input must be a constant");
  const Shape ys = kernels::conv2d_output_shape(x.shape(), w.shape(), p);
  const bool add = !residual.value().empty();
  if (add && residual.shape() != ys)
    throw ShapeError("conv2d_activation: residual " + residual.shape().str() + " does not match the output " + ys.str());
  if (!b.value().empty() && b.shape() != Shape{w.shape()[0]})
    throw ShapeError("conv2d: bias " + b.shape().str() + " does not match weight " + w.shape().str() + " (expects [" +
                     std::to_string(w.shape()[0]) + "])");
  Tensor<T> y = Tensor<T>::uninitialized(ys);
  kernels::conv2d_forward(y, x.value(), w.value(), b.value(), p, prepared, act, add ? &residual.value() : nullptr);
  return Var<T>(std::move(y));
}

// act(a + b) for a and b of one shape, in one pass, for inference (constants only, as
// conv2d_activation). Bitwise add followed by relu / clip.
template <class T>
Var<T> add_activation(const Var<T>& a, const Same<Var<T>>& b, const kernels::Activation& act) {
  if (a.tracked() || b.tracked()) throw ArgumentError("add_activation: inference only, every input must be a constant");
  if (a.shape() != b.shape())
    throw ShapeError("add_activation: shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
  Tensor<T> y = Tensor<T>::uninitialized(a.shape());
  if constexpr (std::is_same_v<T, float>) {
    kernels::fast::add_activation(y, a.value(), b.value(), act);
  } else {
    const T* ad = a.value().data();
    const T* bd = b.value().data();
    T* yd = y.data();
    for (std::int64_t i = 0; i < y.numel(); ++i) yd[i] = act(ad[i] + bd[i]);
  }
  return Var<T>(std::move(y));
}

// Max pooling (torch max_pool2d / ONNX MaxPool): asymmetric pads, ceil_mode; padding is -inf.
template <class T>
Var<T> max_pool2d(const Var<T>& x, const kernels::Pool2dParams& p = {}) {
  op::MaxPool2d<T> o;
  o.p = p;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// Average pooling (torch avg_pool2d / ONNX AveragePool): asymmetric pads, ceil_mode; with
// count_include_pad the padding counts in the divisor, but never the part of a ceil_mode window
// past the bottom/right padding (kernels/reference/pool.hpp, avg_window).
template <class T>
Var<T> avg_pool2d(const Var<T>& x, const kernels::Pool2dParams& p, bool count_include_pad) {
  op::AvgPool2d<T> o;
  o.p = p;
  o.count_include_pad = count_include_pad;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> adaptive_avg_pool2d(const Var<T>& x, std::int64_t out_h, std::int64_t out_w) {
  op::AdaptiveAvgPool2d<T> o;
  o.out_h = out_h;
  o.out_w = out_w;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

template <class T>
Var<T> relu(const Var<T>& x) {
  op::Relu<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// Row-wise over logits [N, C].
template <class T>
Var<T> softmax(const Var<T>& x) {
  op::Softmax<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// Row-wise over logits [N, C], by log-sum-exp (never log(softmax)).
template <class T>
Var<T> log_softmax(const Var<T>& x) {
  op::LogSoftmax<T> o;
  Tensor<T> y = o.forward(x.value());
  return detail::record(std::move(o), std::move(y), {&x});
}

// ---- graph ops ----
// The ops an ONNX graph executor needs beyond the layers above (CNNs now, ViTs next). Shapes
// and arguments are checked in kernels/graph_params.hpp: ShapeError / ArgumentError naming the
// op and the shapes. Ranks are at most 4 (Shape::kMaxRank).

// a / b with broadcasting (see add).
template <class T>
Var<T> div(const Var<T>& a, const Same<Var<T>>& b) {
  return detail::broadcast<op::Div<T>>(a, b);
}

// y = x * scale[c] + shift[c], x [N, C, ...] (rank >= 2), scale and shift [C]: BatchNormalization
// at inference when it cannot be folded into a convolution.
template <class T>
Var<T> channel_affine(const Var<T>& x, const Same<Var<T>>& scale, const Same<Var<T>>& shift) {
  op::ChannelAffine<T> o;
  Tensor<T> y = o.forward(x.value(), scale.value(), shift.value());
  if (!scale.tracked()) o.x = Tensor<T>();
  if (!x.tracked()) o.scale = Tensor<T>();
  return detail::record(std::move(o), std::move(y), {&x, &scale, &shift});
}

namespace detail {
template <class O, class T>
Var<T> unary(O o, const Var<T>& x) {
  Tensor<T> y = o.forward(x.value());
  return record(std::move(o), std::move(y), {&x});
}
}  // namespace detail

// ONNX Clip: min(max(x, lo), hi); lo and hi may be ±infinity; ArgumentError if lo > hi or NaN.
// Gradient 1 strictly inside (lo, hi), 0 at the bounds and outside (torch's hardtanh / relu6).
template <class T>
Var<T> clip(const Var<T>& x, Same<T> lo, Same<T> hi) {
  if (!(lo <= hi))
    throw ArgumentError("clip: needs lo <= hi, got lo " + std::to_string(lo) + ", hi " + std::to_string(hi) +
                        " (input " + x.shape().str() + ")");
  op::Clip<T> o;
  o.lo = lo;
  o.hi = hi;
  return detail::unary(std::move(o), x);
}
template <class T>
Var<T> sigmoid(const Var<T>& x) { return detail::unary(op::Sigmoid<T>{}, x); }
// ONNX HardSigmoid: max(0, min(1, alpha x + beta)).
template <class T>
Var<T> hard_sigmoid(const Var<T>& x, Same<T> alpha, Same<T> beta) {
  op::HardSigmoid<T> o;
  o.alpha = alpha;
  o.beta = beta;
  return detail::unary(std::move(o), x);
}
// x * hard_sigmoid(x, 1/6, 1/2) (ONNX HardSwish, torch.nn.Hardswish).
template <class T>
Var<T> hard_swish(const Var<T>& x) { return detail::unary(op::HardSwish<T>{}, x); }
template <class T>
Var<T> tanh(const Var<T>& x) { return detail::unary(op::Tanh<T>{}, x); }
template <class T>
Var<T> erf(const Var<T>& x) { return detail::unary(op::Erf<T>{}, x); }
template <class T>
Var<T> sqrt(const Var<T>& x) { return detail::unary(op::Sqrt<T>{}, x); }
// x^p, elementwise (ONNX Pow with a scalar exponent).
template <class T>
Var<T> pow_scalar(const Var<T>& x, Same<T> p) {
  op::PowScalar<T> o;
  o.p = p;
  return detail::unary(std::move(o), x);
}
// x Φ(x), the exact (erf) form of torch.nn.GELU().
template <class T>
Var<T> gelu(const Var<T>& x) { return detail::unary(op::Gelu<T>{}, x); }
// x σ(x) (SiLU): one op for the Sigmoid and Mul torch exports for nn.SiLU.
template <class T>
Var<T> silu(const Var<T>& x) { return detail::unary(op::Silu<T>{}, x); }

// ONNX ReduceSum / ReduceMean: over `axes` (negative allowed; empty = all), keeping the reduced
// dimensions as 1 when keepdims.
template <class T>
Var<T> reduce_sum(const Var<T>& x, std::vector<std::int64_t> axes, bool keepdims) {
  op::ReduceSum<T> o;
  Tensor<T> y = o.forward(x.value(), std::move(axes), keepdims);
  return detail::record(std::move(o), std::move(y), {&x});
}
template <class T>
Var<T> reduce_mean(const Var<T>& x, std::vector<std::int64_t> axes, bool keepdims) {
  op::ReduceMean<T> o;
  Tensor<T> y = o.forward(x.value(), std::move(axes), keepdims);
  return detail::record(std::move(o), std::move(y), {&x});
}

// Concatenation along `axis` (negative allowed); the other dimensions must agree.
template <class T>
Var<T> concat(const std::vector<Var<T>>& xs, std::int64_t axis) {
  std::vector<const Tensor<T>*> values;
  std::vector<const Var<T>*> inputs;
  for (const Var<T>& x : xs) {
    values.push_back(&x.value());
    inputs.push_back(&x);
  }
  op::Concat<T> o;
  Tensor<T> y = o.forward(values, axis);
  return detail::record(std::move(o), std::move(y), inputs);
}

// ONNX Transpose: y's dimension k is x's dimension perm[k]; empty perm = reversed.
template <class T>
Var<T> transpose(const Var<T>& x, std::vector<std::int64_t> perm) {
  op::Transpose<T> o;
  Tensor<T> y = o.forward(x.value(), std::move(perm));
  return detail::record(std::move(o), std::move(y), {&x});
}

// numpy.matmul / ONNX MatMul: [..., M, K] x [..., K, N] -> [..., M, N], batch dimensions
// broadcast; a 1-D operand is promoted (a: [1, K], b: [K, 1]) and the added dimension removed.
template <class T>
Var<T> matmul(const Var<T>& a, const Same<Var<T>>& b, const Same<Var<T>>& bias = Same<Var<T>>()) {
  op::MatMul<T> o;
  Tensor<T> y = o.forward(a.value(), b.value(), bias.value());
  if (!b.tracked()) o.a = Tensor<T>();
  if (!a.tracked()) o.b = Tensor<T>();
  return detail::record(std::move(o), std::move(y), {&a, &b, &bias});
}

// ONNX Pad, constant mode: pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...], non-negative
// (negative pads, i.e. cropping, are an ArgumentError: use slice).
template <class T>
Var<T> pad(const Var<T>& x, std::vector<std::int64_t> pads, Same<T> value) {
  op::Pad<T> o;
  Tensor<T> y = o.forward(x.value(), pads, value);
  return detail::record(std::move(o), std::move(y), {&x});
}

// ONNX Slice with positive steps (negative steps: ArgumentError). axes empty = [0, len(starts)),
// steps empty = all 1; starts and ends clamped as ONNX specifies.
template <class T>
Var<T> slice(const Var<T>& x, std::vector<std::int64_t> starts, std::vector<std::int64_t> ends,
             std::vector<std::int64_t> axes, std::vector<std::int64_t> steps) {
  op::Slice<T> o;
  Tensor<T> y = o.forward(x.value(), starts, ends, axes, steps);
  return detail::record(std::move(o), std::move(y), {&x});
}

// Softmax and log-softmax along `axis` of any rank (negative allowed); the last axis runs the
// row-wise kernels (fast float path) of softmax(x) / log_softmax(x) above.
template <class T>
Var<T> softmax(const Var<T>& x, std::int64_t axis) {
  op::SoftmaxAxis<T> o;
  Tensor<T> y = o.forward(x.value(), axis);
  return detail::record(std::move(o), std::move(y), {&x});
}
template <class T>
Var<T> log_softmax(const Var<T>& x, std::int64_t axis) {
  op::LogSoftmaxAxis<T> o;
  Tensor<T> y = o.forward(x.value(), axis);
  return detail::record(std::move(o), std::move(y), {&x});
}

// ONNX Gather along `axis` with constant indices (negative count from the end): the axis becomes
// indices.size() long, or is removed when `scalar` (a rank-0 index: torch's `x[:, 0]`).
// ArgumentError for an index out of range.
template <class T>
Var<T> gather(const Var<T>& x, std::int64_t axis, std::vector<std::int64_t> indices, bool scalar) {
  op::GatherAxis<T> o;
  Tensor<T> y = o.forward(x.value(), axis, std::move(indices), scalar);
  return detail::record(std::move(o), std::move(y), {&x});
}

// ONNX Expand: x broadcast with `shape` (bidirectional: a 1 in shape keeps x's extent).
template <class T>
Var<T> expand(const Var<T>& x, const Shape& shape) {
  op::Expand<T> o;
  Tensor<T> y = o.forward(x.value(), shape);
  return detail::record(std::move(o), std::move(y), {&x});
}

// ONNX LayerNormalization / torch.nn.LayerNorm: x normalised over its dimensions [axis, rank)
// (biased variance, eps inside the square root), times scale plus bias; scale and bias hold one
// value per normalised element. bias may be an empty Var (none).
template <class T>
Var<T> layer_norm(const Var<T>& x, const Same<Var<T>>& scale, const Same<Var<T>>& bias, std::int64_t axis, Same<T> eps) {
  op::LayerNorm<T> o;
  const bool has_bias = !bias.value().empty();
  Tensor<T> y = o.forward(x.value(), scale.value(), has_bias ? &bias.value() : nullptr, axis, eps);
  if (!x.tracked()) o.scale = Tensor<T>();  // scale is read only for x's gradient
  return has_bias ? detail::record(std::move(o), std::move(y), {&x, &scale, &bias})
                  : detail::record(std::move(o), std::move(y), {&x, &scale});
}

}  // namespace gradattr::ad
