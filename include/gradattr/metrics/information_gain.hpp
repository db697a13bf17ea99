#pragma once
// The information-gain identity (docs/methods.md §1): with the cross-entropy loss L = −log y_c,
//   ∂L/∂x = −∂ log y_c/∂x,
// so a LogSoftmax attribution is exactly minus the loss gradient. check_information_gain
// computes both sides by different routes on one tape and reports how far L_grad + Log_grad is
// from zero:
//   loss side:  nn::cross_entropy(z, classes) (the training loss: mean over the batch of
//               −gather(log_softmax(z)), recorded ops), differentiated to x and multiplied by N
//               to undo the mean;
//   score side: the LogSoftmax policy's seed e_c − y pushed back from the logits (what every
//               attribution method does).
// relative_error = max_i |N·∂L/∂x_i + ∂ log y_c/∂x_i| / max_i |∂ log y_c/∂x_i|
// (0 when both gradients are zero). Both routes form e_c − y from the same stable log-softmax,
// so with N a power of two the two gradients agree bit for bit (measured on the tiny VGG: 0 in
// float and double); otherwise expect a few ε of the working precision (the 1/N of the mean).
// Errors: ShapeError for x not [N, C, H, W]; ArgumentError for a bad target.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gradattr/attribution/target.hpp"
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/nn/loss.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::metrics {

template <class T>
struct InformationGainCheck {
  std::vector<std::int64_t> classes;  // per image
  Tensor<T> loss_gradient;            // ∂(Σ_n −log y_{c_n})/∂x, [N, C, H, W] (the mean undone)
  Tensor<T> log_gradient;             // ∂(Σ_n log y_{c_n})/∂x, [N, C, H, W]
  double max_abs_error = 0;           // max_i |loss_gradient + log_gradient|
  double relative_error = 0;          // max_abs_error / max_i |log_gradient|
};

template <models::Classifier M>
InformationGainCheck<typename M::scalar_type> check_information_gain(const M& model,
                                                                    const Tensor<typename M::scalar_type>& x,
                                                                    const Target& target = {}) {
  using T = typename M::scalar_type;
  if (x.rank() != 4 || x.dim(0) < 1)
    throw ShapeError("check_information_gain: x must be a non-empty [N, C, H, W] batch, got " + x.shape().str());
  ad::Tape<T> tape;
  const ad::Var<T> xv = tape.variable(x);
  const ad::Var<T> z = model.forward_from(models::input_cut(xv), tape);
  InformationGainCheck<T> r;
  r.classes = target.resolve(z.value(), "check_information_gain");
  const ad::Var<T> loss = nn::cross_entropy(z, r.classes);
  r.loss_gradient = ad::grad(tape, loss, {xv})[0];
  const T n = static_cast<T>(x.dim(0));
  for (auto& v : r.loss_gradient) v *= n;  // the mean over the batch, undone
  r.log_gradient = ad::grad(tape, z, {xv}, LogSoftmax::seed(z.value(), r.classes))[0];
  double scale = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double a = static_cast<double>(r.loss_gradient[i]), b = static_cast<double>(r.log_gradient[i]);
    r.max_abs_error = std::max(r.max_abs_error, std::abs(a + b));
    scale = std::max(scale, std::abs(b));
  }
  r.relative_error = scale > 0 ? r.max_abs_error / scale : (r.max_abs_error > 0 ? INFINITY : 0.0);
  return r;
}

}  // namespace gradattr::metrics
