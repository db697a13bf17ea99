#pragma once
// The skeleton every attribution method class shares, written once so that each class states
// only its maths. A method class derives from one of these and inherits its constructors
// (`using Base::Base;`):
//   MethodBase<Score, Options>       what every method holds: the model (a ClassifierRef), its
//                                    Options and its score policy; Method(model, options = {},
//                                    policy = {}).
//   LayerMethodBase<Score, Options>  the CAM methods': also the layer, by its canonical name
//                                    (layer()); Method(model, layer, options = {}, policy = {})
//                                    and Method(model, options = {}, policy = {}) for the model's
//                                    default CAM layer.
//   PathCalls<Method>                the path methods' two call forms, m(x, target = {}) and
//                                    m(x, target, baseline), both served by Method::run.
#include <string>
#include <utility>

#include "gradattr/attribution/detail/engine.hpp"

namespace gradattr::attr_detail {

template <class Score, class Opts>
class MethodBase {
 public:
  using Options = Opts;

  template <models::Classifier M>
  explicit MethodBase(const M& model, Options options = {}, Score policy = {})
      : model_(model), options_(std::move(options)), policy_(std::move(policy)) {}

 protected:
  ClassifierRef model_;
  Options options_;
  Score policy_;
};

template <class Score, class Opts>
class LayerMethodBase : public MethodBase<Score, Opts> {
 public:
  using Options = Opts;

  template <models::Classifier M>
  LayerMethodBase(const M& model, const std::string& layer, Options options = {}, Score policy = {})
      : MethodBase<Score, Opts>(model, std::move(options), std::move(policy)), layer_(model.resolve_layer(layer)) {}
  template <models::Classifier M>
  explicit LayerMethodBase(const M& model, Options options = {}, Score policy = {})
      : LayerMethodBase(model, default_cam_layer(model), std::move(options), std::move(policy)) {}

  const std::string& layer() const noexcept { return layer_; }

 protected:
  std::string layer_;
};

// Method declares `friend PathCalls<Method>;` and defines
//   template <class T> Attribution<T> run(const Tensor<T>& x, const Target&, const Tensor<T>* baseline) const
// where a null baseline means Options::baseline.
template <class Method>
class PathCalls {
 public:
  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    return static_cast<const Method&>(*this).run(x, target, static_cast<const Tensor<T>*>(nullptr));
  }
  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target, const Tensor<T>& baseline) const {
    return static_cast<const Method&>(*this).run(x, target, &baseline);
  }
};

}  // namespace gradattr::attr_detail
