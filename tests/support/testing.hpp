#pragma once
// Helpers shared by the tests: seeded random tensors and element-wise comparison with a
// tolerance that reports the worst element.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>

#include "gradattr/core/tensor.hpp"

namespace gradattr::testing {

// Uniform in [lo, hi), deterministic for a seed.
template <class T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Tensor<T> t = Tensor<T>::uninitialized(shape);
  for (auto& v : t) v = static_cast<T>(dist(rng));
  return t;
}

// Same shape and the same bytes (NaN payloads and the sign of zero included).
template <class T>
bool bitwise_equal(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape()) return false;
  return a.numel() == 0 || std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(T)) == 0;
}

struct Mismatch {
  bool ok = true;
  std::string report;
};

// |a - b| <= atol + rtol * |b| for every element (NaN must match NaN).
template <class T, class U>
Mismatch compare(const Tensor<T>& a, const Tensor<U>& b, double atol, double rtol) {
  Mismatch m;
  if (a.shape() != b.shape()) {
    m.ok = false;
    m.report = "shapes " + a.shape().str() + " vs " + b.shape().str();
    return m;
  }
  double worst = -1;
  std::int64_t worst_i = -1;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) {
        m.ok = false;
        worst_i = i;
        worst = INFINITY;
        break;
      }
      continue;
    }
    if (x == y) continue;  // equal infinities
    const double excess = std::abs(x - y) - (atol + rtol * std::abs(y));
    if (excess > 0 && excess > worst) {
      worst = excess;
      worst_i = i;
      m.ok = false;
    }
  }
  if (!m.ok) {
    std::ostringstream os;
    os << "worst element " << worst_i << " of " << a.shape().str() << ": " << static_cast<double>(a[worst_i]) << " vs "
       << static_cast<double>(b[worst_i]) << " (atol " << atol << ", rtol " << rtol << ")";
    m.report = os.str();
  }
  return m;
}

}  // namespace gradattr::testing

// REQUIRE_CLOSE(a, b, atol, rtol): element-wise, with the worst element in the message.
#define REQUIRE_CLOSE(a, b, atol, rtol)                                    \
  do {                                                                     \
    auto gradattr_m_ = ::gradattr::testing::compare((a), (b), (atol), (rtol)); \
    INFO(gradattr_m_.report);                                              \
    REQUIRE(gradattr_m_.ok);                                               \
  } while (0)
