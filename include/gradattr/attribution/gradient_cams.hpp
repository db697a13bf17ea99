#pragma once
// The gradient CAM methods (docs/methods.md §2) as functors, each a class template on its score
// space:
//
//   GradCam<Post> cam(model, "features.35");      // or GradCam<Post> cam(model): default layer
//   Attribution<float> r = cam(x);                // x [N, C, H, W]; top class per image
//   auto r7 = cam(x, 7);  auto rn = cam(x, Target::per_image({5, 8}));
//   GradCam<Post, double> cam64(model64, "features.35");   // a double model: say so in the type
//
//   GradCam, GradCamPlus (positive gradients), GradCamPlusPlus (Options::variant: exact α by
//   default, closed-form, paper; for Post/LogSoftmax the exact α needs the head's Jacobian, one
//   more head pass per ⌈classes/jacobian_rows⌉ per image),
//   HiResCam, XGradCam, LayerCam.
//
// Cost: one unrecorded forward_until(x, layer) and one recorded pass through the head
// (forward_from + backward from the logits to the activation only) — model_evaluations = 1.
// The maths is cam_maths.hpp's. Raw maps [N, H, W] at the layer, signed.
// Thread safety: operator() is const; each call has its own tape.
// Errors: ShapeError for an input that is not [N, C, H, W]; ArgumentError for NaN/inf in the
// input (unless Options::check_finite = false), a bad target, a layer without spatial dims,
// an unknown layer (from the model), or an input type that is not the model's scalar type.
#include <cmath>
#include <string>
#include <utility>

#include "gradattr/attribution/cam_maths.hpp"
#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/head_jacobian.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/target.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

enum class GradientCamKind { GradCam, GradCamPlus, GradCamPlusPlus, HiResCam, XGradCam, LayerCam };

template <GradientCamKind K>
struct GradientCamOptions {
  bool check_finite = true;  // reject NaN / infinity in the input (ArgumentError)
};
// Grad-CAM++'s variants (docs/methods.md §2; the rows of GRADATTR_VARIANTS in runtime.hpp, in
// this order):
enum class GradCamPPVariant {
  Exact,       // α from the exact S', S'', S''' of the policy (cam::gradcam_pp_exact_weights)
  ClosedForm,  // pytorch-grad-cam: α = g²/(2g² + s_k g³ + 1e-6) (cam::gradcam_pp_weights)
  Paper,       // the authors' code: α normalised per channel, times exp(S) (cam::gradcam_pp_paper_*)
};
template <>
struct GradientCamOptions<GradientCamKind::GradCamPlusPlus> {
  bool check_finite = true;
  GradCamPPVariant variant = GradCamPPVariant::Exact;
  std::int64_t jacobian_rows = 64;  // exact α, Post/LogSoftmax: head rows per pass of class seeds
};

constexpr const char* method_name(GradientCamKind k) noexcept {
  switch (k) {
    case GradientCamKind::GradCam: return "gradcam";
    case GradientCamKind::GradCamPlus: return "gradcam+";
    case GradientCamKind::GradCamPlusPlus: return "gradcam++";
    case GradientCamKind::HiResCam: return "hirescam";
    case GradientCamKind::XGradCam: return "xgradcam";
    case GradientCamKind::LayerCam: return "layercam";
  }
  return "?";
}

template <ScoreSpace Score, GradientCamKind Kind, class T = float>
class GradientCam : public attr_detail::LayerMethodBase<Score, T, GradientCamOptions<Kind>> {
  using Base = attr_detail::LayerMethodBase<Score, T, GradientCamOptions<Kind>>;
  using Base::model_, Base::layer_, Base::options_, Base::policy_;

 public:
  using Options = GradientCamOptions<Kind>;
  using Base::Base;

  const Options& options() const noexcept { return options_; }

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = method_name(Kind);
    attr_detail::check_input(x, options_.check_finite, who);
    Attribution<T> r;
    const auto pass = attr_detail::pass_at_x(r, model_, layer_, x, policy_, target, who);
    const Tensor<T>& A = pass.A();
    const auto& head = pass.head;
    const Tensor<T>& g = head.g;
    if constexpr (Kind == GradientCamKind::GradCam) {
      r.weights = cam::gradcam_weights(g);
    } else if constexpr (Kind == GradientCamKind::GradCamPlus) {
      r.weights = cam::gradcam_plus_weights(g);
    } else if constexpr (Kind == GradientCamKind::GradCamPlusPlus) {
      r.weights = gradcam_pp(r, pass, who);
    } else if constexpr (Kind == GradientCamKind::XGradCam) {
      r.weights = cam::xgradcam_weights(A, g);
    }
    if constexpr (Kind == GradientCamKind::HiResCam)
      r.raw = cam::hirescam_map(A, g);
    else if constexpr (Kind == GradientCamKind::LayerCam)
      r.raw = cam::layercam_map(A, g);
    else
      r.raw = cam::weighted_sum_map(A, r.weights);
    r.gradient_norm = attr_detail::row_norms(g);
    r.model_evaluations = 1;
    return r;
  }

 private:
  // Grad-CAM++'s weights for the chosen variant. Exact: S'' = S''' = 0 for a score linear in the
  // logits; from the head's Jacobian cumulants for a softmax score (Post, LogSoftmax); a policy
  // that gives neither falls back to the closed form, with a warning in r.
  Tensor<T> gradcam_pp(Attribution<T>& r, const attr_detail::PassAtX<T>& pass, const std::string& who) const {
    const Tensor<T>& A = pass.A();
    const auto& head = pass.head;
    switch (options_.variant) {
      case GradCamPPVariant::ClosedForm: return cam::gradcam_pp_weights(A, head.g);
      case GradCamPPVariant::Paper: return cam::gradcam_pp_paper_weights(A, head.g, head.score);
      case GradCamPPVariant::Exact: break;
    }
    if constexpr (score::LinearInLogits<Score>) {
      return cam::gradcam_pp_exact_weights(A, head.g);
    } else if constexpr (score::SoftmaxDerivatives<Score>) {
      const auto cum = attr_detail::softmax_jacobian_cumulants(model_, pass.cut, head.z, pass.classes, options_.jacobian_rows);
      const auto P = A.shape().stride(0);
      const Tensor<double> log_yc = score::LogSoftmax::score(head.z.template cast<double>(), pass.classes);
      Tensor<T> d1 = Tensor<T>::uninitialized(A.shape());
      Tensor<double> d2 = Tensor<double>::uninitialized(A.shape()), d3 = Tensor<double>::uninitialized(A.shape());
      for (std::int64_t i = 0; i < A.numel(); ++i) {
        const double yc = std::exp(log_yc[i / P]);
        const score::ScoreDerivatives d = Score::along_linear_logits(cum.l1[i], cum.k2[i], cum.k3[i], yc);
        d1[i] = static_cast<T>(d.d1);
        d2[i] = d.d2;
        d3[i] = d.d3;
      }
      return cam::gradcam_pp_exact_weights(A, d1, d2, d3);
    } else {
      const std::string note = who + ": the score space '" + std::string(Score::name) +
                               "' gives no second and third derivatives; the closed-form alpha was used "
                               "(exact only for a score linear in the logits)";
      r.warning = r.warning.empty() ? note : r.warning + "; " + note;
      return cam::gradcam_pp_weights(A, head.g);
    }
  }
};

template <ScoreSpace Score = Post, class T = float>
using GradCam = GradientCam<Score, GradientCamKind::GradCam, T>;
template <ScoreSpace Score = Post, class T = float>
using GradCamPlus = GradientCam<Score, GradientCamKind::GradCamPlus, T>;
template <ScoreSpace Score = Post, class T = float>
using GradCamPlusPlus = GradientCam<Score, GradientCamKind::GradCamPlusPlus, T>;
template <ScoreSpace Score = Post, class T = float>
using HiResCam = GradientCam<Score, GradientCamKind::HiResCam, T>;
template <ScoreSpace Score = Post, class T = float>
using XGradCam = GradientCam<Score, GradientCamKind::XGradCam, T>;
template <ScoreSpace Score = Post, class T = float>
using LayerCam = GradientCam<Score, GradientCamKind::LayerCam, T>;

}  // namespace gradattr
