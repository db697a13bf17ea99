// Grad-CAM++'s exact α (docs/methods.md §2, "Grad-CAM++: exact") against finite differences of
// the score in double, on toy models whose heads are piecewise linear (ReLU, average pooling,
// linear layers): the deep ToyCnn cut at "relu" and ToyResidual cut at "conv2" (whose cut carries
// a skip connection, replicated with the activation when the class seeds are batched).
//
// For each element u of A: f(t) = S(head(A + t e_u)) for t ∈ {0, ±h, ±2h}; central differences
// give S', S'', S''' (errors O(h²) in truncation, ε_mach |S| / h³ in rounding). These are compared
// with the library's derivatives (the head Jacobian's cumulants under y through the policy's
// along_linear_logits), and the α and weights written from them here, straight from the formula
// α = (S'² + S'') / (2 (S'² + S'') + s_k (S'³ + 3 S' S'' + S''')), w_k = Σ α ReLU(S'), with the
// functor's. For Pre and Centered the second and third differences are zero: the piecewise-linear
// assumption itself, checked.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "gradattr/attribution/methods.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

namespace {

struct Derivs {
  Tensor<double> d1, d2, d3;
};

template <class M>
Tensor<double> head_logits(const M& model, const models::Cut<double>& cut, const Tensor<double>& A) {
  ad::Tape<double> tape;
  return model.forward_from(cut.with_activation(ad::Var<double>(A)), tape).value();
}

// Central differences of S along every element of the cut's activation. The stencil must not
// cross a kink of the head (a ReLU changing sides): the logits must be affine in t over it, else
// h is divided by 10 (up to three times) — the derivatives at A are those of the linear piece.
template <class P, class M>
Derivs finite_differences(const M& model, const models::Cut<double>& cut, const std::vector<std::int64_t>& classes, double h0) {
  const Tensor<double>& A = cut.activation.value();
  const auto P_ = A.shape().stride(0);
  Derivs d{Tensor<double>(A.shape()), Tensor<double>(A.shape()), Tensor<double>(A.shape())};
  auto logits = [&](std::int64_t u, double t) {
    auto At = A.clone();
    At[u] += t;
    return head_logits(model, cut, At);
  };
  for (std::int64_t u = 0; u < A.numel(); ++u) {
    const auto n = u / P_;
    bool done = false;
    for (double h = h0; !done && h >= h0 * 1e-3; h /= 10) {
      const double ts[5] = {-2 * h, -h, 0, h, 2 * h};
      Tensor<double> z[5];
      for (int i = 0; i < 5; ++i) z[i] = logits(u, ts[i]);
      double off = 0, scale = 1;
      for (std::int64_t j = 0; j < z[2].dim(1); ++j) {
        const double slope = (z[3](n, j) - z[1](n, j)) / (2 * h);
        for (int i = 0; i < 5; ++i) {
          off = std::max(off, std::abs(z[i](n, j) - z[2](n, j) - slope * ts[i]));
          scale = std::max(scale, std::abs(z[i](n, j)));
        }
      }
      if (off > 1e-11 * scale) continue;  // a kink inside the stencil
      double f[5];
      for (int i = 0; i < 5; ++i) f[i] = P::score(z[i], classes)[n];
      d.d1[u] = (f[3] - f[1]) / (2 * h);
      d.d2[u] = (f[3] - 2 * f[2] + f[1]) / (h * h);
      d.d3[u] = (f[4] - 2 * f[3] + 2 * f[1] - f[0]) / (2 * h * h * h);
      done = true;
    }
    INFO("element " << u << ": every stencil down to h = " << h0 * 1e-3 << " crosses a kink");
    REQUIRE(done);
  }
  return d;
}

double max_abs(const Tensor<double>& t) {
  double m = 0;
  for (auto v : t) m = std::max(m, std::abs(v));
  return m;
}
double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// The weights from the formula, with the derivatives given: no ε.
Tensor<double> reference_weights(const Tensor<double>& A, const Derivs& d) {
  const auto N = A.dim(0), K = A.dim(1), Z = A.dim(2) * A.dim(3);
  Tensor<double> w({N, K});
  for (std::int64_t nk = 0; nk < N * K; ++nk) {
    double sk = 0;
    for (std::int64_t i = 0; i < Z; ++i) sk += A[nk * Z + i];
    for (std::int64_t i = 0; i < Z; ++i) {
      const auto o = nk * Z + i;
      const double s1 = d.d1[o], s2 = d.d2[o], s3 = d.d3[o];
      if (s1 <= 0) continue;
      const double num = s1 * s1 + s2, den = 2 * num + sk * (s1 * s1 * s1 + 3 * s1 * s2 + s3);
      w[nk] += num / den * s1;
    }
  }
  return w;
}

template <class P, class M>
void check_policy(const M& model, const std::string& layer, const Tensor<double>& x, double h) {
  INFO("policy " << P::name << ", layer " << layer);
  const models::Cut<double> cut = model.forward_until(x, layer);
  const Tensor<double>& A = cut.activation.value();
  const GradCamPlusPlus<P, double> cam(model, layer, {.jacobian_rows = 3});  // 5 classes: 2 passes per image
  const auto r = cam(x);
  auto fd = finite_differences<P>(model, cut, r.classes, h);
  if constexpr (score::LinearInLogits<P>) {
    // the assumption: S is linear in z and z piecewise linear in A, so S'' = S''' = 0
    CHECK(max_abs(fd.d2) < 1e-6 * max_abs(fd.d1) / h);
    CHECK(max_abs(fd.d3) < 1e-6 * max_abs(fd.d1) / (h * h));
    // what is left is rounding (ε|S|/h², ε|S|/h³), which would swamp g² where g is tiny
    fd.d2 = Tensor<double>(A.shape());
    fd.d3 = Tensor<double>(A.shape());
  } else {
    const attr_detail::ClassifierRef<double> ref(model);
    const auto cum = attr_detail::softmax_jacobian_cumulants(ref, cut, model.forward(x), r.classes, 2);
    Derivs lib{Tensor<double>(A.shape()), Tensor<double>(A.shape()), Tensor<double>(A.shape())};
    const auto P_ = A.shape().stride(0);
    for (std::int64_t i = 0; i < A.numel(); ++i) {
      const auto d = P::along_linear_logits(cum.l1[i], cum.k2[i], cum.k3[i], static_cast<double>(r.probability[i / P_]));
      lib.d1[i] = d.d1;
      lib.d2[i] = d.d2;
      lib.d3[i] = d.d3;
    }
    INFO("max |S'| " << max_abs(fd.d1) << ", |S''| " << max_abs(fd.d2) << ", |S'''| " << max_abs(fd.d3));
    REQUIRE(max_abs(fd.d2) > 0);  // curved: the test is not about zeros
    REQUIRE(max_abs(fd.d3) > 0);
    CHECK(max_abs_diff(lib.d1, fd.d1) < 1e-5 * max_abs(fd.d1));
    CHECK(max_abs_diff(lib.d2, fd.d2) < 1e-4 * max_abs(fd.d2));
    CHECK(max_abs_diff(lib.d3, fd.d3) < 1e-3 * max_abs(fd.d3));
  }
  const Tensor<double> w_ref = reference_weights(A, fd);
  if (std::getenv("GRADATTR_VERBOSE"))
    for (std::int64_t i = 0; i < w_ref.numel(); ++i) std::cout << r.weights[i] << " " << w_ref[i] << "\n";
  INFO("weights " << max_abs_diff(r.weights, w_ref) << " of " << max_abs(w_ref));
  REQUIRE(max_abs(w_ref) > 0);
  CHECK(max_abs_diff(r.weights, w_ref) < 1e-3 * max_abs(w_ref));
}

}  // namespace

TEST_CASE("Grad-CAM++ exact alpha equals finite differences of the score (deep toy, cut at relu)",
          "[attribution][gradcampp]") {
  const testing::ToyCnn<double> model(7, true);
  const auto x = random_tensor<double>({2, 3, 4, 4}, 5, -1, 1);
  check_policy<Pre>(model, "relu", x, 0.01);
  check_policy<Centered>(model, "relu", x, 0.01);
  check_policy<LogSoftmax>(model, "relu", x, 0.01);
  check_policy<Post>(model, "relu", x, 0.01);
}

TEST_CASE("Grad-CAM++ exact alpha equals finite differences on a cut that carries a skip (ToyResidual at conv2)",
          "[attribution][gradcampp]") {
  const testing::ToyResidual<double> model(3);
  const auto x = random_tensor<double>({2, 3, 4, 4}, 9, -1, 1);
  check_policy<LogSoftmax>(model, "conv2", x, 0.01);
  check_policy<Post>(model, "conv2", x, 0.01);
  check_policy<Centered>(model, "conv2", x, 0.01);
}

TEST_CASE("Grad-CAM++ exact for a linear score is the closed form up to the relative eps", "[attribution][gradcampp]") {
  const testing::ToyCnn<double> model(7, true);
  const auto x = random_tensor<double>({2, 3, 6, 6}, 4, -1, 1);
  const auto exact = GradCamPlusPlus<Pre, double>(model, "relu")(x);
  const auto closed = GradCamPlusPlus<Pre, double>(model, "relu", {.variant = GradCamPPVariant::ClosedForm})(x);
  // the closed form's absolute ε = 1e-6 against g² ≈ 1e-3 here: ~1e-3 relative
  double d = 0, m = 0;
  for (std::int64_t i = 0; i < exact.weights.numel(); ++i) {
    d = std::max(d, std::abs(exact.weights[i] - closed.weights[i]));
    m = std::max(m, std::abs(closed.weights[i]));
  }
  CHECK(d < 1e-2 * m);
  const auto w = cam::gradcam_pp_exact_weights(Tensor<double>(x.shape()), Tensor<double>(x.shape()));
  for (auto v : w) CHECK(v == 0);  // no gradient: no weight, no division by zero
}

namespace {
// A user policy with neither linear_in_logits nor along_linear_logits: S = z_c².
struct Squared {
  static constexpr std::string_view name = "squared";
  static constexpr bool shift_invariant = false;
  template <class T>
  static Tensor<T> score(const Tensor<T>& z, score::Classes c) {
    auto s = Pre::score(z, c);
    for (auto& v : s) v = v * v;
    return s;
  }
  template <class T>
  static Tensor<T> seed(const Tensor<T>& z, score::Classes c) {
    auto d = Pre::seed(z, c);
    for (std::int64_t n = 0; n < z.dim(0); ++n) d(n, c[static_cast<std::size_t>(n)]) = 2 * z(n, c[static_cast<std::size_t>(n)]);
    return d;
  }
};
}  // namespace

TEST_CASE("Grad-CAM++ exact falls back to the closed form, with a message, for a policy without derivatives",
          "[attribution][gradcampp]") {
  STATIC_REQUIRE(ScoreSpace<Squared>);
  STATIC_REQUIRE_FALSE(score::LinearInLogits<Squared>);
  STATIC_REQUIRE_FALSE(score::SoftmaxDerivatives<Squared>);
  const testing::ToyCnn<double> model(7, true);
  const auto x = random_tensor<double>({2, 3, 4, 4}, 5, -1, 1);
  const auto r = GradCamPlusPlus<Squared, double>(model, "relu")(x);
  const auto closed = GradCamPlusPlus<Squared, double>(model, "relu", {.variant = GradCamPPVariant::ClosedForm})(x);
  REQUIRE_THAT(r.warning, Catch::Contains("no second and third derivatives") && Catch::Contains("squared"));
  CHECK(closed.warning.empty());
  for (std::int64_t i = 0; i < r.weights.numel(); ++i) CHECK(r.weights[i] == closed.weights[i]);
}

TEST_CASE("softmax_jacobian_cumulants: the chunk size does not change the result; bad shapes throw",
          "[attribution][gradcampp]") {
  const testing::ToyCnn<double> model(7, true);
  const auto x = random_tensor<double>({2, 3, 4, 4}, 5, -1, 1);
  const attr_detail::ClassifierRef<double> ref(model);
  const auto cut = model.forward_until(x, "relu");
  const auto z = model.forward(x);
  const std::vector<std::int64_t> cls{1, 4};
  const auto a = attr_detail::softmax_jacobian_cumulants(ref, cut, z, cls, 1);
  const auto b = attr_detail::softmax_jacobian_cumulants(ref, cut, z, cls, 100);
  for (std::int64_t i = 0; i < a.l1.numel(); ++i) {
    CHECK(a.l1[i] == Approx(b.l1[i]).margin(1e-15));
    CHECK(a.k2[i] == Approx(b.k2[i]).margin(1e-15));
    CHECK(a.k3[i] == Approx(b.k3[i]).margin(1e-15));
  }
  REQUIRE_THROWS_AS(attr_detail::softmax_jacobian_cumulants(ref, cut, z, std::vector<std::int64_t>{1}, 4), ShapeError);
  REQUIRE_THROWS_AS(attr_detail::softmax_jacobian_cumulants(ref, cut, z, cls, 0), ArgumentError);
}
