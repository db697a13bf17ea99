#pragma once
// The skeleton every attribution method class shares, written once so that each class states
// only its maths. A method class derives from one of these and inherits its constructors
// (`using Base::Base;`):
//   MethodBase<Score, T, Options>       what every method holds: a view of the model (a
//                                       ClassifierRef<T>), its Options and its score policy;
//                                       Method(model, options = {}, policy = {}).
//   LayerMethodBase<Score, T, Options>  the CAM methods': also the layer, by its canonical name
//                                       (layer()); Method(model, layer, options = {}, policy = {})
//                                       and Method(model, options = {}, policy = {}) for the
//                                       model's default CAM layer.
//   PathCalls<Method, T>                the path methods' two call forms, m(x, target = {}) and
//                                       m(x, target, baseline), both served by Method::run.
//
// Two mistakes do not compile (tests/compile_fail):
//   - a model whose scalar type is not the method's T (`GradCam<Post>` computes in float; a
//     double model needs `GradCam<Post, double>`), and so an input of the other type;
//   - a temporary model (`GradCam<Post> cam(models::vgg<float>(...), ...)`): the method keeps a
//     view of the model, which would dangle. Keep the model in a variable that outlives it.
#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include "gradattr/attribution/detail/engine.hpp"

namespace gradattr::attr_detail {

// The checks of a method's model argument M (as deduced by a forwarding reference), as
// static_asserts so that the compiler says what is wrong.
template <class M, class T>
constexpr void check_model_argument() {
  static_assert(std::is_same_v<typename std::remove_cvref_t<M>::scalar_type, T>,
                "the model's scalar type is not the method's: GradCam<Score> computes in float; for a double model "
                "write GradCam<Score, double> (and so for every method)");
  static_assert(std::is_lvalue_reference_v<M>,
                "an attribution method keeps a view of its model: construct it from a model variable that outlives "
                "it, not from a temporary");
}

template <class Score, class T, class Opts>
class MethodBase {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "methods compute in float or double");

 public:
  using Options = Opts;
  using scalar_type = T;

  template <class M>
    requires models::Classifier<std::remove_cvref_t<M>>
  explicit MethodBase(M&& model, Options options = {}, Score policy = {})
      : model_((check_model_argument<M, T>(), model)), options_(std::move(options)), policy_(std::move(policy)) {}

 protected:
  ClassifierRef<T> model_;
  Options options_;
  Score policy_;
};

template <class Score, class T, class Opts>
class LayerMethodBase : public MethodBase<Score, T, Opts> {
 public:
  using Options = Opts;

  template <class M>
    requires models::Classifier<std::remove_cvref_t<M>>
  LayerMethodBase(M&& model, const std::string& layer, Options options = {}, Score policy = {})
      : MethodBase<Score, T, Opts>(std::forward<M>(model), std::move(options), std::move(policy)),
        layer_(model.resolve_layer(layer)) {}
  template <class M>
    requires models::Classifier<std::remove_cvref_t<M>>
  explicit LayerMethodBase(M&& model, Options options = {}, Score policy = {})
      : LayerMethodBase(std::forward<M>(model), default_cam_layer(model), std::move(options), std::move(policy)) {}

  const std::string& layer() const noexcept { return layer_; }

 protected:
  std::string layer_;
};

// Method declares `friend PathCalls<Method, T>;` and defines
//   Attribution<T> run(const Tensor<T>& x, const Target&, const Tensor<T>* baseline) const
// where a null baseline means Options::baseline.
template <class Method, class T>
class PathCalls {
 public:
  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    return static_cast<const Method&>(*this).run(x, target, nullptr);
  }
  Attribution<T> operator()(const Tensor<T>& x, const Target& target, const Tensor<T>& baseline) const {
    return static_cast<const Method&>(*this).run(x, target, &baseline);
  }
};

}  // namespace gradattr::attr_detail
