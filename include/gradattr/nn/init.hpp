#pragma once
// Seeded parameter initialisation, as torchvision initialises VGG:
//   conv weights  kaiming_normal_fan_out: N(0, 2 / fan_out), fan_out = Co·KH·KW (ReLU gain √2)
//   linear weights normal(0, 0.01); every bias zero.
// Values are drawn from the caller's std::mt19937_64 with std::normal_distribution<double> in
// element order, so a seed gives the same model on every run of one standard library (the
// distribution's algorithm is implementation-defined: libstdc++ and libc++ differ).
#include <cmath>
#include <cstdint>
#include <random>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::nn::init {

template <class T>
void normal(Tensor<T>& t, double mean, double stddev, std::mt19937_64& rng) {
  if (!(stddev >= 0)) throw ArgumentError("init::normal: standard deviation must be >= 0");
  std::normal_distribution<double> dist(mean, stddev);
  for (auto& v : t) v = static_cast<T>(stddev == 0 ? mean : dist(rng));
}

// fan_out of a weight [Out, In, ...]: Out times the product of the dimensions after the second.
template <class T>
std::int64_t fan_out(const Tensor<T>& w) {
  if (w.rank() < 2) throw ShapeError("init::fan_out: weight must have rank >= 2, got " + w.shape().str());
  std::int64_t f = w.dim(0);
  for (int d = 2; d < w.rank(); ++d) f *= w.dim(d);
  return f;
}

// torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu").
template <class T>
void kaiming_normal_fan_out(Tensor<T>& w, std::mt19937_64& rng) {
  normal(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out(w))), rng);
}

}  // namespace gradattr::nn::init
