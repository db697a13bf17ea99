#pragma once
// gradattr's reverse-mode autodiff (namespace gradattr::ad):
//   Tape<T>      tape.hpp       records in creation order; clear() and reuse
//   Var<T>       var.hpp        a value, plus its tape and record index when tracked
//   ops          ops.hpp        the differentiable functions (add ... conv2d ... log_softmax);
//                ops/*.hpp      the closed set of recorded ops, forward and backward paired
//   grad()       grad.hpp       path marking, then one reverse sweep over the marked records
//   gradcheck()  gradcheck.hpp  analytic against central-difference gradients, in double
//
//   ad::Tape<float> tape;
//   ad::Var<float> x = tape.variable(image);                // tracked
//   auto z = ad::linear(ad::flatten(ad::relu(ad::conv2d(x, w, b, p))), w2, b2);  // weights: constants
//   auto s = ad::sum(ad::gather(ad::log_softmax(z), {cls}));
//   Tensor<float> dx = ad::grad(tape, s, {x})[0];
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/gradcheck.hpp"
#include "gradattr/autodiff/ops.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
