#pragma once
// What the kernel microbenchmarks share: seeded uniform operands in [-1, 1].
#include <cstdint>
#include <random>

#include "gradattr/core/tensor.hpp"

namespace gradattr::bench {

inline Tensor<float> random(const Shape& s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  auto t = Tensor<float>::uninitialized(s);
  for (auto& v : t) v = d(rng);
  return t;
}

}  // namespace gradattr::bench
