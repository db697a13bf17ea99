// custom_score: writing your own score policy.
//
// Every attribution method in gradattr is a template on a score policy (GradCam<Post>,
// RsiGradCam<LogSoftmax>, ...). A policy is any type that models gradattr::ScoreSpace:
//
//   struct MyScore {
//     static constexpr std::string_view name = "...";    // used in results, files, panels
//     static constexpr bool shift_invariant = ...;       // unchanged by z -> z + t·1 ?
//     template <class T> Tensor<T> score(const Tensor<T>& z, score::Classes c) const;  // [N]
//     template <class T> Tensor<T> seed(const Tensor<T>& z, score::Classes c) const;   // [N, C] = ∂S/∂z
//   };
//
// z is a batch of logits [N, C] and c holds one class per row; the methods run one backward
// pass seeded with seed(), so each row must depend on its own logits only. A policy may carry
// state (here the temperature); it is copied into the method and evaluated as const.
//
// This program defines a temperature-scaled log-softmax, S = log softmax(z / τ)_c, checks it
// against the concept, compares its seed with central differences of its score, and evaluates
// it beside the built-in policies on a few logits. Then the same type plugs into a method
// unchanged: Grad-CAM on a small seeded VGG with GradCam<TemperedLogSoftmax>, which at τ = 1 gives
// GradCam<LogSoftmax>'s map (printed: the largest difference).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "gradattr/attribution/gradient_cams.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/vgg.hpp"
#include "gradattr/score/evaluate.hpp"
#include "gradattr/score/policies.hpp"
#include "gradattr/score/runtime.hpp"
#include "gradattr/score/score_space.hpp"

namespace {

// S = log softmax(z / τ)_c. Built from the library's stable LogSoftmax: by the chain rule,
// ∂S/∂z = (1/τ) (e_c − softmax(z/τ)). A common shift of the logits cancels, as for LogSoftmax.
struct TemperedLogSoftmax {
  static constexpr std::string_view name = "log-t";
  static constexpr bool shift_invariant = true;

  double temperature = 1.0;

  template <class T>
  gradattr::Tensor<T> score(const gradattr::Tensor<T>& z, gradattr::score::Classes classes) const {
    return gradattr::LogSoftmax::score(scaled(z), classes);
  }
  template <class T>
  gradattr::Tensor<T> seed(const gradattr::Tensor<T>& z, gradattr::score::Classes classes) const {
    auto d = gradattr::LogSoftmax::seed(scaled(z), classes);
    for (auto& v : d) v = static_cast<T>(v / temperature);
    return d;
  }

 private:
  template <class T>
  gradattr::Tensor<T> scaled(const gradattr::Tensor<T>& z) const {
    if (!(temperature > 0)) throw gradattr::ArgumentError("TemperedLogSoftmax: temperature must be positive");
    auto s = z.clone();
    for (auto& v : s) v = static_cast<T>(v / temperature);
    return s;
  }
};

static_assert(gradattr::ScoreSpace<TemperedLogSoftmax>, "a policy must model ScoreSpace");

// Largest |seed − central difference of score| over the logits of row 0 (in double).
template <gradattr::ScoreSpace P>
double seed_error(const P& policy, const gradattr::Tensor<double>& z, gradattr::score::Classes c) {
  const auto seed = policy.seed(z, c);
  double worst = 0;
  for (std::int64_t j = 0; j < z.dim(1); ++j) {
    auto zp = z.clone(), zm = z.clone();
    zp(0, j) += 1e-6;
    zm(0, j) -= 1e-6;
    const double fd = (policy.score(zp, c)[0] - policy.score(zm, c)[0]) / 2e-6;
    worst = std::max(worst, std::abs(fd - seed(0, j)));
  }
  return worst;
}

template <gradattr::ScoreSpace P>
void report(const P& policy, const gradattr::Tensor<double>& z, gradattr::score::Classes c) {
  const auto r = gradattr::evaluate_score(policy, z, c);
  std::printf("%-9s S = %+.6f  dS/dz = [", std::string(P::name).c_str(), r.score[0]);
  for (std::int64_t j = 0; j < z.dim(1); ++j) std::printf("%s%+.4f", j ? ", " : "", r.seed(0, j));
  std::printf("]  shift-invariant: %s  |seed - finite diff| = %.1e\n", P::shift_invariant ? "yes" : "no ",
              seed_error(policy, z, c));
}

}  // namespace

int main() {
  const gradattr::Tensor<double> z({1, 4}, {2.0, 0.5, -1.0, 1.5});
  const std::vector<std::int64_t> c{0};
  const auto r = gradattr::evaluate_score(gradattr::Post{}, z, c);
  std::printf("logits (2, 0.5, -1, 1.5), class 0: z_c = %.2f, y_c = %.4f%s\n\n", r.logit[0], r.probability[0],
              r.saturated[0] ? " (saturated)" : "");

  // The built-in policies, chosen at run time as the CLI does with --score.
  for (const char* name : {"pre", "post", "log"})
    gradattr::dispatch_score(gradattr::parse_score_kind(name), [&](auto policy) { report(policy, z, c); });
  report(gradattr::Contrast{3}, z, c);
  // The user-defined one.
  report(TemperedLogSoftmax{2.0}, z, c);
  report(TemperedLogSoftmax{0.5}, z, c);

  // In a method: any ScoreSpace is a template argument of every method class.
  const auto model =
      gradattr::models::vgg<float>(11, {.width_scale = 1 / 16., .hidden = {16}, .num_classes = 4, .seed = 1});
  gradattr::Tensor<float> x({1, 3, 32, 32});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
  const gradattr::GradCam<TemperedLogSoftmax> tempered(model, "last_conv", {}, TemperedLogSoftmax{1.0});
  const gradattr::GradCam<gradattr::LogSoftmax> log(model, "last_conv");
  const auto a = tempered(x), b = log(x);
  double diff = 0;
  for (std::int64_t i = 0; i < a.raw.numel(); ++i) diff = std::max(diff, static_cast<double>(std::abs(a.raw[i] - b.raw[i])));
  std::printf("\nGradCam<log-t, tau = 1> vs GradCam<log> on a seeded VGG11 (class %lld): max |difference| = %.1e\n",
              static_cast<long long>(a.classes[0]), diff);
  return 0;
}
