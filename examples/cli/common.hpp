#pragma once
// What every gradattr subcommand shares: loading the model (a weights file, a seeded
// architecture, or the embedded default), loading the input (an image through the model's
// preprocessing, or a raw NPY tensor), checking flag values against the model, the report
// stream, and the error -> exit status mapping of the CLI contract (docs/cli.md):
//   UsageError (the command line itself is wrong)  -> exit 2
//   any other error (a file, its content, the run) -> exit 1
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <map>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/io/detail/file.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/io/npy.hpp>
#include <gradattr/io/preprocess.hpp>
#include <gradattr/io/safetensors.hpp>
#include <gradattr/models/any_classifier.hpp>
#include <gradattr/models/vgg.hpp>
#include <gradattr/models/vgg_safetensors.hpp>
#ifdef GRADATTR_CLI_ONNX
#include <gradattr/onnx/load.hpp>
#endif

#include "embedded.hpp"

namespace gradattr_cli {

// The model a command runs: a VGG from safetensors (or seeded) or a graph from ONNX, behind one
// type (models/any_classifier.hpp), with the class names its file gives (may be empty).
template <class T>
struct AnyModel : gradattr::models::AnyClassifier<T> {
  AnyModel(gradattr::models::AnyClassifier<T> m, std::vector<std::string> names)
      : gradattr::models::AnyClassifier<T>(std::move(m)), names_(std::move(names)) {}
  const std::vector<std::string>& class_names() const noexcept { return names_; }

 private:
  std::vector<std::string> names_;
};
using Model = AnyModel<float>;

// A VGG takes any size; input_shape() says the one its preprocessing produces.
// --precise (every command that runs a model): convolutions without the Winograd algorithm
// (kernels::Conv2dParams::exact), set once from the command line before the model is loaded.
inline bool& exact_convolutions() noexcept {
  static bool exact = false;
  return exact;
}

template <class T>
AnyModel<T> wrap_vgg(gradattr::models::Vgg<T> vgg, std::int64_t height = 224, std::int64_t width = 224) {
  if (exact_convolutions()) vgg.set_exact_convolutions(true);
  const gradattr::Shape in{1, vgg.config().in_channels, height, width};
  auto names = vgg.class_names();
  return AnyModel<T>(gradattr::models::AnyClassifier<T>(std::move(vgg), in), std::move(names));
}

inline bool is_onnx_path(const std::string& path) {
  return std::filesystem::path(path).extension() == ".onnx";
}

#ifdef GRADATTR_CLI_ONNX
template <class T>
AnyModel<T> load_onnx_model(const std::string& path) {
  auto g = gradattr::onnx::load<T>(path);
  if (exact_convolutions()) g.set_exact_convolutions(true);
  const gradattr::Shape in = g.input_shape();
  return AnyModel<T>(gradattr::models::AnyClassifier<T>(std::move(g), in), {});
}
#endif

// Thrown for a bad command line (unknown flag or value, missing or conflicting flags, a number
// out of its range): exit status 2. Everything else, a library ArgumentError included (a NaN in
// an input file), gives 1: the CLI checks flag values itself and throws this for them.
struct UsageError : gradattr::Error {
  using gradattr::Error::Error;
};

// parse() (a library parser: parse_method, parse_score_kind, ...), with its ArgumentError turned
// into a UsageError that names the flag: "--method: unknown method 'x' (valid: ...)".
template <class F>
auto flag_value(const std::string& flag, F&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const gradattr::ArgumentError& e) {
    throw UsageError(flag + ": " + e.what());
  }
}

// The largest --steps (path steps) and --samples (SmoothGrad): a run stays bounded.
inline constexpr std::int64_t kMaxSteps = 100000;
inline constexpr std::int64_t kMaxSamples = 100000;

// A count flag given as text ("--steps", "50"): an integer in [min, max], else UsageError
// naming the flag and the value as given.
inline std::int64_t parse_count(const char* flag, const std::string& text, std::int64_t max, std::int64_t min = 1) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range)
    throw UsageError(std::string(flag) + " " + text + " is out of range (at most " + std::to_string(max) + ")");
  if (ec != std::errc() || p != end || text.empty()) throw UsageError(std::string(flag) + " must be an integer, got '" + text + "'");
  if (v < min) throw UsageError(std::string(flag) + " must be at least " + std::to_string(min) + ", got " + text);
  if (v > max) throw UsageError(std::string(flag) + " must be at most " + std::to_string(max) + ", got " + text);
  return v;
}

// Where the human-readable report goes: stdout, or stderr when an output file is standard
// output ("-").
inline std::FILE*& report_stream() {
  static std::FILE* f = stdout;
  return f;
}
__attribute__((format(printf, 1, 2))) inline void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(report_stream(), fmt, ap);
  va_end(ap);
}

// --json: one JSON object on stdout.
inline void print_json(const nlohmann::ordered_json& j) {
  const std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}
// A JSON number, or null for NaN/inf (JSON has neither).
inline nlohmann::ordered_json json_number(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); }

// The outputs of one command: at most one may be standard output ("-"), not with --json; each
// is checked for writability before any computation. Moves the report to stderr when one is "-".
inline void check_outputs(const std::vector<std::pair<const char*, std::string>>& outputs, bool json) {
  int on_stdout = 0;
  for (const auto& [flag, path] : outputs) {
    if (path != "-") continue;
    ++on_stdout;
    if (json) throw UsageError(std::string("--json prints to standard output: ") + flag + " cannot be '-' with it");
  }
  if (on_stdout > 1) throw UsageError("only one output can go to standard output ('-')");
  if (on_stdout) report_stream() = stderr;
  for (const auto& [flag, path] : outputs)
    if (!path.empty()) gradattr::io::detail::check_output(path, flag);
}

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

// The input an ONNX model takes: its file fixes C, H and W. One channel: grey, exact resize;
// three: ImageNet preprocessing cropped to the model's square size (else an exact resize).
inline InputSpec input_spec_of_shape(const gradattr::Shape& in) {
  InputSpec s;
  s.grey = in[1] == 1;
  s.height = static_cast<int>(in[2]);
  s.width = static_cast<int>(in[3]);
  return s;
}

// A weights file: .onnx through gradattr::onnx (when built with it), anything else as safetensors.
inline LoadedModel load_model_file(const std::string& path) {
  if (is_onnx_path(path)) {
#ifdef GRADATTR_CLI_ONNX
    auto m = load_onnx_model<float>(path);
    const auto spec = input_spec_of_shape(m.input_shape());
    return LoadedModel{std::move(m), spec, path};
#else
    throw gradattr::Error(path + ": this gradattr was built without ONNX support (configure with -DGRADATTR_WITH_ONNX=ON)");
#endif
  }
  auto file = gradattr::io::read_safetensors(path);
  const InputSpec spec = input_spec_from_metadata(file.metadata);
  return LoadedModel{wrap_vgg(gradattr::models::vgg_from_safetensors<float>(file), spec.height, spec.width), spec, path};
}


inline LoadedModel seeded_model(const std::string& arch, std::uint64_t seed) {
  int depth = 0;
  for (int d : {11, 13, 16, 19})
    if (arch == "vgg" + std::to_string(d)) depth = d;
  if (depth == 0) throw UsageError("--arch: unknown architecture '" + arch + "' (valid: vgg11, vgg13, vgg16, vgg19)");
  gradattr::models::VggOptions o;
  o.seed = seed;
  return {wrap_vgg(gradattr::models::vgg<float>(depth, o)), InputSpec{}, arch + " (random weights, seed " + std::to_string(seed) + ")"};
}

// The shipped Fashion-MNIST VGG: embedded, or from $GRADATTR_DATA_DIR.
inline gradattr::io::SafetensorsFile default_model_file() {
  if (const auto dir = data_dir_override()) return gradattr::io::read_safetensors(*dir / "fashion_vgg.safetensors");
  EmbeddedAsFile f(embedded_model());
  return gradattr::io::read_safetensors(f.path());
}

inline LoadedModel default_model() {
  auto file = default_model_file();
  const InputSpec spec = input_spec_from_metadata(file.metadata);
  LoadedModel m{wrap_vgg(gradattr::models::vgg_from_safetensors<float>(file), spec.height, spec.width), spec, {}};
  const auto dir = data_dir_override();
  m.description = "the shipped Fashion-MNIST VGG (" + (dir ? (*dir / "fashion_vgg.safetensors").string() : std::string("embedded")) + ")";
  return m;
}

// The model again in double (the audit's --double): the same file (or the default), widened
// exactly.
inline AnyModel<double> load_model_f64(const std::string& weights) {
  if (!weights.empty() && is_onnx_path(weights)) {
#ifdef GRADATTR_CLI_ONNX
    return load_onnx_model<double>(weights);
#else
    throw gradattr::Error(weights + ": this gradattr was built without ONNX support (configure with -DGRADATTR_WITH_ONNX=ON)");
#endif
  }
  const auto file = weights.empty() ? default_model_file() : gradattr::io::read_safetensors(weights);
  const InputSpec spec = input_spec_from_metadata(file.metadata);
  return wrap_vgg(gradattr::models::vgg_from_safetensors<double>(file), spec.height, spec.width);
}

// The image converted to the model's input [1, C, H, W], and the RGB picture the input shows
// (for overlays).
struct LoadedInput {
  gradattr::Tensor<float> x;
  gradattr::io::Image picture;  // what x shows, at x's resolution
  bool from_npy = false;
};

inline LoadedInput image_input(const gradattr::io::Image& img, const InputSpec& spec) {
  LoadedInput in;
  if (!spec.grey) {
    gradattr::io::PreprocessOptions o;  // ImageNet: shorter side 256, centre crop 224, mean/std
    o.crop = spec.height;
    o.resize = spec.height * 256 / 224;
    in.x = gradattr::io::preprocess(img, o);
    in.picture = gradattr::io::denormalize(in.x, o.mean, o.std);
    return in;
  }
  // Grey models (the shipped Fashion-MNIST VGG): exact resize, luminance, [0, 1]. A grey pixel is
  // its own luminance, byte / 255 exactly as io::read_idx_images gives it (the weighted sum is
  // an ulp off for 39 of the 256 bytes: tests/cli/cli_api.cpp).
  auto small = gradattr::io::resize_image(img, spec.height, spec.width);
  in.x = gradattr::Tensor<float>(gradattr::Shape{1, 1, spec.height, spec.width});
  for (int i = 0; i < spec.height * spec.width; ++i) {
    const auto* p = &small.rgb[static_cast<std::size_t>(i) * 3];
    const float lum = p[0] == p[1] && p[1] == p[2] ? static_cast<float>(p[0]) : 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    in.x[i] = lum / 255.0f;
  }
  in.picture = small;
  return in;
}

inline LoadedInput load_image_input(const std::string& path, const InputSpec& spec) {
  return image_input(gradattr::io::read_image(path), spec);
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

inline LoadedInput default_input(const InputSpec& spec) {
  if (const auto dir = data_dir_override()) return load_image_input((*dir / "sample.png").string(), spec);
  const auto f = embedded_sample();
  return image_input(gradattr::io::decode_image(f.data, f.size, "the embedded sample image"), spec);
}

// --arch on its own (before loading): a known architecture name.
inline void check_arch_name(const std::string& arch) {
  if (arch.empty()) return;
  for (int d : {11, 13, 16, 19})
    if (arch == "vgg" + std::to_string(d)) return;
  throw UsageError("--arch: unknown architecture '" + arch + "' (valid: vgg11, vgg13, vgg16, vgg19)");
}

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
  check_arch_name(a.arch);
  Session s{a.weights.empty() ? default_model() : load_model_file(a.weights), {}};
  if (!a.arch.empty()) {
    const auto* vgg = s.lm.model.get<gradattr::models::Vgg<float>>();
    if (!vgg) throw UsageError("--arch checks VGG weights; " + a.weights + " is an ONNX model");
    const int depth = vgg->config().depth();
    if (a.arch != "vgg" + std::to_string(depth))  // a valid flag; the weights are not what it says: exit 1
      throw gradattr::Error("--arch " + a.arch + " does not match the weights (" +
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
  const std::int64_t channels = s.lm.model.input_shape()[1];
  if (x.dim(1) != channels)
    throw gradattr::ShapeError("input " + x.shape().str() + " has " + std::to_string(x.dim(1)) + " channels, the model takes " +
                               std::to_string(channels));
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x[i]))
      throw gradattr::FormatError("input " + (a.input.empty() ? std::string("image") : "'" + a.input + "'") +
                                    " contains NaN or infinity (first at flat index " + std::to_string(i) + ", shape " +
                                    x.shape().str() + ")");
  return s;
}

// --layer against the model: a layer it has (UsageError listing the valid ones) and, for the CAM
// methods (spatial = true), one with spatial dimensions (before the flatten).
template <class M>
std::string check_layer(const M& model, const std::string& layer, bool spatial) {
  if (layer.empty()) return layer;
  std::string canon;
  canon = flag_value("--layer", [&] { return model.resolve_layer(layer); });
  if (spatial && canon != gradattr::models::kInputLayer) {
    const gradattr::Shape s = model.layer_shape(canon);
    if (s.rank() != 4)
      throw UsageError("--layer " + layer + " has no spatial dimensions (its activation is " + s.str() +
                       "; CAM methods need [N, C, H, W], e.g. " + model.default_cam_layer() + ")");
  }
  return canon;
}

// An attention method (rollout, attention-relevance) needs a model with attention layers (a ViT):
// UsageError naming the method otherwise, before anything is computed.
template <class M>
void check_method_model(const M& model, gradattr::Method method) {
  if (gradattr::is_attention_method(method) && model.attention_layers().empty())
    throw UsageError("--method " + std::string(gradattr::to_string(method)) +
                     " needs a model with attention layers (a Vision Transformer: softmax(q k^T) times V); this model "
                     "has none: use a CAM or an input method");
}

// --class against the model: in [0, classes).
inline void check_class(std::int64_t c, std::int64_t classes, const std::string& given) {
  if (c >= classes)
    throw UsageError("--class " + given + " is out of range (the model has " + std::to_string(classes) + " classes, 0 to " +
                     std::to_string(classes - 1) + ")");
}

}  // namespace gradattr_cli
