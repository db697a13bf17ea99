#pragma once
// The pieces of train_fashion that its tests reuse: the shipped architecture, Fashion-MNIST
// loading, minibatch assembly, one optimisation step, evaluation, the learning-rate schedule.
//
// Determinism: for a given seed and thread count every step is bitwise reproducible. The
// order of the data comes from one std::mt19937_64 (not from threads), the kernels' parallel
// reductions are static-scheduled with partial sums combined in a fixed order, and the
// optimisers' updates are element-wise.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <numbers>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <gradattr/autodiff/autodiff.hpp>
#include <gradattr/core/error.hpp>
#include <gradattr/io/idx.hpp>
#include <gradattr/models/vgg.hpp>
#include <gradattr/nn/loss.hpp>
#include <gradattr/nn/optim.hpp>

#include "canvas.hpp"
#include "fashion_config.hpp"

namespace train_fashion {

using gradattr::Shape;
using gradattr::Tensor;
using Model = gradattr::models::Vgg<float>;

inline const std::array<const char*, 10> kClassNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};


struct Dataset {
  Tensor<float> images;  // [N, 1, 28, 28] in [0, 1]
  std::vector<std::int64_t> labels;
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

// split "train" or "t10k" of Debian's dataset-fashion-mnist layout in `dir`. IoError naming the
// file when one is missing, FormatError naming it when it is corrupt or truncated.
inline Dataset load_fashion(const std::filesystem::path& dir, const std::string& split) {
  const auto images_path = dir / (split + "-images-idx3-ubyte.gz");
  const auto labels_path = dir / (split + "-labels-idx1-ubyte.gz");
  for (const auto& p : {images_path, labels_path}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec))
      throw gradattr::IoError("cannot read Fashion-MNIST file '" + p.string() +
                              "': no such file (Debian: apt-get install dataset-fashion-mnist, or pass --data DIR)");
  }
  Dataset d;
  d.images = gradattr::io::read_idx_images(images_path);
  const auto labels = gradattr::io::read_idx_labels(labels_path);
  if (d.images.dim(2) != 28 || d.images.dim(3) != 28)
    throw gradattr::FormatError("IDX '" + images_path.string() + "': images are " + std::to_string(d.images.dim(2)) + "x" +
                                std::to_string(d.images.dim(3)) + ", expected 28x28");
  if (static_cast<std::int64_t>(labels.size()) != d.images.dim(0))
    throw gradattr::FormatError("IDX '" + labels_path.string() + "': " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(d.images.dim(0)) + " images in '" + images_path.string() + "'");
  d.labels.reserve(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] > 9)
      throw gradattr::FormatError("IDX '" + labels_path.string() + "': label " + std::to_string(labels[i]) + " at " +
                                  std::to_string(i) + " is not a Fashion-MNIST class (0..9)");
    d.labels.push_back(labels[i]);
  }
  return d;
}

// The first n examples (n >= size: all of them).
inline Dataset head(const Dataset& d, std::int64_t n) {
  if (n <= 0 || n >= d.size()) return d;
  Dataset h;
  h.images = Tensor<float>::uninitialized(Shape{n, 1, d.images.dim(2), d.images.dim(3)});
  std::memcpy(h.images.data(), d.images.data(), sizeof(float) * static_cast<std::size_t>(h.images.numel()));
  h.labels.assign(d.labels.begin(), d.labels.begin() + n);
  return h;
}

struct Batch {
  Tensor<float> x;
  std::vector<std::int64_t> labels;
};

// The examples order[begin, end) of d; flip[i] mirrors example i of the batch left-right.
inline Batch make_batch(const Dataset& d, const std::vector<std::int64_t>& order, std::int64_t begin, std::int64_t end,
                        const std::vector<char>& flip = {}) {
  const std::int64_t n = end - begin, h = d.images.dim(2), w = d.images.dim(3), plane = h * w;
  Batch b{Tensor<float>::uninitialized(Shape{n, 1, h, w}), {}};
  b.labels.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t k = order[static_cast<std::size_t>(begin + i)];
    const float* src = d.images.data() + k * plane;
    float* dst = b.x.data() + i * plane;
    if (!flip.empty() && flip[static_cast<std::size_t>(i)]) {
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) dst[r * w + c] = src[r * w + (w - 1 - c)];
    } else {
      std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(plane));
    }
    b.labels.push_back(d.labels[static_cast<std::size_t>(k)]);
  }
  return b;
}

using Optimizer = std::variant<gradattr::nn::Sgd<float>, gradattr::nn::Adam<float>>;

struct StepResult {
  float loss = 0;
  std::int64_t correct = 0;  // argmax of the logits (before the update) equal to the label
};

// One minibatch step: forward with the parameters as tape variables, mean cross-entropy,
// gradients of every parameter, optimiser update in place (update_parameters: the prepared
// convolution weights are rebuilt after the step).
// label_smoothing: ε of nn::cross_entropy (0: the plain cross-entropy).
inline StepResult train_step(Model& model, Optimizer& opt, const Batch& b, double label_smoothing = 0) {
  gradattr::ad::Tape<float> tape;
  auto out = model.forward_train(gradattr::ad::Var<float>(b.x), tape);
  auto loss = gradattr::nn::cross_entropy(out.logits, b.labels, label_smoothing);
  auto grads = gradattr::ad::grad(tape, loss, out.vars());
  StepResult r;
  r.loss = loss.value()[0];
  const Tensor<float>& z = out.logits.value();
  const std::int64_t classes = z.dim(1);
  for (std::int64_t i = 0; i < z.dim(0); ++i) {
    const float* row = z.data() + i * classes;
    r.correct += (std::max_element(row, row + classes) - row) == b.labels[static_cast<std::size_t>(i)];
  }
  // forward_train hands out the parameters in parameters() order (checked: a silent mismatch
  // would update the wrong tensors).
  model.update_parameters([&](std::vector<gradattr::nn::Parameter<float>>& params) {
    if (params.size() != out.parameters.size())
      throw gradattr::Error("train_step: " + std::to_string(params.size()) + " parameters but " +
                            std::to_string(out.parameters.size()) + " parameter variables");
    std::vector<Tensor<float>*> ptrs;
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].name != out.parameters[i].name)
        throw gradattr::Error("train_step: parameter order differs at " + params[i].name + " / " + out.parameters[i].name);
      ptrs.push_back(&params[i].tensor);
    }
    std::visit([&](auto& o) { o.step(ptrs, grads); }, opt);
  });
  return r;
}

// Top-1 accuracy of the model on d (inference forward in batches). canvas > 0: every item at a
// random position on a zero canvas×canvas image (canvas.hpp), positions from
// std::mt19937_64(canvas_seed) in data order, so the test set is the same for every epoch and run.
inline double accuracy(const Model& model, const Dataset& d, std::int64_t batch = 500, std::int64_t canvas = 0,
                       std::uint64_t canvas_seed = 0x7E57) {
  std::mt19937_64 place(canvas_seed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(d.size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::int64_t correct = 0;
  for (std::int64_t b = 0; b < d.size(); b += batch) {
    const std::int64_t e = std::min(d.size(), b + batch);
    const Batch mb = make_batch(d, order, b, e);
    const Tensor<float> z = model.forward(canvas > 0 ? random_placement(mb.x, canvas, place) : mb.x);
    for (std::int64_t i = 0; i < z.dim(0); ++i) {
      const float* row = z.data() + i * z.dim(1);
      correct += (std::max_element(row, row + z.dim(1)) - row) == mb.labels[static_cast<std::size_t>(i)];
    }
  }
  return d.size() ? static_cast<double>(correct) / static_cast<double>(d.size()) : 0.0;
}

// Learning rate at step t of `total`: "constant"; "cosine" from lr to 0 (half a cosine);
// "step": lr, lr/10 after half, lr/100 after three quarters.
inline double scheduled_lr(const std::string& schedule, double lr, std::int64_t t, std::int64_t total) {
  if (total <= 0 || schedule == "constant") return lr;
  const double f = static_cast<double>(t) / static_cast<double>(total);
  if (schedule == "cosine") return 0.5 * lr * (1.0 + std::cos(std::numbers::pi * f));
  if (schedule == "step") return f < 0.5 ? lr : f < 0.75 ? lr / 10 : lr / 100;
  throw gradattr::ArgumentError("unknown schedule '" + schedule + "' (cosine, step, constant)");
}

// Lower-case, non-alphanumerics collapsed to '_': "T-shirt/top" -> "t_shirt_top".
inline std::string slug(const std::string& name) {
  std::string s;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u))
      s += static_cast<char>(std::tolower(u));
    else if (!s.empty() && s.back() != '_')
      s += '_';
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

}  // namespace train_fashion
