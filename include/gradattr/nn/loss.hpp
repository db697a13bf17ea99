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
//
// Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture", §7): with
// smoothing ε in [0, 1) the target of row n is t_n = (1 − ε)·onehot(y_n) + ε/C, and the loss is
// −mean_n Σ_j t_nj log softmax(z_n)_j = (1 − ε)·CE + ε·(−mean_{n,j} log softmax(z_n)_j).
// ε = 0 is the plain cross-entropy, computed exactly as before (the same operations, the same
// bits). ε outside [0, 1) or not finite is an ArgumentError naming `smoothing`.
template <class T>
ad::Var<T> cross_entropy(const ad::Var<T>& logits, const std::vector<std::int64_t>& labels, double smoothing = 0) {
  if (!(smoothing >= 0 && smoothing < 1))
    throw ArgumentError("cross_entropy: smoothing " + std::to_string(smoothing) + " must be in [0, 1)");
  if (logits.shape().rank() != 2)
    throw ShapeError("cross_entropy: logits must be [N, C], got " + logits.shape().str());
  if (static_cast<std::int64_t>(labels.size()) != logits.shape()[0])
    throw ShapeError("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + logits.shape().str());
  for (std::size_t n = 0; n < labels.size(); ++n)
    if (labels[n] < 0 || labels[n] >= logits.shape()[1])
      throw ArgumentError("cross_entropy: label " + std::to_string(labels[n]) + " of row " + std::to_string(n) +
                          " is outside [0, " + std::to_string(logits.shape()[1]) + ")");
  if (smoothing == 0) return ad::scale(ad::mean(ad::gather(ad::log_softmax(logits), labels)), T{-1});
  const auto ls = ad::log_softmax(logits);
  // mean over all N·C entries = (1/N) Σ_n (1/C) Σ_j: the ε/C part of the target, averaged over rows
  return ad::add(ad::scale(ad::mean(ad::gather(ls, labels)), static_cast<T>(-(1 - smoothing))),
                 ad::scale(ad::mean(ls), static_cast<T>(-smoothing)));
}

}  // namespace gradattr::nn
