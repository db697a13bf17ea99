// The ONNX importer (gradattr::onnx) on models exported from PyTorch by
// tools/make_onnx_fixtures.py (tests/data/onnx/<model>/: model.onnx, meta.json, x.npy, logits.npy,
// input gradients of z_c, y_c and log y_c, and activations and gradients at two cuts per model,
// taken by torch hooks). Float models are compared with stated tolerances, the double model to
// 1e-10. Also: the VGG exported to ONNX against the safetensors loader, float16 weights widened
// exactly, external data, the load options, the crafted bad corpus (tests/data/bad/onnx), and
// every method × variant × score space on the double ResNet against
// tools/make_onnx_method_fixtures.py (tests/data/onnx/resnet_basic_f64/methods/).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include <onnx/onnx_pb.h>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/attribution/runtime.hpp"
#include "gradattr/io/npy.hpp"
#include "gradattr/metrics/audit.hpp"
#include "gradattr/models/any_classifier.hpp"
#include "gradattr/models/equivalent.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "gradattr/onnx/load.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr;
namespace fs = std::filesystem;

namespace {

std::string onnx_file(const std::string& model, const std::string& file) {
  return gradattr::testing::data_file("onnx/" + model + "/" + file);
}

nlohmann::json meta_of(const std::string& model) {
  std::ifstream in(onnx_file(model, "meta.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

template <class T>
Tensor<T> npy(const std::string& model, const std::string& file) {
  return io::read_npy_f64(onnx_file(model, file)).template cast<T>();
}

// max |a − b| / max(|b|) over the tensor: one scale per tensor, as the gradients' magnitudes
// vary by orders across a network.
template <class T>
double rel_err(const Tensor<T>& a, const Tensor<double>& b) {
  REQUIRE(a.numel() == b.numel());
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0 ? num / den : num;
}

// The score S(z) for class c in one of the three spaces, recorded.
template <class T>
ad::Var<T> score_of(const ad::Var<T>& z, std::int64_t c, const std::string& space) {
  const std::vector<std::int64_t> cls(static_cast<std::size_t>(z.shape()[0]), c);
  if (space == "pre") return ad::sum(ad::gather(z, cls));
  if (space == "post") return ad::sum(ad::gather(ad::softmax(z), cls));
  return ad::sum(ad::gather(ad::log_softmax(z), cls));
}

// ∂S/∂(activation at `layer`), every value not computed from it held fixed.
template <class T, class M>
Tensor<T> grad_at(const M& model, const Tensor<T>& x, const std::string& layer, std::int64_t c, const std::string& space) {
  const auto cut = model.forward_until(x, layer);
  ad::Tape<T> tape;
  const auto a = tape.variable(cut.activation.value());
  const auto s = score_of(model.forward_from(cut.with_activation(a), tape), c, space);
  return ad::grad(tape, s, {a})[0];
}

const char* kSpaces[] = {"pre", "post", "log"};

// The float fixtures and their tolerances: relative to each tensor's largest magnitude.
template <class T>
void check_model(const std::string& name, double tol_logits, double tol_grad, const std::string& file = "model.onnx",
                 bool input_grads = true) {
  INFO("model " << name << "/" << file);
  const auto meta = meta_of(name);
  const auto model = gradattr::onnx::load<T>(onnx_file(name, file));
  const auto x = npy<T>(name, "x.npy");
  const std::int64_t c = meta.at("class").get<std::int64_t>();
  CHECK(rel_err(model.forward(x), io::read_npy_f64(onnx_file(name, "logits.npy"))) < tol_logits);
  for (const char* space : kSpaces) {
    if (!input_grads) break;
    INFO("input gradient, " << space);
    CHECK(rel_err(grad_at(model, x, "input", c, space), npy<double>(name, std::string("grad_input_") + space + ".npy")) <
          tol_grad);
  }
  int i = 0;
  for (const auto& cut : meta.at("cuts")) {
    const std::string module = cut.at("module").get<std::string>();
    INFO("cut " << i << " at " << module);
    // The module path and the ONNX value name name the same layer.
    // (a file at another opset may name the value differently: its own list, when meta has one)
    const auto& fmeta = meta.at("files").at(file);
    const std::string value = (fmeta.contains("cuts") ? fmeta.at("cuts").at(i) : cut).at("value").get<std::string>();
    CHECK(model.resolve_layer(module) == model.resolve_layer(value));
    const auto act = model.forward_until(x, module).activation.value();
    CHECK(rel_err(act, npy<double>(name, "act_" + std::to_string(i) + ".npy")) < tol_logits);
    for (const char* space : kSpaces) {
      INFO(space);
      CHECK(rel_err(grad_at(model, x, module, c, space),
                    npy<double>(name, "grad_" + std::to_string(i) + "_" + space + ".npy")) < tol_grad);
    }
    ++i;
  }
}

}  // namespace

TEST_CASE("ONNX CNNs exported from torchvision: logits, input and layer gradients match PyTorch", "[onnx]") {
  // float: ~1e-5 relative for logits and activations, 1e-4 for gradients (float accumulation
  // over a dozen layers; the double model below shows the maths is exact).
  for (const char* name : {"resnet_basic", "resnet_bottleneck", "densenet", "mobilenet_v2", "efficientnet_b0", "vgg_bn"}) {
    SECTION(name) { check_model<float>(name, 2e-5, 2e-4); }
  }
  SECTION("resnet_basic at opset 13") { check_model<float>("resnet_basic", 2e-5, 2e-4, "model_opset13.onnx"); }
  // The VGG's 3x3 convolutions take the Winograd path in float: 5e-5 (docs/benchmarks.md).
  SECTION("vgg_tiny (cuts only)") { check_model<float>("vgg_tiny", 5e-5, 2e-4, "model.onnx", false); }
}

TEST_CASE("A narrow torchvision ViT at opset 17 and 13: logits, input and token-layer gradients match PyTorch", "[onnx][vit]") {
  // tools/make_vit_fixtures.py. Opset 17 has LayerNormalization, opset 13 its decomposition;
  // both have the class token (Expand, Concat, Gather) and nn.MultiheadAttention's Slice bounds
  // computed from Shape (folded at load). Cuts: the last block's ln_1 and the first block's output.
  SECTION("opset 17") { check_model<float>("vit_narrow", 1e-5, 1e-4); }
  SECTION("opset 13") { check_model<float>("vit_narrow", 1e-5, 1e-4, "model_opset13.onnx"); }
  SECTION("the batch is free: two images give each one's logits") {
    const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
    const auto x = npy<float>("vit_narrow", "x.npy");
    Tensor<float> x2(Shape{2, 3, 32, 32});
    for (std::int64_t i = 0; i < x.numel(); ++i) x2[i] = 0.5f * x[i], x2[x.numel() + i] = x[i];
    const auto z = model.forward(x2);
    REQUIRE(z.shape() == Shape{2, 10});
    const auto z1 = model.forward(x);
    for (std::int64_t k = 0; k < 10; ++k) CHECK(z[10 + k] == Approx(z1[k]).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("A double ONNX model matches PyTorch in double to 1e-10", "[onnx]") {
  check_model<double>("resnet_basic_f64", 1e-10, 1e-10);
}

TEST_CASE("Float16 initializers are widened exactly", "[onnx]") {
  const auto model = gradattr::onnx::load<double>(onnx_file("resnet_basic_f16", "model.onnx"));
  const auto x = npy<double>("resnet_basic_f16", "x.npy");
  CHECK(model.input_shape() == Shape{1, 3, 64, 64});
  CHECK(meta_of("resnet_basic_f16").at("input_shape") == nlohmann::json::array({1, 3, 64, 64}));
  // The reference ran in float32 with the float16-rounded weights: agreement to float precision
  // (an inexact widening would be off by ~1e-3, float16's precision).
  CHECK(rel_err(model.forward(x), io::read_npy_f64(onnx_file("resnet_basic_f16", "logits.npy"))) < 1e-5);
}

TEST_CASE("External data inside the model's directory is read", "[onnx]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("resnet_basic_external", "model.onnx"));
  (void)gradattr::testing::data_file("onnx/resnet_basic_external/weights.bin");
  const auto x = npy<float>("resnet_basic_external", "x.npy");
  CHECK(meta_of("resnet_basic_external").at("input_shape") == nlohmann::json::array({1, 3, 64, 64}));
  CHECK(rel_err(model.forward(x), io::read_npy_f64(onnx_file("resnet_basic_external", "logits.npy"))) < 2e-5);
}

TEST_CASE("The VGG exported to ONNX gives the safetensors loader's logits", "[onnx]") {
  const auto onnx_model = gradattr::onnx::load<double>(onnx_file("vgg_tiny", "model.onnx"));
  const auto st_model = models::vgg_from_safetensors<double>(gradattr::testing::data_file("vgg_tiny/model_f64.safetensors"));
  const auto x = npy<double>("vgg_tiny", "x.npy");
  const auto a = onnx_model.forward(x), b = st_model.forward(x);
  CHECK(rel_err(a, b) < 1e-6);  // the ONNX file holds float32 weights; the safetensors, double
  CHECK(rel_err(a, io::read_npy_f64(onnx_file("vgg_tiny", "logits.npy"))) < 1e-5);
}

TEST_CASE("Every method runs on an ONNX ResNet in every score space", "[onnx][attribution]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("resnet_basic", "model.onnx"));
  const auto x = npy<float>("resnet_basic", "x.npy");
  RunOptions o;
  o.steps = 4;
  o.samples = 3;
  o.batch_size = 4;
  for (const auto& info : kMethodInfo) {
    if (info.kind == MethodKind::Attention) continue;  // a ResNet has no attention: the ViT tests below
    for (const auto kind : score::kAllScoreKinds) {
      INFO(info.name << " " << score::to_string(kind));
      const auto r = run_method(info.method, kind, model, x, Target(), o);
      CHECK(r.raw.numel() > 0);
      bool finite = true;
      for (float v : r.raw) finite = finite && std::isfinite(v);
      CHECK(finite);
    }
  }
  // Every documented variant too (kVariantInfo), in the log space.
  for (const auto& v : kVariantInfo) {
    INFO(method_info(v.method).name << " --variant " << v.name);
    RunOptions ov = o;
    ov.variant = std::string(v.name);
    const auto r = run_method(v.method, ScoreKind::LogSoftmax, model, x, Target(), ov);
    bool finite = r.raw.numel() > 0;
    for (float val : r.raw) finite = finite && std::isfinite(val);
    CHECK(finite);
  }
  // Without a layer, CAM methods use the last spatial activation: layer4's output.
  CHECK(model.default_cam_layer() == "layer4");
}

TEST_CASE("Loading: a terminal Softmax is removed and said; unknown layers list the names", "[onnx]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("resnet_basic", "model.onnx"));
  CHECK(model.num_classes() == 10);
  CHECK_THROWS_WITH(model.resolve_layer("layer9"), Catch::Contains("layer9") && Catch::Contains("model.onnx"));
  CHECK(model.layer("layer4").shape.rank() == 4);
  // Every op of the file is one gradattr runs.
  const auto ops = gradattr::onnx::supported_ops();
  for (const auto& op : meta_of("resnet_basic").at("ops"))
    CHECK(std::find(ops.begin(), ops.end(), op.get<std::string>()) != ops.end());
}

TEST_CASE("The bad ONNX corpus: each file is refused with the error and names its manifest gives", "[onnx][errors]") {
  std::ifstream in(gradattr::testing::data_file("bad/onnx/expected.json"));
  REQUIRE(in);
  const auto expected = nlohmann::json::parse(in);
  REQUIRE(expected.size() >= 15);
  // Every file of the directory is a case or a case's companion (nothing silently unchecked).
  std::set<std::string> listed{"expected.json"};
  for (const auto& [file, want] : expected.items()) {
    listed.insert(file);
    for (const auto& c : want.value("companions", nlohmann::json::array())) listed.insert(c.get<std::string>());
  }
  for (const auto& f : fs::directory_iterator(fs::path(gradattr::testing::data_file("bad/onnx/expected.json")).parent_path())) {
    INFO(f.path());
    CHECK(listed.contains(f.path().filename().string()));
  }
  for (const auto& [file, want] : expected.items()) {
    INFO(file);
    const std::string path = gradattr::testing::data_file("bad/onnx/" + file);
    for (const auto& c : want.value("companions", nlohmann::json::array()))
      (void)gradattr::testing::data_file("bad/onnx/" + c.get<std::string>());  // read by the importer
    std::string type = "none", message;
    try {
      (void)gradattr::onnx::load<float>(path);
    } catch (const FormatError& e) {
      type = "FormatError", message = e.what();
    } catch (const IoError& e) {
      type = "IoError", message = e.what();
    } catch (const std::exception& e) {
      type = std::string("other: ") + e.what();
    }
    INFO(message);
    if (want.at("error").is_null()) {  // the valid base of the corpus: must load
      CHECK(type == "none");
      continue;
    }
    CHECK(type == want.at("error").get<std::string>());
    CHECK(message.find(fs::path(file).filename().string()) != std::string::npos);
    for (const auto& s : want.at("must_name")) CHECK(message.find(s.get<std::string>()) != std::string::npos);
  }
}

// The fixture with a Softmax (or LogSoftmax) appended as the graph's output, written with ONNX's
// own classes: the loader must use the Softmax's input as the logits (torch's logits, from the
// fixture) and say so.
TEST_CASE("A graph ending in Softmax or LogSoftmax: its input is the logits, and the model says so", "[onnx]") {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    INFO(op);
    ::onnx::ModelProto m;
    {
      std::ifstream in(onnx_file("resnet_basic", "model.onnx"), std::ios::binary);
      REQUIRE(m.ParseFromIstream(&in));
    }
    auto* g = m.mutable_graph();
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(std::string("/") + op);
    n->add_input(g->output(0).name());
    n->add_output("probs");
    auto* a = n->add_attribute();
    a->set_name("axis");
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(1);
    g->mutable_output(0)->set_name("probs");
    const auto path = fs::temp_directory_path() / (std::string("gradattr_softmax_tail_") + op + ".onnx");
    {
      std::ofstream out(path, std::ios::binary);
      REQUIRE(m.SerializeToOstream(&out));
    }
    const auto model = gradattr::onnx::load<float>(path.string());
    fs::remove(path);
    const auto x = npy<float>("resnet_basic", "x.npy");
    CHECK(rel_err(model.forward(x), io::read_npy_f64(onnx_file("resnet_basic", "logits.npy"))) < 2e-5);
    REQUIRE(model.notes().size() >= 1);
    CHECK_THAT(model.notes()[0], Catch::Contains(op) && Catch::Contains("logits"));
  }
}

// Every method (each documented variant) × every score space on the float64 ONNX ResNet against
// tools/make_onnx_method_fixtures.py (float64 PyTorch on the same network, never gradattr; files
// tests/data/onnx/resnet_basic_f64/methods/<method>__<variant>__<cut>__<space>.npy, manifest.json
// says what each is). CAM methods at two cuts: layer4 (the block's output) and layer3.0.relu
// (inside a block: the block input crosses the cut through downsample into the Add). Batch of 2
// images, one class each (the second-largest logit); path methods M = 8, zero baseline;
// SmoothGrad with the fixture's 4 noise tensors. Iterates over kMethodInfo, kVariantInfo and
// kAllScoreKinds: a method, variant or score space without a fixture fails here.
namespace {

const char* kMethodCuts[] = {"layer4", "layer3.0.relu"};

std::string method_fixture(std::string_view method, std::string_view variant, const std::string& cut, std::string_view space) {
  std::string m;
  for (char ch : method) m += ch == '+' ? std::string("plus") : std::string(1, ch);
  return onnx_file("resnet_basic_f64", "methods/" + m + "__" + std::string(variant) + "__" + cut + "__" + std::string(space) + ".npy");
}

// The documented variants of a method (kVariantInfo), or {""} (its only form) for one without.
std::vector<std::string> variants_of(Method m) {
  std::vector<std::string> out;
  for (const auto& v : kVariantInfo)
    if (v.method == m) out.emplace_back(v.name);
  if (out.empty()) out.emplace_back();
  return out;
}

// Relative tolerance (max |a − b| / max |b| over the map of both images), double. Seen: every
// map within 8.4e-15, except Grad-CAM++'s exact α in post and log (3.7e-13 and 1.9e-12 at
// layer3.0.relu): there α's numerator S'² + S'' cancels partly, and the two sides get S'' and S'''
// differently (gradattr from the head Jacobian's cumulants, the fixture by nested autograd).
double method_tolerance(Method m, const std::string& variant) {
  return m == Method::GradCamPlusPlus && (variant.empty() || variant == "exact") ? 1e-10 : 1e-12;
}

}  // namespace

TEST_CASE("Every method x variant x score space on the double ONNX ResNet matches PyTorch", "[onnx][attribution]") {
  const auto model = gradattr::onnx::load<double>(onnx_file("resnet_basic_f64", "model.onnx"));
  const auto x = npy<double>("resnet_basic_f64", "methods/x2.npy");
  REQUIRE(x.shape() == Shape{2, 3, 64, 64});
  // image 0 is the fixture's x.npy
  const auto x0 = npy<double>("resnet_basic_f64", "x.npy");
  for (std::int64_t i = 0; i < x0.numel(); ++i) REQUIRE(x[i] == x0[i]);
  const auto cls_t = npy<double>("resnet_basic_f64", "methods/classes.npy");
  const std::vector<std::int64_t> classes{static_cast<std::int64_t>(cls_t[0]), static_cast<std::int64_t>(cls_t[1])};
  CHECK(classes[0] == meta_of("resnet_basic_f64").at("class").get<std::int64_t>());
  const auto target = Target::per_image(classes);
  std::vector<Tensor<double>> noise;
  for (int s = 0; s < 4; ++s) noise.push_back(npy<double>("resnet_basic_f64", "methods/smoothgrad_noise_" + std::to_string(s) + ".npy"));

  const bool verbose = std::getenv("GRADATTR_VERBOSE") != nullptr;
  std::set<std::string> compared;
  for (const auto& info : kMethodInfo) {
    if (info.kind == MethodKind::Attention) continue;  // checked on the ViT (attention/ fixtures, below)
    std::vector<std::string> cuts;
    if (info.layer_method) cuts.assign(std::begin(kMethodCuts), std::end(kMethodCuts));
    else cuts.emplace_back("input");
    double worst = 0;
    for (const auto& variant : variants_of(info.method)) {
      // Saliency's variants change only the displayed map: one raw fixture for both.
      const std::string fixture_variant =
          info.method == Method::Saliency ? std::string(default_variant(info.method)) : variant.empty() ? "default" : variant;
      for (const auto& cut : cuts) {
        for (const auto kind : score::kAllScoreKinds) {
          const std::string space(score::to_string(kind));
          INFO(info.name << " variant '" << variant << "' at " << cut << ", " << space);
          const std::string path = method_fixture(info.name, fixture_variant, cut, space);
          REQUIRE(fs::exists(path));
          Attribution<double> r;
          if (info.method == Method::SmoothGrad) {  // the given noise: not a RunOptions field
            r = score::dispatch_score(kind, [&](auto policy) {
              return SmoothGrad<decltype(policy), double>(model, {.noise = noise})(x, target);
            });
          } else {
            RunOptions o;
            o.layer = info.layer_method ? cut : std::string();
            o.steps = 8;
            o.variant = variant;
            r = run_method(info.method, kind, model, x, target, o);
          }
          CHECK(r.classes == classes);
          const auto want = io::read_npy_f64(path);
          REQUIRE(r.raw.shape() == want.shape());
          const double e = rel_err(r.raw, want);
          worst = std::max(worst, e);
          if (verbose) std::cout << "  " << fs::path(path).filename().string() << ": " << e << "\n";
          CHECK(e < method_tolerance(info.method, variant));
          compared.insert(fs::path(path).filename().string());
        }
      }
    }
    if (verbose) std::cout << info.name << ": worst " << worst << "\n";
  }
  // manifest.json lists exactly the files of the directory; every map in it was compared.
  std::ifstream in(onnx_file("resnet_basic_f64", "methods/manifest.json"));
  REQUIRE(in);
  const auto manifest = nlohmann::json::parse(in);
  CHECK(manifest.at("generator") == "tools/make_onnx_method_fixtures.py");
  std::set<std::string> listed;
  for (const auto& [file, entry] : manifest.at("files").items()) listed.insert(file);
  std::set<std::string> on_disk;
  for (const auto& f : fs::directory_iterator(fs::path(onnx_file("resnet_basic_f64", "methods/manifest.json")).parent_path()))
    if (f.path().extension() == ".npy") on_disk.insert(f.path().filename().string());
  CHECK(listed == on_disk);
  for (const auto& f : on_disk) {
    INFO(f << " is not compared");
    CHECK((compared.contains(f) || f == "x2.npy" || f == "classes.npy" || f.starts_with("smoothgrad_noise_")));
  }
}

TEST_CASE("A large initializer read by two nodes is read twice correctly, held once in float", "[onnx]") {
  // input [1, 128, 1, 1] -> Flatten -> Gemm(W, transB) -> Gemm(W, transB) -> logits [1, 128]:
  // W (128 x 128 = 16384 floats) is large enough that the importer frees its decoded values once
  // the first Gemm has made it a graph constant; the second Gemm must read them back.
  const std::int64_t n = 128;
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("shared_weight");
  auto value = [](::onnx::ValueInfoProto* v, const std::string& name, std::vector<std::int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  value(g->add_input(), "input", {1, n, 1, 1});
  value(g->add_output(), "logits", {1, n});
  const auto w = gradattr::testing::random_tensor<float>(Shape{n, n}, 77, -0.2, 0.2);
  auto* init = g->add_initializer();
  init->set_name("W");
  init->set_data_type(::onnx::TensorProto::FLOAT);
  init->add_dims(n);
  init->add_dims(n);
  init->set_raw_data(std::string(reinterpret_cast<const char*>(w.data()), static_cast<std::size_t>(n * n) * sizeof(float)));
  auto add = [&](const std::string& type, const std::string& name, std::vector<std::string> in, const std::string& out) {
    auto* node = g->add_node();
    node->set_op_type(type);
    node->set_name(name);
    for (const auto& i : in) node->add_input(i);
    node->add_output(out);
    return node;
  };
  add("Flatten", "/Flatten", {"input"}, "flat");
  for (const char* k : {"1", "2"}) {
    auto* node = add("Gemm", std::string("/fc") + k + "/Gemm", {k[0] == '1' ? "flat" : "h", "W"}, k[0] == '1' ? "h" : "logits");
    auto* a = node->add_attribute();
    a->set_name("transB");
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(1);
  }
  const auto path = fs::temp_directory_path() / "gradattr_shared_weight.onnx";
  {
    std::ofstream out(path, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&out));
  }
  // W is held once, as the file stores it (float); a float model built from the GraphDef it
  // consumes shares the buffer, one built from a kept GraphDef copies it
  const graph::GraphDef def = gradattr::onnx::read_graph(path.string());
  REQUIRE(def.constants.contains("W"));
  const graph::Constant& held = def.constants.at("W");
  CHECK(held.is_float());
  CHECK(held.as<float>(true).data() == held.as<float>(true).data());
  CHECK(held.as<float>(false).data() != held.as<float>(true).data());
  CHECK(held.to_double()[5] == static_cast<double>(w[5]));
  const auto model = gradattr::onnx::load<double>(path.string());
  const auto model_f = gradattr::onnx::load<float>(path.string());
  fs::remove(path);
  const auto x = gradattr::testing::random_tensor<double>(Shape{1, n, 1, 1}, 78);
  std::vector<double> h(static_cast<std::size_t>(n)), z(static_cast<std::size_t>(n));
  for (std::int64_t o = 0; o < n; ++o)
    for (std::int64_t i = 0; i < n; ++i) h[o] += static_cast<double>(w[o * n + i]) * x[i];
  for (std::int64_t o = 0; o < n; ++o)
    for (std::int64_t i = 0; i < n; ++i) z[o] += static_cast<double>(w[o * n + i]) * h[i];
  const auto got = model.forward(x);
  REQUIRE(got.shape() == Shape{1, n});
  double err = 0;
  for (std::int64_t o = 0; o < n; ++o) err = std::max(err, std::abs(got[o] - z[o]));
  CHECK(err < 1e-12);
  const auto got_f = model_f.forward(x.cast<float>());
  double err_f = 0;
  for (std::int64_t o = 0; o < n; ++o) err_f = std::max(err_f, std::abs(static_cast<double>(got_f[o]) - z[o]));
  CHECK(err_f < 1e-4);
}

TEST_CASE("CAM methods on a ViT token layer fold the patch tokens into the grid, as pytorch-grad-cam's reshape_transform",
          "[onnx][vit][attribution]") {
  // tools/make_vit_fixtures.py, cams/: the hook at encoder.layers.encoder_layer_1.ln_1, the
  // class token dropped and the 16 patch tokens folded to 4x4 by hand in torch, then the CAM
  // formulas; raw maps [1, 4, 4]. The default CAM layer of a ViT is that ln_1.
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  const std::int64_t c = meta_of("vit_narrow").at("class").get<std::int64_t>();
  REQUIRE(model.default_cam_layer() == "encoder.layers.encoder_layer_1.ln_1");
  for (const auto kind : {score::ScoreKind::Pre, score::ScoreKind::Post}) {
    const std::string space(score::to_string(kind));
    for (const auto method : {Method::GradCam, Method::HiResCam}) {
      const std::string name = method == Method::GradCam ? "gradcam" : "hirescam";
      INFO(name << " " << space);
      RunOptions o;  // no layer: the default
      const auto r = run_method(method, kind, model, x, Target::per_image({c}), o);
      CHECK(r.layer == "encoder.layers.encoder_layer_1.ln_1");
      const auto want = npy<double>("vit_narrow", "cams/" + name + "__" + space + ".npy");
      REQUIRE(r.raw.shape() == want.shape());
      CHECK(rel_err(r.raw, want) < 2e-4);
    }
  }
  // A rank-3 layer whose tokens are no class token plus a square: refused, naming it and its shape.
  const std::string qkv = "/encoder/layers/encoder_layer_1/self_attention/Transpose_output_0";  // [17, N, 32]
  REQUIRE(model.layer(qkv).shape == Shape{17, 1, 32});
  try {
    GradCam<score::Pre> cam(model, qkv);
    (void)cam(x, Target::per_image({c}));
    FAIL("no error");
  } catch (const ArgumentError& e) {
    CHECK_THAT(e.what(), Catch::Contains(model.resolve_layer(qkv)) && Catch::Contains("[17, 1, 32]") && Catch::Contains("square"));
  }
}

// Attention methods on the narrow ViT (docs/methods.md, "Attention methods"). References:
// tools/make_vit_fixtures.py, attention/: the encoder re-run by hand in PyTorch from the modules'
// weights, each block's attention probabilities kept on the autograd graph, the formulas applied
// there (never gradattr). Raw maps [1, 4, 4], float model against float64 torch.
namespace {

const char* kVitAttention[] = {"/encoder/layers/encoder_layer_0/self_attention/Softmax",
                               "/encoder/layers/encoder_layer_1/self_attention/Softmax"};

template <class M>
Attribution<float> run_attention(Method m, score::ScoreKind kind, const M& model, const Tensor<float>& x, const Target& t) {
  return run_method(m, kind, model, x, t, RunOptions{});
}

}  // namespace

TEST_CASE("ViT: the attention layers are the Softmax outputs that multiply V, found in the graph", "[onnx][vit][attention]") {
  for (const char* file : {"model.onnx", "model_opset13.onnx"}) {
    INFO(file);
    const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", file));
    const auto& layers = model.attention_layers();
    REQUIRE(layers.size() == 2);  // num_layers = 2
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const auto& info = model.layer(layers[l]);
      CHECK(info.node == kVitAttention[l]);
      CHECK(info.op == "Softmax");
      CHECK(info.shape == Shape{2, 17, 17});  // [N * heads, T, T] at batch 1: 2 heads, 1 + 16 tokens
    }
    // Through the run-time wrapper too.
    const models::AnyClassifier<float> any(model, model.input_shape());
    CHECK(any.attention_layers() == layers);
  }
  // A CNN has none.
  CHECK(gradattr::onnx::load<float>(onnx_file("resnet_basic", "model.onnx")).attention_layers().empty());
}

TEST_CASE("ViT: attention rollout and attention relevance match PyTorch in every score space", "[onnx][vit][attention]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  const std::int64_t c = meta_of("vit_narrow").at("class").get<std::int64_t>();
  const auto rollout_want = npy<double>("vit_narrow", "attention/rollout.npy");
  std::vector<Tensor<float>> rollouts;
  std::map<std::string, Tensor<float>> relevance;
  for (const auto kind : score::kAllScoreKinds) {
    const std::string space(score::to_string(kind));
    INFO(space);
    const auto rel = run_attention(Method::AttentionRelevance, kind, model, x, Target::per_image({c}));
    const auto want = npy<double>("vit_narrow", "attention/relevance__" + space + ".npy");
    REQUIRE(rel.raw.shape() == want.shape());
    CHECK(rel_err(rel.raw, want) < 1e-4);
    CHECK(rel.method == "attention-relevance");
    CHECK(rel.score_space == space);
    CHECK(rel.layer == "attention");
    CHECK(rel.classes == std::vector<std::int64_t>{c});
    CHECK(rel.model_evaluations == 1);
    REQUIRE(rel.gradient_norm.size() == 1);
    CHECK(rel.gradient_norm[0] > 0);
    relevance[space] = rel.raw;
    // Rollout: the same map for every score space and every class (no gradient).
    for (const std::int64_t cls : {c, (c + 3) % 10}) {
      const auto ro = run_attention(Method::AttentionRollout, kind, model, x, Target::per_image({cls}));
      REQUIRE(ro.raw.shape() == rollout_want.shape());
      CHECK(rel_err(ro.raw, rollout_want) < 1e-4);
      CHECK(ro.classes == std::vector<std::int64_t>{cls});
      CHECK(ro.gradient_norm.empty());
      rollouts.push_back(ro.raw);
    }
  }
  for (const auto& r : rollouts)
    for (std::int64_t i = 0; i < r.numel(); ++i) CHECK(r[i] == rollouts.front()[i]);
  // The score space matters for the relevance: Pre's map is not Post's rescaled (each scaled to max 1).
  auto unit = [](const Tensor<float>& m) {
    double mx = 0;
    for (float v : m) mx = std::max(mx, static_cast<double>(v));
    Tensor<double> out = m.cast<double>();
    for (auto& v : out) v /= mx;
    return out;
  };
  CHECK(rel_err(unit(relevance.at("pre")), unit(relevance.at("post"))) > 0.1);
}

TEST_CASE("ViT: an image's attention maps are the same alone and inside a batch", "[onnx][vit][attention]") {
  // The attention values of a batch are [N * heads, T, T], batch-major: image n owns rows n*H..n*H+H-1.
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  Tensor<float> x2({2, 3, 32, 32});
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    x2[i] = 0.5f * x[x.numel() - 1 - i];  // another image first
    x2[x.numel() + i] = x[i];
  }
  for (const auto m : {Method::AttentionRollout, Method::AttentionRelevance}) {
    INFO(to_string(m));
    const auto batch = run_attention(m, score::ScoreKind::LogSoftmax, model, x2, Target::per_image({4, 7}));
    const auto alone = run_attention(m, score::ScoreKind::LogSoftmax, model, x, Target::per_image({7}));
    REQUIRE(batch.raw.shape() == Shape{2, 4, 4});
    Tensor<double> second({1, 4, 4});
    for (std::int64_t i = 0; i < 16; ++i) second[i] = batch.raw[16 + i];
    CHECK(rel_err(alone.raw, second) < 1e-5);
    double diff = 0;  // and the first image's map is its own
    for (std::int64_t i = 0; i < 16; ++i) diff = std::max(diff, std::abs(static_cast<double>(batch.raw[i] - batch.raw[16 + i])));
    CHECK(diff > 1e-4);
  }
}

TEST_CASE("ViT: attention relevance on the shifted twin: Post, Log and Centered hold, Pre moves when t follows an attention",
          "[onnx][vit][attention][equivalent]") {
  // models::Shifted: z' = z + K t(x) 1. At a token layer t = K * the class token's channel sum.
  // With t built after block 0 (encoder_layer_0's output) t depends on block 0's attention, so
  // the Pre gradient there gains K dt/dA_0: the reference (attention/relevance_shifted__*.npy)
  // is PyTorch's on the same twin. With t built from the input, t does not depend on any
  // attention probability and even Pre does not move.
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  const std::int64_t c = meta_of("vit_narrow").at("class").get<std::int64_t>();
  const auto am = meta_of("vit_narrow").at("attention");
  const double K = am.at("shift_k").get<double>();
  const models::Shifted<const graph::GraphModel<float>&> twin(model, am.at("shift_layer").get<std::string>(), K);
  const models::Shifted<const graph::GraphModel<float>&> input_twin(model, "input", K);
  CHECK(twin.attention_layers() == model.attention_layers());
  for (const auto kind : score::kAllScoreKinds) {
    const std::string space(score::to_string(kind));
    INFO(space);
    const auto own = run_attention(Method::AttentionRelevance, kind, model, x, Target::per_image({c}));
    const auto shifted = run_attention(Method::AttentionRelevance, kind, twin, x, Target::per_image({c}));
    CHECK(rel_err(shifted.raw, npy<double>("vit_narrow", "attention/relevance_shifted__" + space + ".npy")) < 1e-4);
    const double moved = rel_err(shifted.raw, own.raw.cast<double>());
    if (kind == score::ScoreKind::Pre)
      CHECK(moved > 1.0);  // measured: the Pre map changes completely (its max grows about 17x)
    else
      CHECK(moved < 1e-4);  // shift-invariant score spaces: the same map
    const auto from_input = run_attention(Method::AttentionRelevance, kind, input_twin, x, Target::per_image({c}));
    CHECK(rel_err(from_input.raw, own.raw.cast<double>()) < 1e-5);
    // Rollout does not see the logits at all.
    const auto ro = run_attention(Method::AttentionRollout, kind, twin, x, Target::per_image({c}));
    CHECK(rel_err(ro.raw, npy<double>("vit_narrow", "attention/rollout.npy")) < 1e-4);
  }
}

// The report's trained Fashion ViT (E11, examples/data/vit_fashion.onnx): gradattr's forward of 4
// t10k images equals PyTorch's (tools/train_vit_fashion.py --ref), a batch of 4 through the
// symbolic batch dimension.
TEST_CASE("The report's Fashion ViT: gradattr's logits equal PyTorch's on 4 test images", "[onnx][vit]") {
  const auto model = gradattr::onnx::load<float>(std::string(GRADATTR_SOURCE_DIR) + "/examples/data/vit_fashion.onnx");
  const auto x = npy<float>("vit_fashion", "x.npy");
  const auto ref = npy<double>("vit_fashion", "logits.npy");
  REQUIRE(x.shape() == Shape{4, 1, 28, 28});
  const auto z = model.forward(x);
  REQUIRE(z.shape() == Shape{4, 10});
  CHECK(rel_err(z, ref) < 1e-4);
}

// The token of a token-layer twin: t = K Σ_d A_{p,d}. Grad-CAM on tokens averages the gradient
// over the Z = 16 patch tokens (the class token is dropped), so t on patch 1 adds K to the Pre
// gradient of that one token in every channel: w'_d − w_d = K / Z exactly, as for a CNN's
// A_{k,0,0} (docs/methods.md §4). t on the class token (p = 0) at the CAM layer has no gradient
// on any patch token there: even Pre's weights do not move.
TEST_CASE("ViT: the shifted twin on a patch token shifts Pre Grad-CAM weights by K/Z; on the class token by nothing",
          "[onnx][vit][equivalent]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  const std::int64_t c = meta_of("vit_narrow").at("class").get<std::int64_t>();
  const std::string layer = meta_of("vit_narrow").at("attention").at("shift_layer").get<std::string>();
  const double K = 10, Z = 16;
  RunOptions o;
  o.layer = layer;
  for (const std::int64_t token : {0, 1}) {
    const models::Shifted<const graph::GraphModel<float>&> twin(model, layer, K, token);
    for (const auto kind : score::kAllScoreKinds) {
      INFO("token " << token << ", " << score::to_string(kind));
      const auto a = run_method(Method::GradCam, kind, model, x, Target::per_image({c}), o);
      const auto b = run_method(Method::GradCam, kind, twin, x, Target::per_image({c}), o);
      REQUIRE(a.weights.numel() == 32);
      double wmax = 0, err = 0;
      for (std::int64_t d = 0; d < a.weights.numel(); ++d) {
        wmax = std::max(wmax, std::abs(static_cast<double>(a.weights[d])));
        const double expect = kind == score::ScoreKind::Pre && token == 1 ? K / Z : 0.0;
        err = std::max(err, std::abs(static_cast<double>(b.weights[d]) - static_cast<double>(a.weights[d]) - expect));
      }
      CHECK(err < 1e-4 * std::max(1.0, wmax));
    }
  }
  CHECK_THROWS_WITH(models::Shifted<const graph::GraphModel<float>&>(model, layer, K, 17).forward(x),
                    Catch::Contains("token 17") && Catch::Contains("has 17 tokens"));
  CHECK_THROWS_WITH(models::Shifted<const graph::GraphModel<float>&>(model, layer, K, -1),
                    Catch::Contains("the token must be >= 0"));
}

TEST_CASE("The audit of a ViT runs the attention methods too: rollout never moves, relevance moves in Pre only",
          "[onnx][vit][attention][equivalent]") {
  const auto model = gradattr::onnx::load<float>(onnx_file("vit_narrow", "model.onnx"));
  const auto x = npy<float>("vit_narrow", "x.npy");
  const auto am = meta_of("vit_narrow").at("attention");
  metrics::AuditOptions o;
  o.shift_layer = am.at("shift_layer").get<std::string>();  // after block 0: t follows an attention (test above)
  o.layer = o.shift_layer;  // the twin runs CAMs from the shift layer or before it (models::Shifted)
  o.k = am.at("shift_k").get<double>();
  o.methods = {"gradcam", "rollout", "attention-relevance"};
  const auto rep = metrics::audit(model, x, o);
  REQUIRE(rep.rows.size() == 3 * score::kAllScoreKinds.size());
  CHECK(rep.unexpected().empty());
  for (const auto& row : rep.rows) {
    INFO(row.method << " " << row.policy << ": relative change " << row.relative_diff_raw << ", tolerance " << rep.tolerance);
    if (row.method == "rollout") CHECK(row.relative_diff_raw == 0);  // the same attention, no gradient
    if (row.method == "attention-relevance" && row.policy == "pre") CHECK(row.relative_diff_raw > 1.0);
    if (row.method == "attention-relevance" && row.policy != "pre") CHECK(row.invariant);
  }
  // By default every method the model runs: the general ones, then the attention ones.
  const auto names = metrics::audit_methods(model);
  CHECK(names.size() == kGeneralMethods.size() + 2);
  CHECK(names.back() == "attention-relevance");
  // A CNN has no attention: the audit refuses the method by name.
  const auto resnet = gradattr::onnx::load<float>(onnx_file("resnet_basic", "model.onnx"));
  CHECK(metrics::audit_methods(resnet).size() == kGeneralMethods.size());
  metrics::AuditOptions bad;
  bad.methods = {"rollout"};
  const auto xr = npy<float>("resnet_basic", "x.npy");
  CHECK_THROWS_WITH(metrics::audit(resnet, xr, bad),
                    Catch::StartsWith("audit: method 'rollout' needs a model with attention layers (a ViT)"));
}

TEST_CASE("ViT: attention methods refuse a model without attention layers, naming the method", "[onnx][attention]") {
  const auto resnet = gradattr::onnx::load<float>(onnx_file("resnet_basic", "model.onnx"));
  try {
    AttentionRollout<score::Pre> ro(resnet);
    FAIL("no error");
  } catch (const ArgumentError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("rollout: the model has no attention layers"));
  }
  try {
    AttentionRelevance<score::Post> rel(resnet);
    FAIL("no error");
  } catch (const ArgumentError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("attention-relevance: the model has no attention layers"));
  }
}

TEST_CASE("The token grid: a class token, or a class and a distillation token, then a square", "[onnx][vit]") {
  CHECK(token_grid(17).prefix == 1);
  CHECK(token_grid(17).side == 4);
  CHECK(token_grid(197).side == 14);  // ViT-B/16 at 224
  CHECK(token_grid(198).prefix == 2);  // DeiT-B/16 (distilled)
  CHECK(token_grid(198).side == 14);
  CHECK(token_grid(2).side == 1);
  for (const std::int64_t t : {0, 1, 19, 199, 200}) {
    INFO(t);
    CHECK(token_grid(t).side == 0);  // 19 = 3 + 16: three prefix tokens are not a ViT or a DeiT
  }
}

TEST_CASE("A DeiT-style ViT (class and distillation tokens): logits, token-layer CAMs and attention maps match PyTorch",
          "[onnx][vit][attention]") {
  // tools/make_deit_fixtures.py: the narrow ViT with a distillation token after the class token and
  // DeiT's averaged two heads; references from torch with both prefix tokens dropped.
  const auto model = gradattr::onnx::load<float>(onnx_file("deit_narrow", "model.onnx"));
  const auto x = npy<float>("deit_narrow", "x.npy");
  const auto meta = meta_of("deit_narrow");
  const std::int64_t c = meta.at("class").get<std::int64_t>();
  REQUIRE(meta.at("prefix_tokens").get<int>() == 2);
  CHECK(rel_err(model.forward(x), npy<double>("deit_narrow", "logits.npy")) < 1e-5);
  REQUIRE(model.default_cam_layer() == meta.at("cam_layer").get<std::string>());
  REQUIRE(model.layer(model.default_cam_layer()).shape == Shape{1, 18, 32});
  for (const auto kind : {score::ScoreKind::Pre, score::ScoreKind::Post}) {
    const std::string space(score::to_string(kind));
    for (const auto method : {Method::GradCam, Method::HiResCam}) {
      const std::string name = method == Method::GradCam ? "gradcam" : "hirescam";
      INFO(name << " " << space);
      const auto r = run_method(method, kind, model, x, Target::per_image({c}), RunOptions{});
      const auto want = npy<double>("deit_narrow", "cams/" + name + "__" + space + ".npy");
      REQUIRE(r.raw.shape() == want.shape());
      CHECK(rel_err(r.raw, want) < 2e-4);
    }
  }
  REQUIRE(model.attention_layers().size() == 2);
  for (const auto kind : score::kAllScoreKinds) {
    const std::string space(score::to_string(kind));
    INFO(space);
    const auto rel = run_attention(Method::AttentionRelevance, kind, model, x, Target::per_image({c}));
    const auto want = npy<double>("deit_narrow", "attention/relevance__" + space + ".npy");
    REQUIRE(rel.raw.shape() == want.shape());
    CHECK(rel_err(rel.raw, want) < 1e-4);
  }
  const auto ro = run_attention(Method::AttentionRollout, score::ScoreKind::Post, model, x, Target::per_image({c}));
  CHECK(rel_err(ro.raw, npy<double>("deit_narrow", "attention/rollout.npy")) < 1e-4);
}
