#pragma once
// Losses for training, as compositions of recorded autodiff ops (so their gradients are the
// autodiff's, already gradient-checked op by op).
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/core/error.hpp"

namespace gradattr::nn {

// Mean cross-entropy of logits [N, C] against one label per row: −mean_n log softmax(z_n)_{y_n},
// through log_softmax (log-sum-exp), never log(softmax). Labels outside [0, C) are an
// ArgumentError naming the row.
template <class T>
ad::Var<T> cross_entropy(const ad::Var<T>& logits, const std::vector<std::int64_t>& labels) {
  if (logits.shape().rank() != 2)
    throw ShapeError("cross_entropy: logits must be [N, C], got " + logits.shape().str());
  if (static_cast<std::int64_t>(labels.size()) != logits.shape()[0])
    throw ShapeError("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + logits.shape().str());
  for (std::size_t n = 0; n < labels.size(); ++n)
    if (labels[n] < 0 || labels[n] >= logits.shape()[1])
      throw ArgumentError("cross_entropy: label " + std::to_string(labels[n]) + " of row " + std::to_string(n) +
                          " is outside [0, " + std::to_string(logits.shape()[1]) + ")");
  return ad::scale(ad::mean(ad::gather(ad::log_softmax(logits), labels)), T{-1});
}

}  // namespace gradattr::nn
