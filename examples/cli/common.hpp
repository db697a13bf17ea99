#pragma once
// What every gradattr subcommand shares: loading the model (a weights file, a seeded
// architecture, or the embedded default), loading the input (an image through the model's
// preprocessing, or a raw NPY tensor), and the error -> exit status mapping of the CLI contract.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gradattr/io/image.hpp>
#include <gradattr/io/npy.hpp>
#include <gradattr/io/preprocess.hpp>
#include <gradattr/io/safetensors.hpp>
#include <gradattr/models/vgg.hpp>
#include <gradattr/models/vgg_safetensors.hpp>

#include "embedded.hpp"

namespace gradattr_cli {

using Model = gradattr::models::Vgg<float>;

// Thrown for bad command-line arguments: exit status 2 (other gradattr::Errors give 1).
struct UsageError : gradattr::ArgumentError {
  using gradattr::ArgumentError::ArgumentError;
};

// How images are turned into the model's input: read from the weights file's metadata key
// "gradattr.preprocess" ("imagenet" or "grey:<H>x<W>"), ImageNet by default.
struct InputSpec {
  bool grey = false;
  int height = 224, width = 224;
};

inline InputSpec input_spec_from_metadata(const std::map<std::string, std::string>& meta) {
  InputSpec s;
  auto it = meta.find("gradattr.preprocess");
  if (it == meta.end() || it->second == "imagenet") return s;
  int h = 0, w = 0;
  if (std::sscanf(it->second.c_str(), "grey:%dx%d", &h, &w) == 2 && h > 0 && w > 0) {
    s.grey = true;
    s.height = h;
    s.width = w;
    return s;
  }
  throw gradattr::FormatError("weights metadata: unknown gradattr.preprocess '" + it->second + "'");
}

struct LoadedModel {
  Model model;
  InputSpec input;
  std::string description;
};

inline LoadedModel load_model_file(const std::string& path) {
  auto file = gradattr::io::read_safetensors(path);
  LoadedModel m{gradattr::models::vgg_from_safetensors<float>(file), input_spec_from_metadata(file.metadata), path};
  return m;
}

inline LoadedModel seeded_model(const std::string& arch, std::uint64_t seed) {
  int depth = 0;
  for (int d : {11, 13, 16, 19})
    if (arch == "vgg" + std::to_string(d)) depth = d;
  if (depth == 0) throw UsageError("--arch: unknown architecture '" + arch + "' (valid: vgg11, vgg13, vgg16, vgg19)");
  gradattr::models::VggOptions o;
  o.seed = seed;
  return {gradattr::models::vgg<float>(depth, o), InputSpec{}, arch + " (random weights, seed " + std::to_string(seed) + ")"};
}

inline LoadedModel default_model() {
  const auto path = default_model_path();
  if (!std::filesystem::exists(path))
    throw gradattr::IoError(path.string() + ": the default model is missing (pass --weights, or set GRADATTR_DATA_DIR to the "
                            "directory holding fashion_vgg.safetensors and sample.png)");
  auto m = load_model_file(path.string());
  m.description = "the shipped Fashion-MNIST VGG (" + path.string() + ")";
  return m;
}

// The image converted to the model's input [1, C, H, W], and the RGB picture the input shows
// (for overlays).
struct LoadedInput {
  gradattr::Tensor<float> x;
  gradattr::io::Image picture;  // what x shows, at x's resolution
  bool from_npy = false;
};

inline LoadedInput load_image_input(const std::string& path, const InputSpec& spec) {
  auto img = gradattr::io::read_image(path);
  LoadedInput in;
  if (!spec.grey) {
    gradattr::io::PreprocessOptions o;  // ImageNet: shorter side 256, centre crop 224, mean/std
    o.crop = spec.height;
    o.resize = spec.height * 256 / 224;
    in.x = gradattr::io::preprocess(img, o);
    in.picture = gradattr::io::denormalize(in.x, o.mean, o.std);
    return in;
  }
  // Grey models (the shipped Fashion-MNIST VGG): exact resize, luminance, [0, 1].
  auto small = gradattr::io::resize_image(img, spec.height, spec.width);
  in.x = gradattr::Tensor<float>(gradattr::Shape{1, 1, spec.height, spec.width});
  for (int i = 0; i < spec.height * spec.width; ++i) {
    const auto* p = &small.rgb[static_cast<std::size_t>(i) * 3];
    in.x[i] = (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f;
  }
  in.picture = small;
  return in;
}

inline LoadedInput load_npy_input(const std::string& path) {
  LoadedInput in;
  in.x = gradattr::io::read_npy_f32(path);
  if (in.x.rank() == 3) in.x = in.x.reshape(gradattr::Shape{1, in.x.dim(0), in.x.dim(1), in.x.dim(2)});
  if (in.x.rank() != 4)
    throw gradattr::ShapeError(path + ": input must be [N, C, H, W] or [C, H, W], got " + in.x.shape().str());
  in.from_npy = true;
  return in;
}

inline LoadedInput default_input(const InputSpec& spec) { return load_image_input(default_image_path().string(), spec); }

// The options shared by classify, explain and audit.
struct ModelArgs {
  std::string weights, arch, image, input;
};

// A model and its input, from the command line; the embedded default when no --weights.
struct Session {
  LoadedModel lm;
  LoadedInput input;
};

inline Session open_session(const ModelArgs& a) {
  if (!a.image.empty() && !a.input.empty()) throw UsageError("give --image or --input, not both");
  Session s{a.weights.empty() ? default_model() : load_model_file(a.weights), {}};
  if (!a.arch.empty()) {
    const int depth = s.lm.model.config().depth();
    if (a.arch != "vgg" + std::to_string(depth))
      throw UsageError("--arch " + a.arch + " does not match the weights (" +
                       (depth ? "vgg" + std::to_string(depth) : std::string("a non-standard VGG")) + ")");
  }
  if (!a.input.empty())
    s.input = load_npy_input(a.input);
  else if (!a.image.empty())
    s.input = load_image_input(a.image, s.lm.input);
  else if (a.weights.empty())
    s.input = default_input(s.lm.input);
  else
    throw UsageError("give --image IMG or --input X.npy (the sample image goes with the embedded default model only)");
  const auto& x = s.input.x;
  const auto& cfg = s.lm.model.config();
  if (x.dim(1) != cfg.in_channels)
    throw gradattr::ShapeError("input " + x.shape().str() + " has " + std::to_string(x.dim(1)) + " channels, the model takes " +
                               std::to_string(cfg.in_channels));
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x[i]))
      throw gradattr::ArgumentError("input " + (a.input.empty() ? std::string("image") : "'" + a.input + "'") +
                                    " contains NaN or infinity (first at flat index " + std::to_string(i) + ", shape " +
                                    x.shape().str() + ")");
  return s;
}

}  // namespace gradattr_cli
