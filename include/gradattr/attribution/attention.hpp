#pragma once
// The attention methods (docs/methods.md, "Attention methods"), for models with attention
// layers (a Vision Transformer), each a class template on the score space like every method:
//
//   AttentionRollout<Post> ro(vit);          // ArgumentError: a model without attention layers
//   Attribution<float> r = ro(x);            // raw [N, s, s]: the class token's row over the patches
//   AttentionRelevance<LogSoftmax> rel(vit);  auto r7 = rel(x, 7);
//
//   AttentionRollout    Abnar & Zuidema 2020 (attn::rollout_map). No gradient: the map does not
//                       depend on the class or on the score space, which only choose the target
//                       whose score fields the result reports. It is a class template on the
//                       score space so that every method is run the same way (run_method).
//   AttentionRelevance  Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability"
//                       (attn::relevance_map), with ∇A_l = ∂S/∂A_l for the policy's S: the score
//                       space matters, as for the gradient CAMs.
//
// The model is seen only through the model interface (nn/classifier.hpp): attention_layers()
// names each block's attention probabilities, nn::forward_tracked exposes them as values of a
// tape, and one backward sweep from the seed ∂S/∂z gives every ∂S/∂A_l (total derivatives: the
// paths through later blocks count, as a PyTorch hook on the attention tensor reports).
// Cost: one forward (recorded from the first attention layer on for the relevance, not recorded
// for the rollout) and, for the relevance, one backward: model_evaluations = 1.
// Errors: ArgumentError at construction for a model without attention layers (naming the
// method); ShapeError / ArgumentError for a bad input as the other methods.
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradattr/attribution/attention_maths.hpp"
#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/target.hpp"
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

enum class AttentionKind { Rollout, Relevance };

struct AttentionOptions {
  bool check_finite = true;  // reject NaN / infinity in the input (ArgumentError)
};

constexpr const char* method_name(AttentionKind k) noexcept {
  return k == AttentionKind::Rollout ? "rollout" : "attention-relevance";
}

// The layer name the attention methods report in Attribution::layer.
inline constexpr const char* kAttentionLayers = "attention";

template <ScoreSpace Score, AttentionKind Kind, class T = float>
class AttentionMethod : public attr_detail::MethodBase<Score, T, AttentionOptions> {
  using Base = attr_detail::MethodBase<Score, T, AttentionOptions>;
  using Base::model_, Base::options_, Base::policy_;

 public:
  using Options = AttentionOptions;

  template <class M>
  requires models::Classifier<std::remove_cvref_t<M>>
  explicit AttentionMethod(M&& model, Options options = {}, Score policy = {})
      : Base(std::forward<M>(model), std::move(options), std::move(policy)), layers_(model_.attention_layers()) {
    if (layers_.empty())
      throw ArgumentError(std::string(method_name(Kind)) +
                          ": the model has no attention layers (attention methods need a Vision Transformer: a "
                          "softmax(q k^T) whose output multiplies V); use a CAM or an input method");
  }

  // The attention probabilities used, one layer name per block in network order.
  const std::vector<std::string>& attention_layers() const noexcept { return layers_; }
  const Options& options() const noexcept { return options_; }

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = method_name(Kind);
    attr_detail::check_input(x, options_.check_finite, who);
    constexpr bool kGradient = Kind == AttentionKind::Relevance;
    ad::Tape<T> tape;
    const nn::Tracked<T> tr = model_.forward_tracked(x, layers_, tape, kGradient);
    const Tensor<T>& z = tr.logits.value();
    const std::int64_t N = x.dim(0);
    if (z.rank() != 2 || z.dim(0) != N)
      throw ShapeError(who + ": the model's logits " + z.shape().str() + " do not match the batch " + x.shape().str());
    const std::vector<std::int64_t> classes = target.resolve(z, who);
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, z, classes, who, kAttentionLayers);
    std::vector<Tensor<T>> attn;
    for (const ad::Var<T>& v : tr.values) attn.push_back(v.value());
    if constexpr (!kGradient) {
      r.raw = attn::rollout_map(attn, N, layers_, who);
    } else {
      std::vector<Tensor<T>> g;
      if (tr.logits.tracked()) {
        g = ad::grad_once(tape, tr.logits, tr.values, policy_.seed(z, classes));
      } else {  // the logits do not depend on the attention
        for (const Tensor<T>& a : attn) g.push_back(Tensor<T>(a.shape()));
      }
      r.raw = attn::relevance_map(attn, g, N, layers_, who);
      // ‖∂S/∂A‖₂ per image over every attention layer (batch-major: image n's rows are contiguous).
      r.gradient_norm.assign(static_cast<std::size_t>(N), 0.0);
      for (const Tensor<T>& gl : g) {
        const std::int64_t per = gl.numel() / N;
        for (std::int64_t i = 0; i < gl.numel(); ++i)
          r.gradient_norm[static_cast<std::size_t>(i / per)] += static_cast<double>(gl[i]) * static_cast<double>(gl[i]);
      }
      for (double& v : r.gradient_norm) v = std::sqrt(v);
    }
    r.model_evaluations = 1;
    return r;
  }

 private:
  std::vector<std::string> layers_;
};

template <ScoreSpace Score = Post, class T = float>
using AttentionRollout = AttentionMethod<Score, AttentionKind::Rollout, T>;
template <ScoreSpace Score = Post, class T = float>
using AttentionRelevance = AttentionMethod<Score, AttentionKind::Relevance, T>;

}  // namespace gradattr
