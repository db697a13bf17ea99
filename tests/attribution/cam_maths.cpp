// The gradient CAM formulas (METHODS.md §2) on hand-computed 2-channel 2×2 cases, the
// GAP + linear toy where Grad-CAM equals CAM / Z, and the Post/LogSoftmax invariance.
#include "gradattr/attribution/cam_maths.hpp"

#include <cmath>
#include <vector>

#include "gradattr/core/parallel.hpp"

#include "gradattr/attribution/display.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

namespace {
// A[0] = [[1,2],[3,4]], A[1] = [[0,1],[1,0]];  g[0] = [[1,-1],[2,0]], g[1] = [[-2,0],[1,1]].
template <class T>
Tensor<T> hand_A() {
  return Tensor<T>({1, 2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0});
}
template <class T>
Tensor<T> hand_g() {
  return Tensor<T>({1, 2, 2, 2}, {1, -1, 2, 0, -2, 0, 1, 1});
}
}  // namespace

TEMPLATE_TEST_CASE("Grad-CAM, hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // w0 = (1 − 1 + 2 + 0)/4 = 0.5, w1 = (−2 + 0 + 1 + 1)/4 = 0
  REQUIRE_CLOSE(cam::gradcam_weights(g), Tensor<TestType>({1, 2}, {0.5, 0}), 0, 0);
  REQUIRE_CLOSE(cam::gradcam_map(A, g), Tensor<TestType>({1, 2, 2}, {0.5, 1, 1.5, 2}), 0, 0);
}

TEMPLATE_TEST_CASE("Grad-CAM+, hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // w0 = 1 + 2 = 3, w1 = 1 + 1 = 2; map = 3 A0 + 2 A1
  REQUIRE_CLOSE(cam::gradcam_plus_weights(g), Tensor<TestType>({1, 2}, {3, 2}), 0, 0);
  REQUIRE_CLOSE(cam::gradcam_plus_map(A, g), Tensor<TestType>({1, 2, 2}, {3, 8, 11, 12}), 0, 0);
}

TEMPLATE_TEST_CASE("HiResCAM and LayerCAM, hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // Σ_k g⊙A: [[1,−2],[6,0]] + [[0,0],[1,0]];  Σ_k ReLU(g)⊙A: [[1,0],[6,0]] + [[0,0],[1,0]]
  REQUIRE_CLOSE(cam::hirescam_map(A, g), Tensor<TestType>({1, 2, 2}, {1, -2, 7, 0}), 0, 0);
  REQUIRE_CLOSE(cam::layercam_map(A, g), Tensor<TestType>({1, 2, 2}, {1, 0, 7, 0}), 0, 0);
}

TEMPLATE_TEST_CASE("XGrad-CAM, hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // w0 = (1 − 2 + 6 + 0)/(10 + 1e-7), w1 = 1/(2 + 1e-7)
  const double w0 = 5 / (10 + 1e-7), w1 = 1 / (2 + 1e-7);
  REQUIRE_CLOSE(cam::xgradcam_weights(A, g), Tensor<TestType>({1, 2}, {TestType(w0), TestType(w1)}), 0, 1e-7);
  REQUIRE_CLOSE(cam::xgradcam_map(A, g),
                Tensor<TestType>({1, 2, 2}, {TestType(w0), TestType(2 * w0 + w1), TestType(3 * w0 + w1),
                                             TestType(4 * w0)}),
                0, 1e-7);
}

TEMPLATE_TEST_CASE("Grad-CAM++ (pytorch-grad-cam form), hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // s0 = 10: g = 1 -> α = 1/(2 + 10 + ε); g = 2 -> α = 4/(8 + 80 + ε), times ReLU(2); g = −1, 0 -> 0.
  // s1 = 2: g = 1 (twice) -> α = 1/(2 + 2 + ε); g = −2 -> ReLU = 0.
  const double e = 1e-6, w0 = 1 / (12 + e) + 2 * 4 / (88 + e), w1 = 2 / (4 + e);
  REQUIRE_CLOSE(cam::gradcam_pp_weights(A, g), Tensor<TestType>({1, 2}, {TestType(w0), TestType(w1)}), 0, 1e-7);
  REQUIRE_CLOSE(cam::gradcam_pp_map(A, g),
                Tensor<TestType>({1, 2, 2}, {TestType(w0), TestType(2 * w0 + w1), TestType(3 * w0 + w1),
                                             TestType(4 * w0)}),
                0, 1e-7);
}

TEMPLATE_TEST_CASE("Grad-CAM++ (paper form), hand-computed", "[attribution]", float, double) {
  const auto A = hand_A<TestType>(), g = hand_g<TestType>();
  // Channel 0, positive g only: α = 1/12 (g = 1), 1/22 (g = 2); Σα = 17/132; Σ α g = 23/132
  //   -> w0 = exp(S) · 23/17. Channel 1: α = 1/4, 1/4 (g = 1, 1) -> w1 = exp(S) · (1/2)/(1/2).
  const Tensor<TestType> S({1}, {TestType(std::log(2.0))});
  REQUIRE_CLOSE(cam::gradcam_pp_paper_unscaled_weights(A, g), Tensor<TestType>({1, 2}, {TestType(23.0 / 17), 1}), 0,
                1e-6);
  REQUIRE_CLOSE(cam::gradcam_pp_paper_weights(A, g, S), Tensor<TestType>({1, 2}, {TestType(46.0 / 17), 2}), 0, 1e-6);
  REQUIRE_CLOSE(cam::gradcam_pp_paper_map(A, g, S),
                Tensor<TestType>({1, 2, 2}, {TestType(46.0 / 17), TestType(92.0 / 17 + 2), TestType(138.0 / 17 + 2),
                                             TestType(184.0 / 17)}),
                0, 1e-6);
  // exp(S) is applied in log space: S = 200 stays finite in double (e^200 · 23/17).
  const Tensor<double> Sbig({1}, {200});
  const auto wbig = cam::gradcam_pp_paper_weights(hand_A<double>(), hand_g<double>(), Sbig);
  REQUIRE(wbig[0] == Approx(std::exp(200.0) * 23 / 17).epsilon(1e-12));
  // A channel with no positive gradient gets weight 0.
  const Tensor<TestType> gneg({1, 2, 2, 2}, {-1, -1, -1, -1, 0, 0, 0, 0});
  REQUIRE_CLOSE(cam::gradcam_pp_paper_weights(A, gneg, S), Tensor<TestType>({1, 2}, {0, 0}), 0, 0);
  REQUIRE_THROWS_AS(cam::gradcam_pp_paper_weights(A, g, Tensor<TestType>({2})), ShapeError);
}

TEST_CASE("Grad-CAM with Pre on GAP + linear equals CAM / Z", "[attribution]") {
  // z_c = Σ_k W_ck (1/Z) Σ_ij A_kij + b_c, so ∂z_c/∂A_kij = W_ck / Z for every ij.
  const std::int64_t N = 2, K = 3, H = 4, W = 5, C = 4, Z = H * W;
  const auto A = random_tensor<double>({N, K, H, W}, 21, 0, 2);
  const auto Wfc = random_tensor<double>({C, K}, 22);
  const std::int64_t cls[N] = {1, 3};
  Tensor<double> g({N, K, H, W}), cam_w({N, K});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      cam_w(n, k) = Wfc(cls[n], k);  // CAM (Zhou et al.): the class's fc weights
      for (std::int64_t ij = 0; ij < Z; ++ij) g[(n * K + k) * Z + ij] = Wfc(cls[n], k) / Z;
    }
  auto cam = cam::weighted_sum_map(A, cam_w);
  for (auto& v : cam) v /= Z;
  REQUIRE_CLOSE(cam::gradcam_map(A, g), cam, 1e-15, 1e-13);
  // g is constant over ij here, so HiResCAM coincides too; and the map sums to z_c − b_c.
  REQUIRE_CLOSE(cam::hirescam_map(A, g), cam, 1e-15, 1e-13);
  for (std::int64_t n = 0; n < N; ++n) {
    double zc = 0, sum = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      double mean = 0;
      for (std::int64_t ij = 0; ij < Z; ++ij) mean += A[(n * K + k) * Z + ij] / Z;
      zc += Wfc(cls[n], k) * mean;
    }
    const auto m = cam::gradcam_map(A, g);
    for (std::int64_t ij = 0; ij < Z; ++ij) sum += m[n * Z + ij];
    REQUIRE(sum == Approx(zc).epsilon(1e-12));
  }
}

TEMPLATE_TEST_CASE("normalised Post and LogSoftmax maps agree when g_post = y_c g_log, except Grad-CAM++",
                   "[attribution]", float, double) {
  using T = TestType;
  const std::int64_t N = 2, K = 4, H = 5, W = 5;
  const auto A = random_tensor<T>({N, K, H, W}, 31, 0, 1);  // post-ReLU activations
  const auto g_log = random_tensor<T>({N, K, H, W}, 32);
  const double yc[N] = {0.3, 0.85};
  auto g_post = g_log.clone();
  for (std::int64_t i = 0; i < g_post.numel(); ++i) g_post[i] = static_cast<T>(yc[i / (K * H * W)] * g_log[i]);
  // The display's ε = 1e-7 is not scale-free: (y r)/(y R + ε) − r/(R + ε) ≈ ε r (1 − y)/(y R²).
  const double tol = 2e-5;
  // The raw maps themselves differ by the factor y_c (to rounding).
  auto raw_post = cam::gradcam_map(A, g_post), raw_log = cam::gradcam_map(A, g_log);
  for (std::int64_t i = 0; i < raw_log.numel(); ++i) raw_log[i] = static_cast<T>(raw_log[i] * yc[i / (H * W)]);
  REQUIRE_CLOSE(raw_post, raw_log, 1e-6, 1e-5);

  auto shown = [](const Tensor<T>& raw) { return display_map(raw, 10, 10); };
  SECTION("Grad-CAM") { REQUIRE_CLOSE(shown(cam::gradcam_map(A, g_post)), shown(cam::gradcam_map(A, g_log)), tol, 0); }
  SECTION("Grad-CAM+") {
    REQUIRE_CLOSE(shown(cam::gradcam_plus_map(A, g_post)), shown(cam::gradcam_plus_map(A, g_log)), tol, 0);
  }
  SECTION("HiResCAM") { REQUIRE_CLOSE(shown(cam::hirescam_map(A, g_post)), shown(cam::hirescam_map(A, g_log)), tol, 0); }
  SECTION("XGrad-CAM") { REQUIRE_CLOSE(shown(cam::xgradcam_map(A, g_post)), shown(cam::xgradcam_map(A, g_log)), tol, 0); }
  SECTION("LayerCAM") { REQUIRE_CLOSE(shown(cam::layercam_map(A, g_post)), shown(cam::layercam_map(A, g_log)), tol, 0); }
  SECTION("Grad-CAM++ differs: α = g²/(2g² + s g³) is not invariant to scaling g") {
    const auto a = shown(cam::gradcam_pp_map(A, g_post)), b = shown(cam::gradcam_pp_map(A, g_log));
    double worst = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    INFO("largest difference of the displayed maps: " << worst);
    REQUIRE(worst > 1e-3);  // two orders above the invariant methods' tolerance
    // The raw Post map is not y_c times the LogSoftmax one either.
    const auto wp = cam::gradcam_pp_weights(A, g_post), wl = cam::gradcam_pp_weights(A, g_log);
    REQUIRE(std::abs(double(wp(0, 0)) / double(wl(0, 0)) - double(wp(0, 1)) / double(wl(0, 1))) > 1e-3);
  }
}

TEST_CASE("CAM maths rejects mismatched shapes", "[attribution]") {
  const Tensor<float> A({1, 2, 3, 3}), g({1, 2, 3, 4});
  REQUIRE_THROWS_AS(cam::gradcam_pp_weights(A, g), ShapeError);
  REQUIRE_THROWS_AS(cam::hirescam_map(A, g), ShapeError);
  REQUIRE_THROWS_AS(cam::gradcam_weights(Tensor<float>({2, 3})), ShapeError);
  REQUIRE_THROWS_AS(cam::weighted_sum_map(A, Tensor<float>({1, 3})), ShapeError);
}

TEST_CASE("CAM maths is per image: a batch equals its images alone", "[attribution]") {
  const auto A = random_tensor<float>({3, 4, 3, 3}, 41, 0, 1), g = random_tensor<float>({3, 4, 3, 3}, 42);
  const auto m = cam::gradcam_pp_map(A, g), l = cam::layercam_map(A, g);
  for (std::int64_t n = 0; n < 3; ++n) {
    REQUIRE_CLOSE(cam::gradcam_pp_map(A.slice_batch(n), g.slice_batch(n)), m.slice_batch(n), 0, 0);
    REQUIRE_CLOSE(cam::layercam_map(A.slice_batch(n), g.slice_batch(n)), l.slice_batch(n), 0, 0);
  }
}

TEST_CASE("CAM maths gives the same bits with 1 and 2 threads", "[attribution]") {
  const auto A = random_tensor<float>({3, 8, 5, 5}, 43, 0, 1), g = random_tensor<float>({3, 8, 5, 5}, 44);
  auto run = [&] {
    return std::vector<Tensor<float>>{cam::gradcam_map(A, g), cam::gradcam_pp_map(A, g), cam::xgradcam_map(A, g),
                                      cam::hirescam_map(A, g), cam::layercam_map(A, g),
                                      display_map(cam::layercam_map(A, g), 17, 17)};
  };
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run();
  omp_set_num_threads(2);
  const auto two = run();
  omp_set_num_threads(before);
  for (std::size_t i = 0; i < one.size(); ++i) REQUIRE_CLOSE(one[i], two[i], 0, 0);
#else
  SUCCEED("built without OpenMP");
#endif
}
