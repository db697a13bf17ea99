// Every attribution method × every score space on the tiny VGG19-layout model of
// tests/data/vgg_tiny against the PyTorch float64 references of tests/data/attribution
// (tools/make_attribution_fixtures.py; conventions in that directory's README.md).
//
// Error measure: max|a − b| / max|b| over the whole map (both images), "rel" below.
// Tolerances:
//   double model (model_f64.safetensors, input_f64.npy):
//     layer maps, weights, completeness (float64 fixtures):       rel < 1e-8
//     input maps (fixtures stored as float32, rounded once):       rel < 1e-6
//   float model (model.safetensors, input.npy):
//     layer maps (one pass through the head):                     rel < 1e-4
//     path/noise/input methods: ‖a − b‖/‖b‖ < 2e-3 (many evaluations; early-layer ReLU
//     margins go down to 4e-6, so float32 may flip a kink locally — fixture README);
//     Score-CAM 1e-3, IG trapezoid 5e-2 (see tolerances()).
// Every fixture of tests/data/attribution is compared: M = 8 and the default Score-CAM in both
// precisions; M = 50 (RSI, Integrated Grad-CAM, IG) and the Score-CAM variants (raw weights,
// scores, pytorch-grad-cam masks) in double, one ctest case per score space (test time);
// SmoothGrad's own noise against smoothgrad_sigma.npy.
// Set GRADATTR_VERBOSE=1 to print every error.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/io/npy.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"
#include "support/tiny_vgg.hpp"

using namespace gradattr;

namespace {

const std::vector<std::int64_t> kClasses{5, 8};  // README: the top class of each image
const std::string kLayer = "features.35";

using testing::tiny_vgg::input;
using testing::tiny_vgg::model;
inline Tensor<double> fixture(const std::string& name) { return testing::tiny_vgg::attribution_fixture(name); }

template <class A>
double max_rel(const Tensor<A>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0, m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::abs(b[i]));
  }
  return d / m;
}
template <class A>
double norm_rel(const Tensor<A>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0, m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = static_cast<double>(a[i]) - b[i];
    d += x * x;
    m += b[i] * b[i];
  }
  return std::sqrt(d / m);
}

void report(const std::string& what, double err, double tol) {
  if (std::getenv("GRADATTR_VERBOSE")) std::cout << "  " << what << ": " << err << " (tol " << tol << ")\n";
  INFO(what << ": error " << err << " > " << tol);
  REQUIRE(err < tol);
}

// [N,2] or [N,3] completeness fixture columns as [N].
Tensor<double> column(const Tensor<double>& t, std::int64_t c) {
  Tensor<double> out({t.dim(0)});
  for (std::int64_t n = 0; n < t.dim(0); ++n) out[n] = t(n, c);
  return out;
}

// smoothgrad_noise.npy is [4, 2, 3, 64, 64] float32 (rank 5, beyond Tensor's 4): read the raw
// data after the NPY 1.0 header, one [2, 3, 64, 64] tensor per sample.
std::vector<Tensor<double>> read_noise() {
  std::ifstream in(gradattr::testing::data_file("attribution/smoothgrad_noise.npy"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 10);
  REQUIRE(bytes.find("'descr': '<f4'") != std::string::npos);
  REQUIRE(bytes.find("(4, 2, 3, 64, 64)") != std::string::npos);
  const std::size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  const std::size_t per = 2 * 3 * 64 * 64;
  REQUIRE(bytes.size() == 10 + hlen + 4 * per * 4);
  std::vector<Tensor<double>> out;
  for (std::size_t s = 0; s < 4; ++s) {
    std::vector<float> f(per);
    std::memcpy(f.data(), bytes.data() + 10 + hlen + s * per * 4, per * 4);
    Tensor<double> t({2, 3, 64, 64});
    for (std::size_t i = 0; i < per; ++i) t[static_cast<std::int64_t>(i)] = f[i];
    out.push_back(t);
  }
  return out;
}

struct Tol {
  double layer, input, path, scorecam, trapezoid;
  bool norm_for_input;
};
template <class T>
Tol tolerances() {
  if constexpr (std::is_same_v<T, double>) return {1e-8, 1e-6, 1e-8, 1e-8, 1e-6, false};
  // Score-CAM in float: 32 masked forwards through the whole network, Post scores in [0, 1]:
  // 1e-3. IG trapezoid in float: its m = 0 point is the all-zero baseline, where every feature
  // map is constant and 2×2 max-pool windows tie exactly in double but not after float
  // rounding, so the baseline's float gradient picks other argmaxes (Riemann, without m = 0,
  // agrees to 4e-6): 5e-2.
  else return {1e-4, 2e-3, 2e-3, 1e-3, 5e-2, true};
}

template <class T, class Score>
void check_layer_methods(const std::string& s) {
  const auto& m = model<T>();
  const auto x = input<T>();
  const auto tol = tolerances<T>();
  const auto cls = Target::per_image(kClasses);
  {
    const auto r = GradCam<Score, T>(m, kLayer)(x);
    REQUIRE(r.classes == kClasses);  // the default target is the top class
    report("gradcam_" + s, max_rel(r.raw, fixture("gradcam_" + s)), tol.layer);
    report("gradcam_weights_" + s, max_rel(r.weights, fixture("gradcam_weights_" + s)), tol.layer);
  }
  report("gradcamplus_" + s, max_rel(GradCamPlus<Score, T>(m, kLayer)(x, cls).raw, fixture("gradcamplus_" + s)), tol.layer);
  report("gradcampp_" + s,
         max_rel(GradCamPlusPlus<Score, T>(m, kLayer, {.variant = GradCamPPVariant::ClosedForm})(x, cls).raw, fixture("gradcampp_" + s)),
         tol.layer);
  {
    const auto r = GradCamPlusPlus<Score, T>(m, kLayer, {.variant = GradCamPPVariant::Paper})(x, cls);
    report("gradcampp_paper_" + s, max_rel(r.raw, fixture("gradcampp_paper_" + s)), tol.layer);
    // the map before the positive per-image factor exp(S_n): r.raw / exp(r.score)
    Tensor<double> unscaled(r.raw.shape());
    const std::int64_t P = r.raw.shape().stride(0);
    for (std::int64_t i = 0; i < r.raw.numel(); ++i) unscaled[i] = static_cast<double>(r.raw[i]) / std::exp(static_cast<double>(r.score[i / P]));
    report("gradcampp_paper_unscaled_" + s, max_rel(unscaled, fixture("gradcampp_paper_unscaled_" + s)), tol.layer);
  }
  report("hirescam_" + s, max_rel(HiResCam<Score, T>(m, kLayer)(x, cls).raw, fixture("hirescam_" + s)), tol.layer);
  report("xgradcam_" + s, max_rel(XGradCam<Score, T>(m, kLayer)(x, cls).raw, fixture("xgradcam_" + s)), tol.layer);
  report("layercam_" + s, max_rel(LayerCam<Score, T>(m, kLayer)(x, cls).raw, fixture("layercam_" + s)), tol.layer);
  // Score-CAM: default masks (half-pixel, 1e-7) with softmax and raw weights; pytorch-grad-cam's
  report("scorecam_" + s,
         max_rel(ScoreCam<Score, T>(m, kLayer, {.variant = cam::ScoreCamWeighting::Softmax})(x, cls).raw, fixture("scorecam_" + s)),
         tol.scorecam);
}

template <class T, class Score>
void check_path_methods(const std::string& s) {
  const auto& m = model<T>();
  const auto x = input<T>();
  const auto tol = tolerances<T>();
  for (std::int64_t M : {8}) {  // M = 50: the double cases below
    const std::string tag = "m" + std::to_string(M) + "_" + s;
    const auto r = RsiGradCam<Score, T>(m, kLayer, {.steps = M, .batch_size = 16})(x);
    REQUIRE(r.classes == kClasses);
    report("rsi_gradcam_" + tag, max_rel(r.raw, fixture("rsi_gradcam_" + tag)), tol.path);
    report("rsi_gradcam_weights_" + tag, max_rel(r.weights, fixture("rsi_gradcam_" + std::string("m") + std::to_string(M) + "_weights_" + s)), tol.path);
    const auto comp = fixture("rsi_gradcam_m" + std::to_string(M) + "_completeness_" + s);
    report("rsi ΣG " + tag, max_rel(r.completeness, column(comp, 0)), tol.path);
    report("rsi dS " + tag, max_rel(r.score_difference, column(comp, 1)), tol.layer);
    report("integrated_gradcam_" + tag,
           max_rel(IntegratedGradCam<Score, T>(m, kLayer, {.steps = M, .variant = IntegratedGradCamVariant::Signed, .batch_size = 16})(x).raw, fixture("integrated_gradcam_" + tag)),
           tol.path);
  }
}

template <class T, class Score>
void check_input_methods(const std::string& s) {
  const auto& m = model<T>();
  const auto x = input<T>();
  const auto tol = tolerances<T>();
  auto err = [&](const auto& a, const Tensor<double>& b) { return tol.norm_for_input ? norm_rel(a, b) : max_rel(a, b); };
  report("saliency_" + s, err(Saliency<Score, T>(m)(x).raw, fixture("saliency_" + s)), tol.input);
  report("inputxgrad_" + s, err(InputXGradient<Score, T>(m)(x).raw, fixture("inputxgrad_" + s)), tol.input);
  std::vector<std::pair<std::string, IntegratedGradientsOptions<T>>> runs;
  runs.push_back({"ig_riemann_m8_", {.steps = 8}});
  runs.push_back({"ig_trapezoid_m8_", {.steps = 8, .rule = IntegrationRule::Trapezoid}});
  for (auto& [prefix, options] : runs) {
    options.batch_size = 16;
    const auto r = IntegratedGradients<Score, T>(m, options)(x);
    const bool trap = options.rule == IntegrationRule::Trapezoid;
    report(prefix + s, err(r.raw, fixture(prefix + s)), trap ? tol.trapezoid : tol.input);
    const auto comp = fixture(prefix + "completeness_" + s);
    report(prefix + "ΣIG_" + s, max_rel(r.completeness, column(comp, 0)), trap ? tol.trapezoid : tol.input);
    report(prefix + "dS_" + s, max_rel(r.score_difference, column(comp, 1)), tol.layer);
  }
  std::vector<Tensor<T>> noise;
  for (const auto& e : read_noise()) noise.push_back(e.template cast<T>());
  const auto sg = SmoothGrad<Score, T>(m, {.noise = noise})(x);
  report("smoothgrad_given_noise_" + s, err(sg.raw, fixture("smoothgrad_given_noise_" + s)), tol.input);
}

}  // namespace

TEMPLATE_TEST_CASE("Layer methods x score spaces vs PyTorch on the tiny VGG", "[attribution][methods][vgg]", double, float) {
  check_layer_methods<TestType, Pre>("pre");
  check_layer_methods<TestType, Post>("post");
  check_layer_methods<TestType, LogSoftmax>("log");
}

TEST_CASE("Grad-CAM displayed map and y_c, z_c vs PyTorch on the tiny VGG", "[attribution][methods][vgg]") {
  const auto r = GradCam<Post, double>(model<double>(), kLayer)(input<double>());
  report("gradcam_display_post", max_rel(r.displayed(64, 64), fixture("gradcam_display_post")), 1e-8);
  REQUIRE(r.probability[0] == Approx(0.7652871690082624).epsilon(1e-12));
  REQUIRE(r.probability[1] == Approx(0.40276000071050205).epsilon(1e-12));
  REQUIRE(r.logit[0] == Approx(3.717160950790649).epsilon(1e-12));
  REQUIRE(r.logit[1] == Approx(2.1058266458103416).epsilon(1e-12));
  REQUIRE(r.layer == kLayer);
  // the model's default CAM layer is features.35 ("last_conv")
  REQUIRE(GradCam<Post, double>(model<double>()).layer() == kLayer);
}

TEMPLATE_TEST_CASE("Path CAM methods x score spaces vs PyTorch on the tiny VGG", "[attribution][methods][vgg]", double, float) {
  check_path_methods<TestType, Pre>("pre");
  check_path_methods<TestType, Post>("post");
  check_path_methods<TestType, LogSoftmax>("log");
}

TEMPLATE_TEST_CASE("Input methods x score spaces vs PyTorch on the tiny VGG", "[attribution][methods][vgg]", double, float) {
  check_input_methods<TestType, Pre>("pre");
  check_input_methods<TestType, Post>("post");
  check_input_methods<TestType, LogSoftmax>("log");
}

namespace {
template <class Score>
std::string score_tag() {
  if constexpr (std::is_same_v<Score, Pre>) return "pre";
  else if constexpr (std::is_same_v<Score, Post>) return "post";
  else return "log";
}
}  // namespace

// M = 50 (RSI Grad-CAM, Integrated Grad-CAM, IG Riemann): double, one case per score space.
TEMPLATE_TEST_CASE("Path methods at M = 50 vs PyTorch on the tiny VGG (double)", "[attribution][methods][vgg]", Pre, Post,
                   LogSoftmax) {
  const std::string s = score_tag<TestType>();
  const auto& m = model<double>();
  const auto x = input<double>();
  const auto tol = tolerances<double>();
  const std::string tag = "m50_" + s;
  const auto r = RsiGradCam<TestType, double>(m, kLayer, {.steps = 50, .batch_size = 16})(x);
  REQUIRE(r.classes == kClasses);
  report("rsi_gradcam_" + tag, max_rel(r.raw, fixture("rsi_gradcam_" + tag)), tol.path);
  report("rsi_gradcam_m50_weights_" + s, max_rel(r.weights, fixture("rsi_gradcam_m50_weights_" + s)), tol.path);
  const auto comp = fixture("rsi_gradcam_m50_completeness_" + s);
  report("rsi ΣG " + tag, max_rel(r.completeness, column(comp, 0)), tol.path);
  report("rsi dS " + tag, max_rel(r.score_difference, column(comp, 1)), tol.layer);
  report("integrated_gradcam_" + tag,
         max_rel(IntegratedGradCam<TestType, double>(m, kLayer, {.steps = 50, .variant = IntegratedGradCamVariant::Signed, .batch_size = 16})(x).raw, fixture("integrated_gradcam_" + tag)),
         tol.path);
  const auto ig = IntegratedGradients<TestType, double>(m, {.steps = 50, .batch_size = 16})(x);
  report("ig_riemann_" + tag, max_rel(ig.raw, fixture("ig_riemann_" + tag)), tol.input);
  const auto igc = fixture("ig_riemann_m50_completeness_" + s);
  report("ig_riemann_m50 ΣIG " + s, max_rel(ig.completeness, column(igc, 0)), tol.input);
  report("ig_riemann_m50 dS " + s, max_rel(ig.score_difference, column(igc, 1)), tol.layer);
  report("ig_riemann_m50 gap " + s, max_rel(ig.completeness_gap, column(igc, 2)), tol.input);
}

// Score-CAM's variants: raw weights (map and the scores s_k), pytorch-grad-cam's masks with
// softmax weights (map) and raw weights (its scores). Double, one case per score space.
TEMPLATE_TEST_CASE("Score-CAM variants vs PyTorch on the tiny VGG (double)", "[attribution][methods][vgg]", Pre, Post, LogSoftmax) {
  const std::string s = score_tag<TestType>();
  const auto& m = model<double>();
  const auto x = input<double>();
  const auto tol = tolerances<double>();
  const auto cls = Target::per_image(kClasses);
  const auto raw = ScoreCam<TestType, double>(m, kLayer, {.variant = cam::ScoreCamWeighting::Raw})(x, cls);
  report("scorecam_raw_" + s, max_rel(raw.raw, fixture("scorecam_raw_" + s)), tol.layer);
  report("scorecam_scores_" + s, max_rel(raw.weights, fixture("scorecam_scores_" + s)), tol.layer);
  const auto pgc = cam::ScoreCamMaskOptions::pytorch_grad_cam();
  report("scorecam_pgc_" + s,
         max_rel(ScoreCam<TestType, double>(m, kLayer, {.variant = cam::ScoreCamWeighting::Softmax, .masks = pgc})(x, cls).raw,
                 fixture("scorecam_pgc_" + s)),
         tol.layer);
  const auto pgc_raw = ScoreCam<TestType, double>(m, kLayer, {.variant = cam::ScoreCamWeighting::Raw, .masks = pgc})(x, cls);
  report("scorecam_pgc_scores_" + s, max_rel(pgc_raw.weights, fixture("scorecam_pgc_scores_" + s)), tol.layer);
}

namespace {
// A Classifier that forwards to another and keeps every batch the input-space methods feed it
// (forward_from at the pseudo-layer "input"): the noisy copies SmoothGrad draws itself.
template <class M>
struct InputRecorder {
  using scalar_type = typename M::scalar_type;
  const M& m;
  std::vector<Tensor<scalar_type>>* seen;
  Tensor<scalar_type> forward(const Tensor<scalar_type>& x) const { return m.forward(x); }
  models::Cut<scalar_type> forward_until(const Tensor<scalar_type>& x, const std::string& layer) const {
    return m.forward_until(x, layer);
  }
  ad::Var<scalar_type> forward_from(const models::Cut<scalar_type>& cut, ad::Tape<scalar_type>& tape) const {
    if (m.resolve_layer(cut.layer) == models::kInputLayer) seen->push_back(cut.activation.value().clone());
    return m.forward_from(cut, tape);
  }
  models::Cut<scalar_type> forward_between(const models::Cut<scalar_type>& cut, const std::string& until,
                                           ad::Tape<scalar_type>& tape) const {
    return m.forward_between(cut, until, tape);
  }
  std::vector<std::string> layer_names() const { return m.layer_names(); }
  std::string resolve_layer(const std::string& name) const { return m.resolve_layer(name); }
  std::int64_t num_classes() const { return m.num_classes(); }
};
}  // namespace

// SmoothGrad's own noise (not given): x_n + σ_n e_s with σ_n = 0.15 (max − min) of image n
// (smoothgrad_sigma.npy, PyTorch) and e_s ~ N(0, 1) shared by the images of the batch. Read
// back from the inputs the model receives: (x̃_n − x_n) / σ_n must be the same draw for both
// images, with mean ~0 and standard deviation ~1 over its 3·64·64 values.
TEST_CASE("SmoothGrad's own noise has the reference sigma per image (double)", "[attribution][methods][vgg]") {
  const auto& m = model<double>();
  const auto x = input<double>();
  const auto sigma = fixture("smoothgrad_sigma");
  REQUIRE(sigma.shape() == Shape{2});
  std::vector<Tensor<double>> seen;
  const InputRecorder<models::Vgg<double>> rec{m, &seen};
  constexpr std::int64_t kSamples = 5;
  const auto r = SmoothGrad<Post, double>(rec, {.samples = kSamples, .seed = 3})(x);
  REQUIRE(r.classes == kClasses);
  const std::int64_t P = x.shape().stride(0);
  std::int64_t noisy = 0, clean = 0;
  for (const auto& batch : seen) {
    REQUIRE(batch.dim(0) % 2 == 0);
    for (std::int64_t b = 0; b < batch.dim(0); b += 2) {
      std::vector<double> e[2];
      bool same_as_x = true;
      for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t i = 0; i < P; ++i) {
          const double d = batch[(b + n) * P + i] - x[n * P + i];
          same_as_x = same_as_x && d == 0;
          e[n].push_back(d / sigma[n]);
        }
      if (same_as_x) {
        ++clean;
        continue;
      }
      ++noisy;
      double max_diff = 0, sum = 0, sum2 = 0;
      for (std::int64_t i = 0; i < P; ++i) {
        max_diff = std::max(max_diff, std::abs(e[0][static_cast<std::size_t>(i)] - e[1][static_cast<std::size_t>(i)]));
        sum += e[0][static_cast<std::size_t>(i)];
        sum2 += e[0][static_cast<std::size_t>(i)] * e[0][static_cast<std::size_t>(i)];
      }
      const double mean = sum / static_cast<double>(P), sd = std::sqrt(sum2 / static_cast<double>(P) - mean * mean);
      INFO("noisy point " << noisy << ": max |e_0 - e_1| " << max_diff << ", mean " << mean << ", sd " << sd);
      CHECK(max_diff < 1e-9);  // the same draw scaled by each image's own sigma
      CHECK(std::abs(mean) < 0.05);   // standard error 0.009
      CHECK(std::abs(sd - 1) < 0.05);  // standard error 0.0064
    }
  }
  CHECK(noisy == kSamples);
  CHECK(clean == 1);  // x itself, which fixes the class
}

// manifest.json (written by tools/make_attribution_fixtures.py) describes exactly the fixtures
// on disk: every listed file exists with the listed shape and dtype (read from its NPY header,
// the fixture itself is compared above), and every .npy file is listed.
TEST_CASE("The attribution fixtures' manifest lists every file with its shape and dtype", "[attribution][vgg]") {
  std::ifstream in(testing::data_file("attribution/manifest.json"));
  REQUIRE(in);
  const auto manifest = nlohmann::json::parse(in);
  REQUIRE(manifest["generator"] == "tools/make_attribution_fixtures.py");
  const auto& files = manifest["files"];
  const std::filesystem::path dir = std::filesystem::path(GRADATTR_TEST_DATA_DIR) / "attribution";
  for (const auto& [name, entry] : files.items()) {
    INFO(name);
    std::ifstream f(dir / name, std::ios::binary);
    REQUIRE(f);
    std::string header(256, '\0');
    f.read(header.data(), static_cast<std::streamsize>(header.size()));
    std::string shape = "(";
    const auto dims = entry["shape"].get<std::vector<std::int64_t>>();
    for (std::size_t i = 0; i < dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(dims[i]);
    shape += dims.size() == 1 ? ",)" : ")";
    CHECK(header.find("'shape': " + shape) != std::string::npos);
    const std::string descr = entry["dtype"] == "float32" ? "'<f4'" : entry["dtype"] == "float64" ? "'<f8'" : "?";
    CHECK(header.find("'descr': " + descr) != std::string::npos);
  }
  std::int64_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".npy") continue;
    ++on_disk;
    INFO(e.path().filename().string() << " is not in manifest.json");
    CHECK(files.contains(e.path().filename().string()));
  }
  CHECK(on_disk == static_cast<std::int64_t>(files.size()));
}

// The variants and the fourth score space of issue 13 (docs/methods.md) against
// tests/data/attribution/variants (tools/make_variant_fixtures.py: float64 PyTorch; Grad-CAM++'s
// exact α from autograd's nested derivatives, not from the cumulant formulas).
namespace {
inline Tensor<double> variant_fixture(const std::string& name) { return fixture("variants/" + name); }

template <class T, class Score>
void check_variant_defaults(const std::string& s) {
  const auto& m = model<T>();
  const auto x = input<T>();
  const auto tol = tolerances<T>();
  const auto cls = Target::per_image(kClasses);
  {
    // Float: α's numerator S'² + S'' and its third-order term cancel partly for Post and Log,
    // from a Jacobian computed in float: 2e-3 (as the path methods).
    const double t = std::is_same_v<T, double> ? tol.layer : tol.path;
    const auto r = GradCamPlusPlus<Score, T>(m, kLayer, {.jacobian_rows = 4})(x, cls);  // 10 classes: 3 passes per image
    report("gradcampp_exact_" + s, max_rel(r.raw, variant_fixture("gradcampp_exact_" + s)), t);
    report("gradcampp_exact_weights_" + s, max_rel(r.weights, variant_fixture("gradcampp_exact_weights_" + s)), t);
  }
  report("scorecam_increase_" + s, max_rel(ScoreCam<Score, T>(m, kLayer)(x, cls).raw, variant_fixture("scorecam_increase_" + s)),
         tol.scorecam);
  const std::string m8 = "_m8_" + s;
  report("integrated_gradcam_clamped" + m8,
         max_rel(IntegratedGradCam<Score, T>(m, kLayer, {.steps = 8})(x).raw, variant_fixture("integrated_gradcam_clamped" + m8)),
         tol.path);
  report("rsi_gradcam_relu" + m8,
         max_rel(RsiGradCam<Score, T>(m, kLayer, {.steps = 8, .variant = RsiGradCamVariant::ReluGradients})(x).raw,
                 variant_fixture("rsi_gradcam_relu" + m8)),
         tol.path);
  report("rsi_gradcam_guided" + m8,
         max_rel(RsiGradCam<Score, T>(m, kLayer, {.steps = 8, .variant = RsiGradCamVariant::Guided})(x).raw,
                 variant_fixture("rsi_gradcam_guided" + m8)),
         tol.path);
}
}  // namespace

TEMPLATE_TEST_CASE("Method variants' defaults vs PyTorch on the tiny VGG (every score space)", "[attribution][methods][vgg]",
                   double, float) {
  check_variant_defaults<TestType, Pre>("pre");
  check_variant_defaults<TestType, Post>("post");
  check_variant_defaults<TestType, LogSoftmax>("log");
  check_variant_defaults<TestType, Centered>("centered");
}

TEMPLATE_TEST_CASE("Centered score space: every method vs PyTorch on the tiny VGG", "[attribution][methods][vgg]", double, float) {
  using T = TestType;
  using C = Centered;
  const auto& m = model<T>();
  const auto x = input<T>();
  const auto tol = tolerances<T>();
  const auto cls = Target::per_image(kClasses);
  auto err = [&](const auto& a, const Tensor<double>& b) { return tol.norm_for_input ? norm_rel(a, b) : max_rel(a, b); };
  const auto gc = GradCam<C, T>(m, kLayer)(x);
  REQUIRE(gc.classes == kClasses);
  REQUIRE(gc.score_space == "centered");
  report("centered_gradcam", max_rel(gc.raw, variant_fixture("centered_gradcam")), tol.layer);
  report("centered_gradcam_weights", max_rel(gc.weights, variant_fixture("centered_gradcam_weights")), tol.layer);
  report("centered_gradcamplus", max_rel(GradCamPlus<C, T>(m, kLayer)(x, cls).raw, variant_fixture("centered_gradcamplus")), tol.layer);
  report("centered_gradcampp",
         max_rel(GradCamPlusPlus<C, T>(m, kLayer, {.variant = GradCamPPVariant::ClosedForm})(x, cls).raw,
                 variant_fixture("centered_gradcampp")),
         tol.layer);
  report("centered_hirescam", max_rel(HiResCam<C, T>(m, kLayer)(x, cls).raw, variant_fixture("centered_hirescam")), tol.layer);
  report("centered_xgradcam", max_rel(XGradCam<C, T>(m, kLayer)(x, cls).raw, variant_fixture("centered_xgradcam")), tol.layer);
  report("centered_layercam", max_rel(LayerCam<C, T>(m, kLayer)(x, cls).raw, variant_fixture("centered_layercam")), tol.layer);
  report("centered_scorecam",
         max_rel(ScoreCam<C, T>(m, kLayer, {.variant = cam::ScoreCamWeighting::Softmax})(x, cls).raw, variant_fixture("centered_scorecam")),
         tol.scorecam);
  report("centered_rsi_gradcam_m8", max_rel(RsiGradCam<C, T>(m, kLayer, {.steps = 8})(x).raw, variant_fixture("centered_rsi_gradcam_m8")),
         tol.path);
  report("centered_integrated_gradcam_m8",
         max_rel(IntegratedGradCam<C, T>(m, kLayer, {.steps = 8, .variant = IntegratedGradCamVariant::Signed})(x).raw,
                 variant_fixture("centered_integrated_gradcam_m8")),
         tol.path);
  const auto sal = Saliency<C, T>(m)(x);
  report("centered_saliency", err(sal.raw, variant_fixture("centered_saliency")), tol.input);
  report("centered_inputxgrad", err(InputXGradient<C, T>(m)(x).raw, variant_fixture("centered_inputxgrad")), tol.input);
  report("centered_ig_riemann_m8", err(IntegratedGradients<C, T>(m, {.steps = 8})(x).raw, variant_fixture("centered_ig_riemann_m8")),
         tol.input);
  // Saliency's default display: max over channels of |dS/dx| (Simonyan et al.), Post
  report("saliency_display_maxabs_post",
         max_rel(Saliency<Post, T>(m)(x).displayed(64, 64), variant_fixture("saliency_display_maxabs_post")),
         std::is_same_v<T, double> ? 1e-6 : 2e-3);
}
