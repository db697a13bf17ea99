#pragma once
// evaluate_score: everything an attribution result records about the score, in one call
// (docs/methods.md §1): the policy's score and seed, and the class's logit z_c, probability y_c
// and log-probability, plus the saturation flag (1 − y_c < 1e-4, where Post and LogSoftmax
// gradients are mostly rounding error in float).
#include <cstdio>
#include <string>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gradattr/core/tensor.hpp"
#include "gradattr/score/policies.hpp"
#include "gradattr/score/score_space.hpp"

namespace gradattr::score {

// Below this, 1 − y_c is mostly float rounding: warn (docs/methods.md §1, saturation).
inline constexpr double kSaturationThreshold = 1e-4;

// The saturation rule as text for messages and table headers ("1 - y_c < 1e-4"), from
// kSaturationThreshold, so that no message retypes the number.
inline std::string saturation_rule() {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0e", kSaturationThreshold);  // "1e-04"
  std::string v = buf;
  if (auto e = v.find("e-0"); e != std::string::npos) v.erase(e + 2, 1);  // "1e-4"
  if (auto e = v.find("e+0"); e != std::string::npos) v.erase(e + 2, 1);
  return "1 - y_c < " + v;
}

template <class T>
struct ScoreReport {
  Tensor<T> score;            // [N]    S_n under the policy
  Tensor<T> seed;             // [N, C] ∂S_n/∂z_n
  Tensor<T> logit;            // [N]    z_c
  Tensor<T> probability;      // [N]    y_c
  Tensor<T> log_probability;  // [N]    log y_c
  std::vector<bool> saturated;  // per row: 1 − y_c < kSaturationThreshold
};

template <ScoreSpace P, class T>
ScoreReport<T> evaluate_score(const P& policy, const Tensor<T>& z, Classes classes) {
  check_logits_and_classes(z, classes, "evaluate_score");
  ScoreReport<T> r;
  r.score = policy.score(z, classes);
  r.seed = policy.seed(z, classes);
  r.logit = Pre::score(z, classes);
  r.log_probability = LogSoftmax::score(z, classes);
  r.probability = Tensor<T>::uninitialized({z.dim(0)});
  r.saturated.resize(static_cast<std::size_t>(z.dim(0)));
  for (std::int64_t n = 0; n < z.dim(0); ++n) {
    r.probability[n] = std::exp(r.log_probability[n]);
    // 1 − y_c = −expm1(log y_c): accurate even when y_c rounds to 1.
    r.saturated[static_cast<std::size_t>(n)] =
        -std::expm1(static_cast<double>(r.log_probability[n])) < kSaturationThreshold;
  }
  return r;
}

}  // namespace gradattr::score

namespace gradattr {
using score::evaluate_score;
using score::ScoreReport;
}  // namespace gradattr
