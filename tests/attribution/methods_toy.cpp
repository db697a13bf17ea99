// The attribution functors on the seeded toy Classifiers of tests/support/toy_models.hpp:
// exact identities (Grad-CAM with Pre = CAM / Z; Post = y_c · LogSoftmax), the score-space
// invariances of METHODS.md §2, completeness of the path methods, batch independence for every
// method, costs, progress, thread sharing and the error cases.
#include <cmath>
#include <thread>

#include "gradattr/attribution/methods.hpp"
#include "support/cut_helpers.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;
using gradattr::testing::ToyCnn;

namespace {

template <class T>
Tensor<T> toy_input(std::int64_t N = 2, std::uint64_t seed = 11, std::int64_t H = 8, std::int64_t W = 8) {
  return random_tensor<T>({N, 3, H, W}, seed, -1.0, 1.0);
}

// max |a − b| / max |b|.
template <class T>
double rel_err(const Tensor<T>& a, const Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    den = std::max(den, std::abs(static_cast<double>(b[i])));
  }
  return den > 0 ? num / den : num;
}

// (v − min) / (max − min) per image, no eps.
template <class T>
Tensor<T> minmax(const Tensor<T>& raw) {
  auto out = raw.clone();
  const auto N = raw.dim(0), P = raw.shape().stride(0);
  for (std::int64_t n = 0; n < N; ++n) {
    const auto [lo, hi] = std::minmax_element(raw.data() + n * P, raw.data() + (n + 1) * P);
    for (std::int64_t i = 0; i < P; ++i) out[n * P + i] = (raw[n * P + i] - *lo) / (*hi - *lo);
  }
  return out;
}

// Image i of a batch as a batch of one.
template <class T>
Tensor<T> image(const Tensor<T>& x, std::int64_t i) {
  return x.slice_batch(i).clone();
}

// raw maps of image i alone vs inside the batch.
template <class Method>
void check_batch_independence(const Method& method, const Tensor<double>& x) {
  const auto all = method(x);
  for (std::int64_t i = 0; i < x.dim(0); ++i) {
    const auto one = method(image(x, i));
    INFO(all.method << " image " << i);
    REQUIRE(one.classes[0] == all.classes[static_cast<std::size_t>(i)]);
    REQUIRE(rel_err(one.raw, all.raw.slice_batch(i).clone()) < 1e-12);
    REQUIRE(one.probability[0] == Approx(all.probability[i]).epsilon(1e-14));
  }
}

}  // namespace

TEST_CASE("Grad-CAM with Pre on conv-relu-GAP-linear is the CAM divided by Z", "[attribution][methods]") {
  const ToyCnn<double> model(3);
  const auto x = toy_input<double>();
  GradCam<Pre, double> cam(model, "relu");
  const auto r = cam(x);
  REQUIRE(r.method == "gradcam");
  REQUIRE(r.score_space == "pre");
  REQUIRE(r.layer == "relu");
  REQUIRE(r.model_evaluations == 1);
  const auto A = gradattr::testing::activation_at(model, x, "relu");
  const auto N = A.dim(0), K = A.dim(1), Z = A.dim(2) * A.dim(3);
  const auto& W = model.fc_weight();
  Tensor<double> expect({N, A.dim(2), A.dim(3)});
  for (std::int64_t n = 0; n < N; ++n) {
    const auto c = r.classes[static_cast<std::size_t>(n)];
    for (std::int64_t k = 0; k < K; ++k) {
      REQUIRE(r.weights(n, k) == Approx(W(c, k) / static_cast<double>(Z)).epsilon(1e-14));
      for (std::int64_t ij = 0; ij < Z; ++ij) expect[n * Z + ij] += W(c, k) * A[(n * K + k) * Z + ij] / static_cast<double>(Z);
    }
  }
  REQUIRE_CLOSE(r.raw, expect, 1e-14, 1e-12);
  // top class and z_c, y_c
  const auto z = model.forward(x);
  for (std::int64_t n = 0; n < N; ++n) {
    const auto c = r.classes[static_cast<std::size_t>(n)];
    for (std::int64_t j = 0; j < z.dim(1); ++j) REQUIRE(z(n, j) <= z(n, c));
    REQUIRE(r.logit[n] == z(n, c));
    REQUIRE(r.score[n] == z(n, c));
  }
}

TEMPLATE_TEST_CASE("Default CAM layer comes from the model's last_conv alias", "[attribution][methods]", float, double) {
  const ToyCnn<TestType> model(3);
  GradCam<Post, TestType> cam(model);
  REQUIRE(cam.layer() == "relu");
  const auto r = cam(toy_input<TestType>());
  REQUIRE(r.raw.shape() == Shape{2, 8, 8});
  REQUIRE(r.displayed(16, 16).shape() == Shape{2, 16, 16});
}

namespace {
template <template <ScoreSpace, class> class Method>
void check_post_log_pre(const char* name) {
  INFO(name);
  const ToyCnn<double> model(5, /*deep=*/true);
  const auto x = toy_input<double>();
  const auto post = Method<Post, double>(model, "relu")(x);
  const auto log = Method<LogSoftmax, double>(model, "relu")(x);
  const auto pre = Method<Pre, double>(model, "relu")(x);
  REQUIRE(post.classes == log.classes);
  // raw Post = y_c · raw LogSoftmax, image by image
  const auto P = post.raw.shape().stride(0);
  for (std::int64_t n = 0; n < x.dim(0); ++n) {
    const double yc = post.probability[n];
    double worst = 0, scale = 0;
    for (std::int64_t i = 0; i < P; ++i) {
      worst = std::max(worst, std::abs(post.raw[n * P + i] - yc * log.raw[n * P + i]));
      scale = std::max(scale, std::abs(post.raw[n * P + i]));
    }
    REQUIRE(worst <= 1e-13 * scale);
  }
  // normalised maps identical; Pre's differ. The displayed map's eps (1e-7 added to max − min)
  // is not scale-free, so displayed maps agree to ~1e-7 / (max − min) only; min–max without eps
  // agree to rounding.
  const auto dpost = post.displayed(8, 8), dlog = log.displayed(8, 8), dpre = pre.displayed(8, 8);
  REQUIRE_CLOSE(dpost, dlog, 1e-5, 0);
  REQUIRE_CLOSE(minmax(post.raw), minmax(log.raw), 1e-12, 0);
  REQUIRE(rel_err(dpre, dpost) > 1e-3);
}
}  // namespace

TEST_CASE("Post and LogSoftmax maps agree after normalisation for the scale-invariant CAMs", "[attribution][methods]") {
  check_post_log_pre<GradCam>("gradcam");
  check_post_log_pre<GradCamPlus>("gradcam+");
  check_post_log_pre<HiResCam>("hirescam");
  check_post_log_pre<XGradCam>("xgradcam");
  check_post_log_pre<LayerCam>("layercam");
}

TEST_CASE("Grad-CAM++ is not scale-invariant: Post and LogSoftmax differ", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>();
  const auto post = GradCamPlusPlus<Post, double>(model, "relu")(x);
  const auto log = GradCamPlusPlus<LogSoftmax, double>(model, "relu")(x);
  REQUIRE(rel_err(post.displayed(8, 8), log.displayed(8, 8)) > 1e-6);
  // the paper form: exp(S) is a positive per-image factor, so its displayed map is the one of
  // the normalised weights; it runs and is finite
  const auto paper = GradCamPlusPlus<Post, double>(model, "relu", {.variant = GradCamPPVariant::Paper})(x);
  for (auto v : paper.raw) REQUIRE(std::isfinite(v));
}

TEST_CASE("Targets: a class for all, one per image, errors name the class and range", "[attribution][methods]") {
  const ToyCnn<double> model(3);
  const auto x = toy_input<double>();
  GradCam<Post, double> cam(model, "relu");
  REQUIRE(cam(x, 2).classes == std::vector<std::int64_t>{2, 2});
  REQUIRE(cam(x, Target::per_image({4, 1})).classes == std::vector<std::int64_t>{4, 1});
  REQUIRE_THROWS_AS(cam(x, 5), ArgumentError);
  REQUIRE_THROWS_WITH(cam(x, 5), Catch::Contains("5") && Catch::Contains("[0, 5)"));
  REQUIRE_THROWS_WITH(cam(x, -1), Catch::Contains("-1"));
  REQUIRE_THROWS_AS(cam(x, Target::per_image({1})), ArgumentError);
  // y_c and z_c are the chosen class's
  const auto r = cam(x, Target::per_image({4, 1}));
  const auto z = model.forward(x);
  REQUIRE(r.logit[0] == z(0, 4));
  REQUIRE(r.logit[1] == z(1, 1));
}

TEST_CASE("Attribution errors: NaN input, non-spatial layer, unknown layer, zero steps, baselines, types",
          "[attribution][methods]") {
  const ToyCnn<double> model(3);
  auto x = toy_input<double>();
  auto bad = x.clone();
  bad[17] = std::nan("");
  REQUIRE_THROWS_AS((GradCam<Post, double>(model, "relu")(bad)), ArgumentError);
  REQUIRE_THROWS_WITH((Saliency<Post, double>(model)(bad)), Catch::Contains("non-finite") && Catch::Contains("check_finite"));
  // opt-out: the NaN flows through (and is not caught)
  REQUIRE_NOTHROW(Saliency<Pre, double>(model, {.check_finite = false})(bad));
  REQUIRE_THROWS_AS((GradCam<Post, double>(model, "flatten")(x)), ArgumentError);
  REQUIRE_THROWS_WITH((GradCam<Post, double>(model, "fc")(x)), Catch::Contains("no spatial"));
  REQUIRE_THROWS_AS((GradCam<Post, double>(model, "nope")), ArgumentError);
  REQUIRE_THROWS_AS((RsiGradCam<Post, double>(model, "relu", {.steps = 0})(x)), ArgumentError);
  REQUIRE_THROWS_AS((IntegratedGradCam<Post, double>(model, "relu", {.steps = 0})(x)), ArgumentError);
  REQUIRE_THROWS_AS((IntegratedGradients<Post, double>(model, {.steps = 0})(x)), ArgumentError);
  REQUIRE_THROWS_AS((SmoothGrad<Post, double>(model, {.samples = 0})(x)), ArgumentError);
  REQUIRE_THROWS_AS((ScoreCam<Post, double>(model, "relu", {.batch_size = 0})(x)), ArgumentError);
  REQUIRE_THROWS_AS((IntegratedGradients<Post, double>(model, {.baseline = Tensor<double>({2, 3, 4, 4})})(x)), ShapeError);
  REQUIRE_THROWS_AS((RsiGradCam<Post, double>(model, "relu")(x, {}, Tensor<double>({1, 3, 8, 7}))), ShapeError);
  REQUIRE_THROWS_AS((SmoothGrad<Post, double>(model, {.noise = {Tensor<double>({1, 3, 8, 8})}})(x)), ShapeError);
  // a float input on a double model does not compile (tests/compile_fail)
  REQUIRE_THROWS_AS((GradCam<Post, double>(model, "relu")(Tensor<double>({3, 8, 8}))), ShapeError);
}

TEST_CASE("Integrated Gradients: completeness within 5% at M = 50; trapezoid; a [1,C,H,W] baseline",
          "[attribution][methods]") {
  const ToyCnn<double> model(7, true);
  const auto x = toy_input<double>();
  for (auto rule : {IntegrationRule::RiemannRight, IntegrationRule::Trapezoid}) {
    const auto post = IntegratedGradients<Post, double>(model, {.steps = 50, .rule = rule})(x);
    const auto pre = IntegratedGradients<Pre, double>(model, {.steps = 50, .rule = rule})(x);
    REQUIRE(post.model_evaluations == 51);
    for (const auto* r : {&post, &pre})
      for (std::int64_t n = 0; n < 2; ++n) {
        INFO(r->score_space << " image " << n << " sum " << r->completeness[n] << " dS " << r->score_difference[n]);
        REQUIRE(std::abs(r->completeness_gap[n]) < 0.05 * std::abs(r->score_difference[n]));
        REQUIRE(r->completeness_gap[n] == Approx(r->completeness[n] - r->score_difference[n]).margin(1e-14));
      }
  }
  // a constant baseline given once for the batch equals it repeated per image
  const Tensor<double> b1({1, 3, 8, 8}, 0.25);
  Tensor<double> b2({2, 3, 8, 8}, 0.25);
  const auto r1 = IntegratedGradients<Post, double>(model, {.steps = 8, .baseline = b1})(x);
  const auto r2 = IntegratedGradients<Post, double>(model, {.steps = 8})(x, {}, b2);
  REQUIRE_CLOSE(r1.raw, r2.raw, 0, 0);
}

TEST_CASE("RSI Grad-CAM: layer completeness Σ G ≈ S(x) − S(x′)", "[attribution][methods]") {
  const auto x = toy_input<double>();
  // Shallow model: the head after relu is GAP + linear, so z is linear in A and the
  // trapezoid sum is exact for Pre (and for LogSoftmax/Post up to the quadrature error).
  const ToyCnn<double> shallow(3);
  const auto pre = RsiGradCam<Pre, double>(shallow, "relu", {.steps = 50})(x);
  for (std::int64_t n = 0; n < 2; ++n) REQUIRE(pre.completeness_gap[n] == Approx(0).margin(1e-12));
  const ToyCnn<double> deep(5, true);
  for (const auto& r : {RsiGradCam<Post, double>(deep, "relu", {.steps = 50})(x), RsiGradCam<LogSoftmax, double>(deep, "relu", {.steps = 50})(x)})
    for (std::int64_t n = 0; n < 2; ++n) {
      INFO(r.score_space << " image " << n << ": " << r.completeness[n] << " vs " << r.score_difference[n]);
      REQUIRE(std::abs(r.completeness_gap[n]) < 0.02 * std::abs(r.score_difference[n]) + 1e-9);
    }
  const auto r = RsiGradCam<Post, double>(deep, "relu", {.steps = 10})(x);
  REQUIRE(r.model_evaluations == 11);
  REQUIRE(r.weights.shape() == Shape{2, 6});
}

namespace {
// RSI Grad-CAM written here in double for the shallow toy model (conv -> relu -> GAP -> fc) and
// Post, with the gradient in closed form: z = W mean_ij(A) + b, so
//   ∂y_c/∂A_kij = y_c (W_ck − Σ_j y_j W_jk) / Z.
// Path x_m = (m/M) x (zero baseline), A_m = the "relu" activation at x_m; with relu-gradients each
// g_m is first replaced by ReLU(g_m); then G = Σ_{m=1..M} ½(g_{m−1} + g_m)(A_m − A_{m−1}); guided
// (docs/methods.md: the authors' mask on the integrated G) keeps G where A(x) > 0, G > 0 and
// A(x) − A(x′) > 0; w_k = mean_ij G_kij, map = Σ_k w_k A_k(x).
enum class RsiGrad { plain, relu, guided };
Tensor<double> rsi_reference(const ToyCnn<double>& model, const Tensor<double>& x, std::int64_t M, RsiGrad mode) {
  const Tensor<double>& W = model.fc_weight();
  const std::int64_t N = x.dim(0), C = W.dim(0);
  const Tensor<double> zx = model.forward(x);
  std::vector<std::int64_t> cls(static_cast<std::size_t>(N));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t j = 1; j < C; ++j)
      if (zx(n, j) > zx(n, cls[static_cast<std::size_t>(n)])) cls[static_cast<std::size_t>(n)] = j;
  Tensor<double> A_prev, g_prev, G, A0;
  for (std::int64_t m = 0; m <= M; ++m) {
    Tensor<double> xm = x.clone();
    for (auto& v : xm) v *= static_cast<double>(m) / static_cast<double>(M);
    const Tensor<double> A = gradattr::testing::activation_at(model, xm, "relu"), z = model.forward(xm);
    const std::int64_t K = A.dim(1), H = A.dim(2), Wd = A.dim(3), Z = H * Wd;
    Tensor<double> g(A.shape());
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t c = cls[static_cast<std::size_t>(n)];
      double mx = -INFINITY, se = 0;
      for (std::int64_t j = 0; j < C; ++j) mx = std::max(mx, z(n, j));
      std::vector<double> y(static_cast<std::size_t>(C));
      for (std::int64_t j = 0; j < C; ++j) se += y[static_cast<std::size_t>(j)] = std::exp(z(n, j) - mx);
      for (auto& v : y) v /= se;
      for (std::int64_t k = 0; k < K; ++k) {
        double ybar = 0;
        for (std::int64_t j = 0; j < C; ++j) ybar += y[static_cast<std::size_t>(j)] * W(j, k);
        const double d = y[static_cast<std::size_t>(c)] * (W(c, k) - ybar) / static_cast<double>(Z);
        for (std::int64_t i = 0; i < Z; ++i) {
          const std::int64_t at = (n * K + k) * Z + i;
          g[at] = mode == RsiGrad::relu ? std::max(d, 0.0) : d;
        }
      }
    }
    if (m == 0) {
      G = Tensor<double>(A.shape());
      A0 = A;
    } else {
      for (std::int64_t i = 0; i < G.numel(); ++i) G[i] += 0.5 * (g_prev[i] + g[i]) * (A[i] - A_prev[i]);
    }
    A_prev = A;
    g_prev = g;
  }
  if (mode == RsiGrad::guided)
    for (std::int64_t i = 0; i < G.numel(); ++i)
      if (!(A_prev[i] > 0 && G[i] > 0 && A_prev[i] - A0[i] > 0)) G[i] = 0;  // A_prev = A(x), A0 = A(x′)
  const std::int64_t K = G.dim(1), Z = G.dim(2) * G.dim(3);
  Tensor<double> map({N, G.dim(2), G.dim(3)});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      double w = 0;
      for (std::int64_t i = 0; i < Z; ++i) w += G[(n * K + k) * Z + i];
      w /= static_cast<double>(Z);
      for (std::int64_t i = 0; i < Z; ++i) map[n * Z + i] += w * A_prev[(n * K + k) * Z + i];  // A_prev = A(x)
    }
  return map;
}
}  // namespace

TEST_CASE("RSI Grad-CAM relu-gradients and guided variants match a closed-form reference", "[attribution][methods]") {
  const ToyCnn<double> shallow(3);
  const auto x = toy_input<double>();
  constexpr std::int64_t M = 10;
  const auto plain_ref = rsi_reference(shallow, x, M, RsiGrad::plain);
  const auto relu_ref = rsi_reference(shallow, x, M, RsiGrad::relu);
  const auto guided_ref = rsi_reference(shallow, x, M, RsiGrad::guided);
  // The options matter on this input: each reference differs from the others.
  REQUIRE(rel_err(relu_ref, plain_ref) > 1e-2);
  REQUIRE(rel_err(guided_ref, plain_ref) > 1e-2);
  REQUIRE(rel_err(guided_ref, relu_ref) > 1e-2);
  CHECK(rel_err(RsiGradCam<Post, double>(shallow, "relu", {.steps = M})(x).raw, plain_ref) < 1e-12);
  CHECK(rel_err(RsiGradCam<Post, double>(shallow, "relu", {.steps = M, .variant = RsiGradCamVariant::ReluGradients})(x).raw,
                relu_ref) < 1e-12);
  CHECK(rel_err(RsiGradCam<Post, double>(shallow, "relu", {.steps = M, .variant = RsiGradCamVariant::Guided})(x).raw,
                guided_ref) < 1e-12);
}

TEST_CASE("RSI Grad-CAM and Integrated Grad-CAM: batch sizes do not change the result", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>(3);
  const auto a = RsiGradCam<Post, double>(model, "relu", {.steps = 7, .batch_size = 1})(x);
  const auto b = RsiGradCam<Post, double>(model, "relu", {.steps = 7, .batch_size = 100})(x);
  REQUIRE(rel_err(a.raw, b.raw) < 1e-12);
  const auto c = IntegratedGradCam<Post, double>(model, "relu", {.steps = 7, .batch_size = 2})(x);
  const auto d = IntegratedGradCam<Post, double>(model, "relu", {.steps = 7, .batch_size = 64})(x);
  REQUIRE(rel_err(c.raw, d.raw) < 1e-12);
  // Integrated Grad-CAM is the sum of Grad-CAM maps along the path, each clamped at 0 by default
  // (the authors' code) or signed (variant): checked at M = 3 against Grad-CAM at each point
  const auto one = IntegratedGradCam<Pre, double>(model, "relu", {.steps = 3})(x);
  const auto one_signed = IntegratedGradCam<Pre, double>(model, "relu", {.steps = 3, .variant = IntegratedGradCamVariant::Signed})(x);
  Tensor<double> clamped(one.raw.shape()), sum(one.raw.shape());
  for (std::int64_t m = 0; m < 3; ++m) {
    Tensor<double> xm = x.clone();
    for (auto& v : xm) v *= static_cast<double>(m) / 3.0;
    const auto at = GradCam<Pre, double>(model, "relu")(xm, Target::per_image(one.classes));
    for (std::int64_t i = 0; i < sum.numel(); ++i) {
      sum[i] += at.raw[i];
      clamped[i] += std::max(at.raw[i], 0.0);
    }
  }
  REQUIRE(rel_err(one_signed.raw, sum) < 1e-12);
  REQUIRE(rel_err(one.raw, clamped) < 1e-12);
  REQUIRE(rel_err(clamped, sum) > 1e-3);  // the clamp matters on this input
}

TEST_CASE("Batch independence: image i alone equals image i inside the batch, every method", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>(3);
  check_batch_independence(GradCam<Post, double>(model, "relu"), x);
  check_batch_independence(GradCamPlus<Post, double>(model, "relu"), x);
  check_batch_independence(GradCamPlusPlus<Post, double>(model, "relu"), x);
  check_batch_independence(GradCamPlusPlus<Post, double>(model, "relu", {.variant = GradCamPPVariant::Paper}), x);
  check_batch_independence(GradCamPlusPlus<Post, double>(model, "relu", {.variant = GradCamPPVariant::ClosedForm}), x);
  check_batch_independence(GradCamPlusPlus<LogSoftmax, double>(model, "relu", {.jacobian_rows = 2}), x);
  check_batch_independence(GradCamPlusPlus<Centered, double>(model, "relu"), x);
  check_batch_independence(ScoreCam<Post, double>(model, "relu", {.variant = cam::ScoreCamWeighting::Softmax}), x);
  check_batch_independence(RsiGradCam<Post, double>(model, "relu", {.steps = 4, .variant = RsiGradCamVariant::Guided}), x);
  check_batch_independence(IntegratedGradCam<Post, double>(model, "relu", {.steps = 4, .variant = IntegratedGradCamVariant::Signed}), x);
  check_batch_independence(HiResCam<LogSoftmax, double>(model, "relu"), x);
  check_batch_independence(XGradCam<Pre, double>(model, "relu"), x);
  check_batch_independence(LayerCam<Post, double>(model, "relu"), x);
  check_batch_independence(ScoreCam<Post, double>(model, "relu", {.batch_size = 4}), x);
  check_batch_independence(RsiGradCam<Post, double>(model, "relu", {.steps = 6, .batch_size = 5}), x);
  check_batch_independence(IntegratedGradCam<Post, double>(model, "relu", {.steps = 6, .batch_size = 5}), x);
  check_batch_independence(Saliency<Post, double>(model, {.abs = true, .max_over_channels = true}), x);
  check_batch_independence(InputXGradient<LogSoftmax, double>(model), x);
  check_batch_independence(IntegratedGradients<Post, double>(model, {.steps = 6, .batch_size = 5}), x);
  check_batch_independence(SmoothGrad<Post, double>(model, {.samples = 5, .seed = 3, .batch_size = 4}), x);
}

TEST_CASE("Score-CAM: softmax weights sum to one, raw weights are the masked scores", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>();
  std::size_t calls = 0, last_total = 0, last_done = 0;
  const auto soft = ScoreCam<Pre, double>(model, "relu", {.batch_size = 4, .variant = cam::ScoreCamWeighting::Softmax,
                                                          .progress = [&](std::size_t d, std::size_t t) {
                                                    ++calls;
                                                    last_done = d;
                                                    last_total = t;
                                                  }})(x);
  REQUIRE(calls == 4);  // 2 images × ⌈6 channels / 4⌉
  REQUIRE(last_done == last_total);
  REQUIRE(soft.model_evaluations == 7);
  REQUIRE(soft.gradient_norm.empty());
  for (std::int64_t n = 0; n < 2; ++n) {
    double s = 0;
    for (std::int64_t k = 0; k < 6; ++k) s += soft.weights(n, k);
    REQUIRE(s == Approx(1).epsilon(1e-12));
  }
  const auto raw = ScoreCam<Pre, double>(model, "relu", {.variant = cam::ScoreCamWeighting::Raw})(x);
  // s_k = z_c(x ⊙ M_k), recomputed for one channel by hand
  const auto A = gradattr::testing::activation_at(model, x, "relu");
  const auto masks = cam::scorecam_masks(A, 8, 8);
  const auto xm = cam::masked_inputs(x, masks, 1, 2, 1);
  REQUIRE(raw.weights(1, 2) == Approx(model.forward(xm)(0, raw.classes[1])).epsilon(1e-13));
  // the default (the paper's increase): s_k − S(x_b), x_b = 0, one more forward
  const auto inc = ScoreCam<Pre, double>(model, "relu")(x);
  const auto zb = model.forward(Tensor<double>(x.shape()));
  REQUIRE(inc.model_evaluations == 8);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t k = 0; k < 6; ++k)
      REQUIRE(inc.weights(n, k) == Approx(raw.weights(n, k) - zb(n, raw.classes[static_cast<std::size_t>(n)])).margin(1e-13));
}

TEST_CASE("SmoothGrad: seeded, given noise, SmoothGrad² and VarGrad", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>();
  const auto a = SmoothGrad<Post, double>(model, {.samples = 6, .seed = 9})(x);
  const auto b = SmoothGrad<Post, double>(model, {.samples = 6, .seed = 9, .batch_size = 1})(x);
  const auto c = SmoothGrad<Post, double>(model, {.samples = 6, .seed = 10})(x);
  REQUIRE(rel_err(a.raw, b.raw) < 1e-13);
  REQUIRE(rel_err(a.raw, c.raw) > 1e-6);
  REQUIRE(a.model_evaluations == 7);
  // given noise: the mean of saliency maps at x + ε_s with the class of x
  std::vector<Tensor<double>> noise{random_tensor<double>(x.shape(), 1, -0.3, 0.3), random_tensor<double>(x.shape(), 2, -0.3, 0.3)};
  const auto g = SmoothGrad<LogSoftmax, double>(model, {.noise = noise})(x);
  Tensor<double> expect(x.shape());
  for (const auto& e : noise) {
    auto xe = x.clone();
    for (std::int64_t i = 0; i < x.numel(); ++i) xe[i] += e[i];
    const auto s = Saliency<LogSoftmax, double>(model)(xe, Target::per_image(g.classes));
    for (std::int64_t i = 0; i < x.numel(); ++i) expect[i] += s.raw[i] / 2;
  }
  REQUIRE(rel_err(g.raw, expect) < 1e-13);
  const auto sq = SmoothGrad<LogSoftmax, double>(model, {.variant = SmoothGradVariant::Squared, .noise = noise})(x);
  const auto var = SmoothGrad<LogSoftmax, double>(model, {.variant = SmoothGradVariant::VarGrad, .noise = noise})(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    REQUIRE(sq.raw[i] >= 0);
    REQUIRE(var.raw[i] == Approx(sq.raw[i] - g.raw[i] * g.raw[i]).margin(1e-15));
  }
}

TEST_CASE("Saliency and Input x Gradient; progress of path methods; result bookkeeping", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  const auto x = toy_input<double>();
  const auto s = Saliency<Post, double>(model)(x);
  const auto ixg = InputXGradient<Post, double>(model)(x);
  REQUIRE(s.raw.shape() == x.shape());
  REQUIRE(s.layer == "input");
  for (std::int64_t i = 0; i < x.numel(); ++i) REQUIRE(ixg.raw[i] == x[i] * s.raw[i]);
  // the displayed map: max_c |∂S/∂x| by default (Simonyan et al.), the channel sum for `signed`;
  // raw is the signed gradient for both
  const auto sg = Saliency<Post, double>(model, {.variant = SaliencyVariant::Signed})(x);
  REQUIRE(sg.raw.shape() == x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) REQUIRE(sg.raw[i] == s.raw[i]);
  Tensor<double> maxabs({2, 8, 8}), chsum({2, 8, 8});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 64; ++i)
      for (std::int64_t c = 0; c < 3; ++c) {
        maxabs[n * 64 + i] = std::max(maxabs[n * 64 + i], std::abs(s.raw[(n * 3 + c) * 64 + i]));
        chsum[n * 64 + i] += s.raw[(n * 3 + c) * 64 + i];
      }
  REQUIRE(rel_err(s.displayed(8, 8), display_map(maxabs, 8, 8)) < 1e-12);
  REQUIRE(rel_err(sg.displayed(8, 8), display_map(chsum, 8, 8)) < 1e-12);
  REQUIRE(rel_err(s.displayed(8, 8), sg.displayed(8, 8)) > 1e-3);
  const auto mx = Saliency<Post, double>(model, {.abs = true, .max_over_channels = true})(x);
  REQUIRE(mx.raw.shape() == Shape{2, 1, 8, 8});
  REQUIRE(mx.raw(1, 0, 3, 4) == std::max({std::abs(s.raw(1, 0, 3, 4)), std::abs(s.raw(1, 1, 3, 4)), std::abs(s.raw(1, 2, 3, 4))}));
  // the gradient norm is ‖∂S/∂x‖
  double n0 = 0;
  for (std::int64_t i = 0; i < 3 * 64; ++i) n0 += s.raw[i] * s.raw[i];
  REQUIRE(s.gradient_norm[0] == Approx(std::sqrt(n0)).epsilon(1e-13));
  std::vector<std::pair<std::size_t, std::size_t>> ticks;
  IntegratedGradients<Post, double>(model, {.steps = 10, .batch_size = 8, .progress = [&](std::size_t d, std::size_t t) {
                                      ticks.emplace_back(d, t);
                                    }})(x);
  // 10 points, 4 per call -> 3 calls, plus the baseline forward
  REQUIRE(ticks.size() == 4);
  REQUIRE(ticks.back() == std::make_pair(std::size_t{4}, std::size_t{4}));
}

TEST_CASE("Saturation is flagged when 1 − y_c < 1e-4", "[attribution][methods]") {
  const ToyCnn<double> model(5, true);
  auto x = toy_input<double>();
  for (auto& v : x) v *= 200;  // large activations -> a saturated softmax
  const auto r = GradCam<Post, double>(model, "relu")(x);
  bool any = false;
  for (std::size_t n = 0; n < 2; ++n) {
    REQUIRE(r.saturated[n] == (1 - r.probability[static_cast<std::int64_t>(n)] < 1e-4));
    any = any || r.saturated[n];
  }
  REQUIRE(any);
  REQUIRE_THAT(r.warning, Catch::Contains("saturated"));
  const auto calm = GradCam<Post, double>(model, "relu")(toy_input<double>());
  if (!calm.saturated[0] && !calm.saturated[1]) REQUIRE(calm.warning.empty());
}

TEST_CASE("One const functor and model shared by threads", "[attribution][methods]") {
  const ToyCnn<float> model(5, true);
  const auto x = toy_input<float>(2, 4);
  const RsiGradCam<Post> rsi(model, "relu", {.steps = 8});
  const auto ref = rsi(x);
  Attribution<float> r1, r2;
  std::thread t1([&] { r1 = rsi(x); });
  std::thread t2([&] { r2 = rsi(x); });
  t1.join();
  t2.join();
  REQUIRE_CLOSE(r1.raw, ref.raw, 0, 0);
  REQUIRE_CLOSE(r2.raw, ref.raw, 0, 0);
}

TEST_CASE("Float models agree with double ones", "[attribution][methods]") {
  const ToyCnn<double> md(5, true);
  const ToyCnn<float> mf(5, true);
  const auto xd = toy_input<double>();
  const auto xf = xd.cast<float>();
  REQUIRE(rel_err(GradCam<Post>(mf, "relu")(xf).raw.cast<double>(), GradCam<Post, double>(md, "relu")(xd).raw) < 1e-4);
  REQUIRE(rel_err(IntegratedGradients<LogSoftmax>(mf, {.steps = 8})(xf).raw.cast<double>(),
                  IntegratedGradients<LogSoftmax, double>(md, {.steps = 8})(xd).raw) < 1e-4);
}
