// The method registry (attribution/runtime.hpp, GRADATTR_METHODS): the run-time dispatch builds
// the method each row names, parse_method and the names agree, and README.md's method table is
// exactly the registry (same rows, same order), so the documentation cannot drift from the code.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gradattr/attribution/runtime.hpp"
#include "support/markdown_table.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;

TEST_CASE("registry: names are unique, parse back, and the list is complete", "[attribution][registry]") {
  std::set<std::string> names, labels;
  for (const MethodInfo& m : kMethodInfo) {
    names.insert(std::string(m.name));
    labels.insert(std::string(m.display));
    CHECK(parse_method(m.name) == m.method);
    CHECK(to_string(m.method) == m.name);
    CHECK(is_layer_method(m.method) == m.layer_method);
    CHECK(m.layer_method == (m.kind == MethodKind::Layer));
    CHECK(is_attention_method(m.method) == (m.kind == MethodKind::Attention));
    CHECK(!m.description.empty());
  }
  CHECK(names.size() == kMethodInfo.size());
  CHECK(labels.size() == kMethodInfo.size());
  CHECK(kAllMethods.size() == kMethodInfo.size());
  // kGeneralMethods: every row but the attention methods, in the registry's order.
  std::vector<Method> general;
  for (const MethodInfo& m : kMethodInfo)
    if (m.kind != MethodKind::Attention) general.push_back(m.method);
  CHECK(std::vector<Method>(kGeneralMethods.begin(), kGeneralMethods.end()) == general);
  CHECK(general.size() + 2 == kMethodInfo.size());  // rollout, attention-relevance
  REQUIRE_THROWS_WITH(parse_method("gradcan"), Catch::Contains("valid: " + method_names_list()));
}

TEST_CASE("registry: run_method runs the method each row names", "[attribution][registry]") {
  const auto model = testing::ToyCnn<double>();
  const Tensor<double> x = testing::random_tensor<double>({2, 3, 8, 8}, 11, -1.0, 1.0);
  RunOptions o;
  o.steps = 3;
  o.samples = 2;
  o.layer = "relu";
  for (const MethodInfo& m : kMethodInfo) {
    INFO(m.name);
    if (m.kind == MethodKind::Attention) {
      // The toy CNN has no attention layers: refused, naming the method and why (the maps
      // themselves are checked on the ONNX ViT, tests/onnx/onnx_models.cpp).
      for (const auto kind : score::kAllScoreKinds) {
        REQUIRE_THROWS_AS(run_method(m.method, kind, model, x, Target{}, o), ArgumentError);
        REQUIRE_THROWS_WITH(run_method(m.method, kind, model, x, Target{}, o),
                            Catch::StartsWith(std::string(m.name) + ": the model has no attention layers") &&
                                Catch::Contains("Vision Transformer"));
      }
      continue;
    }
    const Attribution<double> r = run_method(m.method, score::ScoreKind::Post, model, x, Target{}, o);
    CHECK(r.method == m.name);
    // A layer method's map is [N, H, W] at the layer; an input method's has the input's rank.
    CHECK(r.raw.rank() == (m.layer_method ? 3 : 4));
  }
}

TEST_CASE("registry: README.md's method table is the registry", "[attribution][registry]") {
  const auto rows =
      testing::markdown_table(std::string(GRADATTR_SOURCE_DIR) + "/README.md", "| name | label | explains | what it computes |");
  REQUIRE(rows.size() == kMethodInfo.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const MethodInfo& m = kMethodInfo[i];
    INFO("README row " << i + 1);
    REQUIRE(rows[i].size() == 4);
    CHECK(rows[i][0] == "`" + std::string(m.name) + "`");
    CHECK(rows[i][1] == m.display);
    CHECK(rows[i][2] == (m.kind == MethodKind::Layer ? "layer" : m.kind == MethodKind::Input ? "input" : "attention"));
    CHECK(rows[i][3] == m.description);
  }
}

TEST_CASE("variants: each method's rows are unique, parse back to their index, and errors list the valid names",
          "[attribution][registry]") {
  for (const MethodInfo& m : kMethodInfo) {
    INFO(m.name);
    std::set<std::string> names;
    std::int64_t i = 0;
    for (const VariantInfo& v : kVariantInfo) {
      if (v.method != m.method) continue;
      CHECK(names.insert(std::string(v.name)).second);
      CHECK(parse_variant(m.method, v.name) == i);
      CHECK(!v.source.empty());
      CHECK(!v.description.empty());
      if (i == 0) CHECK(default_variant(m.method) == v.name);
      ++i;
    }
    CHECK(has_variants(m.method) == (i > 0));
    CHECK(parse_variant(m.method, "") == 0);  // empty: the default
    if (i > 0) {
      REQUIRE_THROWS_AS(parse_variant(m.method, "nope"), ArgumentError);
      REQUIRE_THROWS_WITH(parse_variant(m.method, "nope"), Catch::Contains("valid: " + variant_names_list(m.method)));
    } else {
      REQUIRE_THROWS_WITH(parse_variant(m.method, "signed"), Catch::Contains("has no variants"));
    }
  }
  // A method's rows are in the order of its Options::variant enum (run_method casts the index).
  CHECK(parse_variant(Method::GradCamPlusPlus, "closed-form") == static_cast<std::int64_t>(GradCamPPVariant::ClosedForm));
  CHECK(parse_variant(Method::GradCamPlusPlus, "paper") == static_cast<std::int64_t>(GradCamPPVariant::Paper));
  CHECK(parse_variant(Method::ScoreCam, "softmax") == static_cast<std::int64_t>(cam::ScoreCamWeighting::Softmax));
  CHECK(parse_variant(Method::ScoreCam, "raw") == static_cast<std::int64_t>(cam::ScoreCamWeighting::Raw));
  CHECK(parse_variant(Method::RsiGradCam, "relu-gradients") == static_cast<std::int64_t>(RsiGradCamVariant::ReluGradients));
  CHECK(parse_variant(Method::RsiGradCam, "guided") == static_cast<std::int64_t>(RsiGradCamVariant::Guided));
  CHECK(parse_variant(Method::IntegratedGradCam, "signed") == static_cast<std::int64_t>(IntegratedGradCamVariant::Signed));
  CHECK(parse_variant(Method::Saliency, "signed") == static_cast<std::int64_t>(SaliencyVariant::Signed));
  // and each default is the Options' default
  CHECK(GradCamPlusPlus<Post>::Options{}.variant == GradCamPPVariant::Exact);
  CHECK(ScoreCam<Post>::Options{}.variant == cam::ScoreCamWeighting::Increase);
  CHECK(RsiGradCam<Post>::Options{}.variant == RsiGradCamVariant::Paper);
  CHECK(IntegratedGradCam<Post>::Options{}.variant == IntegratedGradCamVariant::Clamped);
  CHECK(Saliency<Post>::Options{}.variant == SaliencyVariant::MaxAbs);
}

namespace {
template <class F>
Attribution<double> direct(const F& f, const Tensor<double>& x) {
  return f(x);
}
double max_diff(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}
}  // namespace

TEST_CASE("variants: run_method with --variant runs the functor with that Options::variant", "[attribution][registry]") {
  const auto model = testing::ToyCnn<double>();
  const Tensor<double> x = testing::random_tensor<double>({2, 3, 8, 8}, 11, -1.0, 1.0);
  RunOptions o;
  o.steps = 3;
  o.layer = "relu";
  auto run = [&](Method m, const char* v) {
    o.variant = v;
    return run_method(m, score::ScoreKind::LogSoftmax, model, x, Target{}, o);
  };
  using P = LogSoftmax;
  CHECK(max_diff(run(Method::GradCamPlusPlus, "closed-form").raw,
                 direct(GradCamPlusPlus<P, double>(model, "relu", {.variant = GradCamPPVariant::ClosedForm}), x).raw) == 0);
  CHECK(max_diff(run(Method::GradCamPlusPlus, "paper").raw,
                 direct(GradCamPlusPlus<P, double>(model, "relu", {.variant = GradCamPPVariant::Paper}), x).raw) == 0);
  CHECK(max_diff(run(Method::GradCamPlusPlus, "exact").raw, direct(GradCamPlusPlus<P, double>(model, "relu"), x).raw) == 0);
  CHECK(max_diff(run(Method::ScoreCam, "softmax").raw,
                 direct(ScoreCam<P, double>(model, "relu", {.variant = cam::ScoreCamWeighting::Softmax}), x).raw) == 0);
  CHECK(max_diff(run(Method::ScoreCam, "raw").raw,
                 direct(ScoreCam<P, double>(model, "relu", {.variant = cam::ScoreCamWeighting::Raw}), x).raw) == 0);
  CHECK(max_diff(run(Method::RsiGradCam, "guided").raw,
                 direct(RsiGradCam<P, double>(model, "relu", {.steps = 3, .variant = RsiGradCamVariant::Guided}), x).raw) == 0);
  CHECK(max_diff(run(Method::RsiGradCam, "relu-gradients").raw,
                 direct(RsiGradCam<P, double>(model, "relu", {.steps = 3, .variant = RsiGradCamVariant::ReluGradients}), x).raw) == 0);
  CHECK(max_diff(run(Method::IntegratedGradCam, "signed").raw,
                 direct(IntegratedGradCam<P, double>(model, "relu", {.steps = 3, .variant = IntegratedGradCamVariant::Signed}), x).raw) == 0);
  CHECK(run(Method::Saliency, "signed").input_display == InputDisplay::ChannelSum);
  CHECK(run(Method::Saliency, "").input_display == InputDisplay::MaxAbs);
  // the variants differ from their defaults on this input (the rows are not aliases)
  CHECK(max_diff(run(Method::GradCamPlusPlus, "closed-form").raw, run(Method::GradCamPlusPlus, "").raw) > 0);
  CHECK(max_diff(run(Method::ScoreCam, "softmax").raw, run(Method::ScoreCam, "").raw) > 0);
  CHECK(max_diff(run(Method::RsiGradCam, "guided").raw, run(Method::RsiGradCam, "").raw) > 0);
  // an unknown variant, or one for a method without variants, is refused before any work
  o.variant = "guided";
  REQUIRE_THROWS_WITH(run_method(Method::GradCam, score::ScoreKind::Post, model, x, Target{}, o), Catch::Contains("no variants"));
  REQUIRE_THROWS_WITH(run_method(Method::ScoreCam, score::ScoreKind::Post, model, x, Target{}, o),
                      Catch::Contains("valid: increase, softmax, raw"));
}

TEST_CASE("registry: README.md's variant table is kVariantInfo", "[attribution][registry]") {
  const auto rows =
      testing::markdown_table(std::string(GRADATTR_SOURCE_DIR) + "/README.md", "| method | variant | source | what it computes |");
  REQUIRE(rows.size() == kVariantInfo.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const VariantInfo& v = kVariantInfo[i];
    INFO("README variant row " << i + 1);
    REQUIRE(rows[i].size() == 4);
    CHECK(rows[i][0] == "`" + std::string(to_string(v.method)) + "`");
    CHECK(rows[i][1] == "`" + std::string(v.name) + "`");
    CHECK(rows[i][2] == v.source);
    CHECK(rows[i][3] == v.description);
  }
}
