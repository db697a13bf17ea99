#pragma once
// The VGG family in torchvision's layout (torchvision.models.vgg, without batch norm):
//
//   features    for each entry of the cfg: a width w -> Conv2d(prev, w, 3x3, pad 1), ReLU;
//               'M' -> MaxPool2d(2x2, stride 2)
//   avgpool     AdaptiveAvgPool2d(7x7): PyTorch's adaptive windows, so for inputs below 224 the
//               last feature map (e.g. 2x2 at 64x64) is upsampled by replication to 7x7
//   flatten     torch.flatten(x, 1) (a module here; torchvision calls it in forward())
//   classifier  for each hidden width h: Linear(prev, h), ReLU, Dropout; then Linear(prev, classes)
//
// Cfgs (torchvision's A/B/D/E, 'M' = max-pool):
//   11: 64 M 128 M 256 256 M 512 512 M 512 512 M
//   13: 64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
//   16: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
//   19: 64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M
//
// Layer names (torchvision's module names): "features.0" ... (one index per conv, ReLU and pool,
// so VGG19's are features.0 ... features.36), "avgpool", "flatten", "classifier.0" ...
// (Linear, ReLU, Dropout per hidden layer: classifier.0/.3/.6 are the Linear layers of the
// standard 2-hidden-layer head). Parameters: "<layer>.weight", "<layer>.bias" (torchvision's
// state_dict names).
// Aliases (Keras-style, 1-based blocks = the runs of convs between pools):
//   block{b}_conv{i}, conv{b}_{i}   the ReLU after the i-th conv of block b. Keras convolutions
//                                   include their activation, so their output is this ReLU's.
//                                   (VGG19: block5_conv4 = conv5_4 = features.35.)
//   block{b}_pool                   the max-pool ending block b (block5_pool = features.36).
//   features, last_conv             the last ReLU of the feature extractor (features.35 in
//                                   VGG19): the usual Grad-CAM layer, NOT the last pool.
//
// Initialisation (vgg(), as torchvision's VGG.__init__): conv weights Kaiming-normal
// (fan_out, ReLU), linear weights N(0, 0.01), biases zero; drawn in layer order from one
// std::mt19937_64 seeded by the caller (nn/init.hpp).
// Inputs: [N, in_channels, H, W] with H, W >= 2^pools (32 for the standard cfgs); a smaller
// input is a ShapeError naming the first layer that cannot take it.
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/nn/init.hpp"
#include "gradattr/nn/layers.hpp"
#include "gradattr/nn/sequential.hpp"

namespace gradattr::models {

inline constexpr std::int64_t kVggPool = 0;  // 'M' in a cfg

// torchvision's cfg for depth 11, 13, 16 or 19 (ArgumentError otherwise).
inline std::vector<std::int64_t> vgg_cfg(int depth) {
  constexpr std::int64_t M = kVggPool;
  switch (depth) {
    case 11: return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 13: return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 16: return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
    case 19:
      return {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
    default: throw ArgumentError("vgg: depth must be 11, 13, 16 or 19, got " + std::to_string(depth));
  }
}

// A VGG architecture: any widths, head and class count.
struct VggConfig {
  std::vector<std::int64_t> features = vgg_cfg(19);  // conv widths and kVggPool, in order
  std::int64_t in_channels = 3;
  std::int64_t pool_size = 7;                         // avgpool output side
  std::vector<std::int64_t> hidden = {4096, 4096};    // classifier hidden widths
  std::int64_t num_classes = 1000;

  // 11, 13, 16 or 19 when the conv/pool pattern is a standard cfg's (widths aside), else 0.
  int depth() const {
    for (int d : {11, 13, 16, 19}) {
      const auto ref = vgg_cfg(d);
      bool same = ref.size() == features.size();
      for (std::size_t i = 0; same && i < ref.size(); ++i) same = (ref[i] == kVggPool) == (features[i] == kVggPool);
      if (same) return d;
    }
    return 0;
  }
  int pools() const {
    int n = 0;
    for (auto v : features) n += v == kVggPool;
    return n;
  }
  // Checks every field; ArgumentError naming the bad one.
  void validate() const {
    if (features.empty() || features[0] == kVggPool) throw ArgumentError("VggConfig: features must start with a conv");
    for (auto v : features)
      if (v < 0) throw ArgumentError("VggConfig: negative width " + std::to_string(v));
    if (in_channels < 1) throw ArgumentError("VggConfig: in_channels must be >= 1");
    if (pool_size < 1) throw ArgumentError("VggConfig: pool_size must be >= 1");
    for (auto h : hidden)
      if (h < 1) throw ArgumentError("VggConfig: hidden widths must be >= 1");
    if (num_classes < 1) throw ArgumentError("VggConfig: num_classes must be >= 1");
  }
};

struct VggOptions {
  double width_scale = 1.0;                         // conv widths max(1, round(w · scale))
  std::int64_t in_channels = 3;
  std::vector<std::int64_t> hidden = {4096, 4096};  // classifier hidden widths
  std::int64_t num_classes = 1000;
  std::uint64_t seed = 0;
};

inline VggConfig vgg_config(int depth, const VggOptions& o = {}) {
  if (!(o.width_scale > 0)) throw ArgumentError("vgg: width_scale must be > 0");
  VggConfig c;
  c.features = vgg_cfg(depth);
  for (auto& v : c.features)
    if (v != kVggPool)
      v = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(static_cast<double>(v) * o.width_scale)));
  c.in_channels = o.in_channels;
  c.hidden = o.hidden;
  c.num_classes = o.num_classes;
  c.validate();
  return c;
}

// A VGG network: a Sequential with torchvision names and Keras aliases, its config and
// (optionally) its class names.
template <class T = float>
class Vgg : public nn::Sequential<T> {
 public:
  // Where the parameters come from: f(name, shape) returns a tensor of exactly that shape,
  // e.g. a seeded initialiser or a weights file.
  using ParameterSource = std::function<Tensor<T>(const std::string& name, const Shape& shape)>;

  Vgg(const VggConfig& config, const ParameterSource& source) : config_(config) {
    config_.validate();
    build(source);
  }

  const VggConfig& config() const noexcept { return config_; }
  // Empty, or one name per class (e.g. from a weights file's metadata).
  const std::vector<std::string>& class_names() const noexcept { return class_names_; }
  void set_class_names(std::vector<std::string> names) {
    if (!names.empty() && static_cast<std::int64_t>(names.size()) != config_.num_classes)
      throw ArgumentError("Vgg::set_class_names: " + std::to_string(names.size()) + " names for " +
                          std::to_string(config_.num_classes) + " classes");
    class_names_ = std::move(names);
  }
  // The last ReLU of the feature extractor (features.35 for VGG19).
  const std::string& last_conv_layer() const noexcept { return last_conv_; }

 private:
  void build(const ParameterSource& source) {
    auto get = [&](const std::string& name, const Shape& shape) {
      Tensor<T> t = source(name, shape);
      if (t.shape() != shape)
        throw ShapeError("vgg: parameter '" + name + "' has shape " + t.shape().str() + ", expected " + shape.str());
      return t;
    };
    std::int64_t prev = config_.in_channels, index = 0;
    int block = 1, conv_in_block = 0;
    const kernels::Conv2dParams same{1, 1, 1, 1};
    for (std::int64_t v : config_.features) {
      const std::string name = "features." + std::to_string(index);
      if (v == kVggPool) {
        this->add(name, nn::MaxPool2d<T>{});
        this->add_alias("block" + std::to_string(block) + "_pool", name);
        ++block;
        conv_in_block = 0;
        index += 1;
        continue;
      }
      this->add(name, nn::Conv2d<T>(get(name + ".weight", Shape{v, prev, 3, 3}), get(name + ".bias", Shape{v}), same));
      const std::string relu = "features." + std::to_string(index + 1);
      this->add(relu, nn::ReLU<T>{});
      ++conv_in_block;
      this->add_alias("block" + std::to_string(block) + "_conv" + std::to_string(conv_in_block), relu);
      this->add_alias("conv" + std::to_string(block) + "_" + std::to_string(conv_in_block), relu);
      last_conv_ = relu;
      prev = v;
      index += 2;
    }
    this->add_alias("features", last_conv_);
    this->add_alias("last_conv", last_conv_);
    this->add("avgpool", nn::AdaptiveAvgPool2d<T>{{}, config_.pool_size, config_.pool_size});
    this->add("flatten", nn::Flatten<T>{});
    std::int64_t in = prev * config_.pool_size * config_.pool_size;
    index = 0;
    for (std::int64_t h : config_.hidden) {
      const std::string name = "classifier." + std::to_string(index);
      this->add(name, nn::Linear<T>(get(name + ".weight", Shape{h, in}), get(name + ".bias", Shape{h})));
      this->add("classifier." + std::to_string(index + 1), nn::ReLU<T>{});
      this->add("classifier." + std::to_string(index + 2), nn::Dropout<T>{});
      in = h;
      index += 3;
    }
    const std::string name = "classifier." + std::to_string(index);
    this->add(name, nn::Linear<T>(get(name + ".weight", Shape{config_.num_classes, in}),
                                  get(name + ".bias", Shape{config_.num_classes})));
    const std::int64_t side = std::int64_t{1} << config_.pools();
    this->set_input_requirement("this VGG needs an input [N, " + std::to_string(config_.in_channels) +
                                ", H, W] with H, W >= " + std::to_string(side));
  }

  VggConfig config_;
  std::vector<std::string> class_names_;
  std::string last_conv_;
};

static_assert(Classifier<Vgg<float>> && Classifier<Vgg<double>>);

// A VGG with torchvision's initialisation from `seed`.
template <class T = float>
Vgg<T> vgg(const VggConfig& config, std::uint64_t seed = 0) {
  std::mt19937_64 rng(seed);
  return Vgg<T>(config, [&](const std::string& name, const Shape& shape) {
    Tensor<T> t(shape);  // zeros: the biases
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
      if (shape.rank() == 4)
        nn::init::kaiming_normal_fan_out(t, rng);
      else
        nn::init::normal(t, 0.0, 0.01, rng);
    }
    return t;
  });
}

// vgg(11|13|16|19, {.width_scale = 1/16., .hidden = {64, 64}, .num_classes = 10, .seed = 1})
template <class T = float>
Vgg<T> vgg(int depth, const VggOptions& options = {}) {
  return vgg<T>(vgg_config(depth, options), options.seed);
}

// The standard VGG19 (ImageNet: 3 input channels, 1000 classes, 143.7 M parameters).
template <class T = float>
Vgg<T> vgg19(std::uint64_t seed = 0) {
  return vgg<T>(19, VggOptions{.seed = seed});
}

}  // namespace gradattr::models
