// Score-CAM's masks (pytorch-grad-cam's convention) and weights.
#include "gradattr/attribution/score_cam_maths.hpp"
#include "gradattr/score/policies.hpp"

#include <cmath>

#include "gradattr/kernels/upsample.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

TEST_CASE("Score-CAM masks, pytorch-grad-cam convention: aligned corners, (u − min)/(max − min + 1e-8)",
          "[attribution]") {
  // [[0,1],[2,3]] to 3×3 with aligned corners: the corners stay, the rest interpolates.
  const Tensor<double> A({1, 2, 2, 2}, {0, 1, 2, 3, 7, 7, 7, 7});
  const auto M = cam::scorecam_masks(A, 3, 3, cam::ScoreCamMaskOptions::pytorch_grad_cam());
  const double r = 3 + 1e-8;
  const Tensor<double> expected({1, 1, 3, 3}, {0, 0.5 / r, 1 / r, 1 / r, 1.5 / r, 2 / r, 2 / r, 2.5 / r, 3 / r});
  REQUIRE_CLOSE(M.reshape({2, 1, 3, 3}).slice_batch(0), expected, 1e-15, 1e-14);
  // A constant channel gives an all-zero mask, not 0/0.
  for (std::int64_t i = 9; i < 18; ++i) REQUIRE(M[i] == 0.0);
}

TEST_CASE("Score-CAM masks by default: half-pixel upsampling (kernels::upsample_bilinear), ε = 1e-7",
          "[attribution]") {
  const auto A = random_tensor<float>({2, 3, 4, 4}, 71);
  const auto M = cam::scorecam_masks(A, 9, 7);
  auto up = Tensor<float>::uninitialized({2, 3, 9, 7});
  kernels::upsample_bilinear(up, A);
  for (std::int64_t p = 0; p < 6; ++p) {
    float mn = up[p * 63], mx = up[p * 63];
    for (std::int64_t i = 0; i < 63; ++i) mn = std::min(mn, up[p * 63 + i]), mx = std::max(mx, up[p * 63 + i]);
    for (std::int64_t i = 0; i < 63; ++i)
      REQUIRE(M[p * 63 + i] == Approx((up[p * 63 + i] - mn) / (double(mx) - mn + 1e-7)).margin(1e-6));
  }
  // Every mask spans [0, 1).
  const auto Ma = cam::scorecam_masks(A, 8, 8, cam::ScoreCamMaskOptions::pytorch_grad_cam());
  for (std::int64_t p = 0; p < 6; ++p) {
    const auto [lo, hi] = std::minmax_element(Ma.data() + p * 64, Ma.data() + (p + 1) * 64);
    REQUIRE(*lo == 0.0f);
    REQUIRE(*hi == Approx(1.0f).margin(1e-6));
  }
}

TEST_CASE("Score-CAM masked inputs and weights", "[attribution]") {
  const auto x = random_tensor<double>({2, 3, 4, 4}, 81);
  const auto M = cam::scorecam_masks(random_tensor<double>({2, 5, 2, 2}, 82), 4, 4);
  const auto xm = cam::masked_inputs(x, M, 1, 2, 3);
  REQUIRE(xm.shape() == Shape{3, 3, 4, 4});
  for (std::int64_t j = 0; j < 3; ++j)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t i = 0; i < 16; ++i) REQUIRE(xm[(j * 3 + c) * 16 + i] == x[(3 + c) * 16 + i] * M[(5 + 2 + j) * 16 + i]);
  REQUIRE_THROWS_AS(cam::masked_inputs(x, M, 1, 4, 2), ArgumentError);

  const Tensor<double> s({2, 2}, {0, std::log(3.0), 5, 5});
  REQUIRE_CLOSE(cam::scorecam_weights(s, cam::ScoreCamWeighting::Softmax), Tensor<double>({2, 2}, {0.25, 0.75, 0.5, 0.5}), 1e-15,
                1e-14);
  REQUIRE_CLOSE(cam::scorecam_weights(s, cam::ScoreCamWeighting::Raw), s, 0, 0);
  // the paper's increase over the baseline score S(x_b), one per image
  REQUIRE_CLOSE(cam::scorecam_weights(s, cam::ScoreCamWeighting::Increase, Tensor<double>({2}, {1, -2})),
                Tensor<double>({2, 2}, {-1, std::log(3.0) - 1, 7, 7}), 0, 0);
  REQUIRE_THROWS_AS(cam::scorecam_weights(s, cam::ScoreCamWeighting::Increase), ShapeError);
  // Softmax is stable for large scores.
  const auto big = cam::scorecam_weights(Tensor<float>({1, 2}, {1e30f, 0}), cam::ScoreCamWeighting::Softmax);
  REQUIRE(big[0] == 1.0f);
  REQUIRE(big[1] == 0.0f);
}

// softmax_k(log y_c(x ⊙ M_k)) = y_c(x ⊙ M_k) / Σ_k′ y_c(x ⊙ M_k′) (docs/methods.md §2): the
// softmax over channels of LogSoftmax scores is the Post scores normalised to sum 1. On
// log-probabilities of random logits, so that the identity is about the weights, not a model.
TEST_CASE("Score-CAM: softmax of log-probability scores is the probabilities normalised", "[attribution]") {
  const auto z = random_tensor<double>({7, 5}, 3, -4, 4);  // the logits of K = 7 masked inputs
  const std::vector<std::int64_t> c(7, 2);
  const auto log_s = LogSoftmax::score(z, c), post_s = Post::score(z, c);
  const auto w = cam::scorecam_weights(log_s.reshape({1, 7}), cam::ScoreCamWeighting::Softmax);
  double total = 0;
  for (std::int64_t k = 0; k < 7; ++k) total += post_s[k];
  for (std::int64_t k = 0; k < 7; ++k) REQUIRE(w[k] == Approx(post_s[k] / total).epsilon(1e-14));
}
