#pragma once
// AnyClassifier<T>: any Classifier (nn/classifier.hpp) behind one type, owning it. For programs
// that choose the model at run time (the CLI: a VGG from safetensors or a graph from ONNX): code
// written once against AnyClassifier<float> runs on either, and each model keeps its own fast
// paths (the call goes to the model's own forward). Copies share the model (it is immutable).
//
//   models::AnyClassifier<float> m{graph::GraphModel<float>(def)};
//   GradCam<score::Post> cam(m, m.default_cam_layer());
//
// The optional members (nn/classifier.hpp): attention_layers() (the model's, empty when it names
// none) and forward_tracked (the model's own, else nn::forward_tracked's chain).
// Beyond the interface: default_cam_layer() (the model's own, else its "last_conv" alias),
// layer_shape(name) (the activation's shape at batch 1, from one forward of a zero image),
// input_shape(), and get<M>() for the model itself.
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/models/classifier.hpp"

namespace gradattr::models {

template <class T>
class AnyClassifier {
 public:
  using scalar_type = T;

  // input_shape: [1, C, H, W], the shape the model takes (its batch is free).
  template <Classifier M>
    requires std::same_as<typename M::scalar_type, T> && (!std::same_as<std::decay_t<M>, AnyClassifier>)
  AnyClassifier(M model, Shape input_shape)
      : impl_(std::make_shared<const Impl<M>>(std::move(model))), input_shape_(input_shape) {}

  Tensor<T> forward(const Tensor<T>& x) const { return impl_->forward(x); }
  Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const { return impl_->forward_until(x, layer); }
  ad::Var<T> forward_from(const Cut<T>& cut, ad::Tape<T>& tape) const { return impl_->forward_from(cut, tape); }
  Cut<T> forward_between(const Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    return impl_->forward_between(cut, until, tape);
  }
  std::vector<std::string> layer_names() const { return impl_->layer_names(); }
  std::string resolve_layer(const std::string& name) const { return impl_->resolve_layer(name); }
  std::int64_t num_classes() const { return impl_->num_classes(); }
  std::string default_cam_layer() const { return impl_->default_cam_layer(); }
  std::vector<std::string> attention_layers() const { return impl_->attention_layers(); }
  nn::Tracked<T> forward_tracked(const Tensor<T>& x, const std::vector<std::string>& layers, ad::Tape<T>& tape,
                                 bool track = true) const {
    return impl_->forward_tracked(x, layers, tape, track);
  }

  const Shape& input_shape() const noexcept { return input_shape_; }
  // The activation shape at `layer` for one image (a forward of a zero image up to it).
  Shape layer_shape(const std::string& layer) const {
    return forward_until(Tensor<T>(input_shape_), layer).activation.shape();
  }

  // The model, if it is an M; else null.
  template <class M>
  const M* get() const noexcept {
    auto* p = dynamic_cast<const Impl<M>*>(impl_.get());
    return p ? &p->model : nullptr;
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual Tensor<T> forward(const Tensor<T>&) const = 0;
    virtual Cut<T> forward_until(const Tensor<T>&, const std::string&) const = 0;
    virtual ad::Var<T> forward_from(const Cut<T>&, ad::Tape<T>&) const = 0;
    virtual Cut<T> forward_between(const Cut<T>&, const std::string&, ad::Tape<T>&) const = 0;
    virtual std::vector<std::string> layer_names() const = 0;
    virtual std::string resolve_layer(const std::string&) const = 0;
    virtual std::int64_t num_classes() const = 0;
    virtual std::string default_cam_layer() const = 0;
    virtual std::vector<std::string> attention_layers() const = 0;
    virtual nn::Tracked<T> forward_tracked(const Tensor<T>&, const std::vector<std::string>&, ad::Tape<T>&,
                                           bool) const = 0;
  };
  template <class M>
  struct Impl final : Base {
    explicit Impl(M m) : model(std::move(m)) {}
    M model;
    Tensor<T> forward(const Tensor<T>& x) const override { return model.forward(x); }
    Cut<T> forward_until(const Tensor<T>& x, const std::string& l) const override { return model.forward_until(x, l); }
    ad::Var<T> forward_from(const Cut<T>& c, ad::Tape<T>& t) const override { return model.forward_from(c, t); }
    Cut<T> forward_between(const Cut<T>& c, const std::string& u, ad::Tape<T>& t) const override {
      return model.forward_between(c, u, t);
    }
    std::vector<std::string> layer_names() const override { return model.layer_names(); }
    std::string resolve_layer(const std::string& n) const override { return model.resolve_layer(n); }
    std::int64_t num_classes() const override { return static_cast<std::int64_t>(model.num_classes()); }
    std::string default_cam_layer() const override {
      if constexpr (requires { { model.default_cam_layer() } -> std::convertible_to<std::string>; })
        return model.default_cam_layer();
      else
        return model.resolve_layer("last_conv");
    }
    std::vector<std::string> attention_layers() const override { return nn::attention_layers(model); }
    nn::Tracked<T> forward_tracked(const Tensor<T>& x, const std::vector<std::string>& l, ad::Tape<T>& t,
                                   bool track) const override {
      return nn::forward_tracked(model, x, l, t, track);
    }
  };

  std::shared_ptr<const Base> impl_;
  Shape input_shape_;
};

}  // namespace gradattr::models
