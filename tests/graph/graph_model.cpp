// graph::GraphModel (graph/graph_model.hpp) on hand-built GraphDefs, against the independent
// toy executor of tests/support/toy_models.hpp (ToyResidual: a skip connection crossing the cut
// at conv2): forward, cuts and their carried values, gradients by finite differences, Grad-CAM
// through the model interface, batches, layer names from torch scopes, the BatchNorm folding
// pass, and the errors a bad graph gets.
#include <cmath>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/autodiff/gradcheck.hpp"
#include "gradattr/graph/graph_model.hpp"
#include "gradattr/graph/module_paths.hpp"
#include "gradattr/graph/passes.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;
using graph::GraphDef;
using graph::NodeDef;
using graph::Op;
using gradattr::testing::random_tensor;

namespace {

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

NodeDef node(std::string name, Op op, std::vector<std::string> in, std::string out, graph::Attrs a = {}) {
  return NodeDef{std::move(name), op, std::move(in), std::move(out), std::move(a)};
}

// ToyResidual(seed 3, 3 -> 5 channels, 4 classes) as a GraphDef with torch-style node names:
//   /conv/Conv -> /relu/Relu -> /block/conv2/Conv -> /block/Add (+ relu) -> /block/relu2/Relu
//   -> /pool/GlobalAveragePool -> /Flatten -> /fc/Gemm
// The weights are drawn in ToyResidual's order from the same seeded stream.
GraphDef toy_residual_graph(std::int64_t H = 6, std::int64_t W = 7) {
  gradattr::testing::NormalFiller fill(3);
  Tensor<double> w1({5, 3, 3, 3}), b1({5}), w2({5, 5, 3, 3}), b2({5}), wf({4, 5}), bf({4});
  fill(w1, 0.4);
  fill(b1, 0.1, 0.05);
  fill(w2, 0.3);
  fill(b2, 0.1);
  fill(wf, 1.0);
  fill(bf, 0.2);
  GraphDef g;
  g.source = "toy.onnx";
  g.input = "x";
  g.input_shape = Shape{1, 3, H, W};
  g.output = "logits";
  g.constants = {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"b2", b2}, {"wf", wf}, {"bf", bf}};
  graph::Attrs same;
  same.conv.pad_h = same.conv.pad_w = 1;
  graph::Attrs flat;
  flat.target = {{1, true}, {-1, false}};
  g.nodes = {node("/conv/Conv", Op::Conv, {"x", "w1", "b1"}, "conv_out", same),
             node("/relu/Relu", Op::Relu, {"conv_out"}, "relu_out"),
             node("/block/conv2/Conv", Op::Conv, {"relu_out", "w2", "b2"}, "conv2_out", same),
             node("/block/Add", Op::Add, {"conv2_out", "relu_out"}, "add_out"),
             node("/block/relu2/Relu", Op::Relu, {"add_out"}, "relu2_out"),
             node("/pool/GlobalAveragePool", Op::GlobalAveragePool, {"relu2_out"}, "pool_out"),
             node("/Flatten", Op::Reshape, {"pool_out"}, "flat_out", flat),
             node("/fc/Gemm", Op::Linear, {"flat_out", "wf", "bf"}, "logits")};
  return g;
}

// Tokens through two linear layers as torch exports them: MatMul then Add of a bias, the second
// with the Add's operands swapped:
//   x [1,3,4,4] -> Reshape [1,3,16] -> Transpose [1,16,3] -> MatMul w1 [3,5] -> Add b1 -> Relu
//   -> ReduceMean over the tokens -> [1,5] -> MatMul w2 [5,4] -> Add(b2, .) -> logits
GraphDef token_mlp_graph() {
  gradattr::testing::NormalFiller fill(11);
  Tensor<double> w1({3, 5}), b1({5}), w2({5, 4}), b2({4});
  fill(w1, 0.6);
  fill(b1, 0.3);
  fill(w2, 0.8);
  fill(b2, 0.2);
  GraphDef g;
  g.source = "tokens.onnx";
  g.input = "x";
  g.input_shape = Shape{1, 3, 4, 4};
  g.output = "logits";
  g.constants = {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"b2", b2}};
  graph::Attrs flat, swap, mean;
  flat.target = {{1, true}, {3, false}, {16, false}};
  swap.perm = {0, 2, 1};
  mean.axes = {1};
  mean.keepdims = false;
  g.nodes = {node("/Reshape", Op::Reshape, {"x"}, "flat", flat),
             node("/Transpose", Op::Transpose, {"flat"}, "tokens", swap),
             node("/fc1/MatMul", Op::MatMul, {"tokens", "w1"}, "p1"),
             node("/fc1/Add", Op::Add, {"p1", "b1"}, "h"),
             node("/act/Relu", Op::Relu, {"h"}, "r"),
             node("/pool/ReduceMean", Op::ReduceMean, {"r"}, "pooled", mean),
             node("/head/MatMul", Op::MatMul, {"pooled", "w2"}, "p2"),
             node("/head/Add", Op::Add, {"b2", "p2"}, "logits")};
  return g;
}

}  // namespace

TEST_CASE("Module paths from torch scope names", "[graph]") {
  using V = std::vector<std::string>;
  CHECK(graph::module_paths_of_node("/layer4/layer4.1/relu_1/Relu") == V{"layer4", "layer4.1", "layer4.1.relu_1"});
  CHECK(graph::module_paths_of_node("/layer2/layer2.0/downsample/downsample.0/Conv") ==
        V{"layer2", "layer2.0", "layer2.0.downsample", "layer2.0.downsample.0"});
  CHECK(graph::module_paths_of_node("/features/denseblock4/denselayer1/conv1/Conv") ==
        V{"features", "features.denseblock4", "features.denseblock4.denselayer1", "features.denseblock4.denselayer1.conv1"});
  CHECK(graph::module_paths_of_node("/features/features.0/features.0.1/Conv") == V{"features", "features.0", "features.0.1"});
  CHECK(graph::module_paths_of_node("/Flatten").empty());
  CHECK(graph::module_paths_of_node("Conv_12").empty());
  CHECK(graph::module_paths_of_node("").empty());
  CHECK(graph::module_paths_of_node("/a//Relu").empty());
}

TEST_CASE("A graph model computes what the toy executor computes, at any batch", "[graph]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  const gradattr::testing::ToyResidual<double> toy;
  const auto x = random_tensor<double>({3, 3, 6, 7}, 21);
  const auto got = g.forward(x), want = toy.forward(x);
  CHECK(max_abs_diff(got, want) < 1e-12);
  CHECK(g.num_classes() == 4);
  // Batch rows are independent: image 1 alone gives row 1.
  const auto one = g.forward(x.slice_batch(1).clone());
  for (std::int64_t k = 0; k < 4; ++k) CHECK(std::abs(one(0, k) - got(1, k)) < 1e-12);
  // The input shape is fixed at load except the batch.
  CHECK_THROWS_AS(g.forward(random_tensor<double>({1, 3, 6, 8}, 1)), ShapeError);
}

TEST_CASE("Layer names: outermost module path, else the value name; every alias resolves", "[graph]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  CHECK(g.layer_names() == std::vector<std::string>{"conv", "relu", "block.conv2", "add_out", "block", "pool",
                                                    "flat_out", "fc"});
  CHECK(g.resolve_layer("block.relu2") == "block");      // an inner module path of the same value
  CHECK(g.resolve_layer("relu2_out") == "block");        // the value name
  CHECK(g.resolve_layer("/block/relu2/Relu") == "block");  // the node name
  CHECK(g.resolve_layer("conv2_out") == "block.conv2");
  CHECK(g.resolve_layer("input") == "input");
  CHECK(g.layer("block").shape == Shape{1, 5, 6, 7});
  CHECK(g.layer("block").module_paths == std::vector<std::string>{"block", "block.relu2"});
  CHECK(g.default_cam_layer() == "block");
  try {
    (void)g.resolve_layer("layer9");
    FAIL("no error");
  } catch (const ArgumentError& e) {
    const std::string m = e.what();
    CHECK(m.find("layer9") != std::string::npos);
    CHECK(m.find("toy.onnx") != std::string::npos);
    CHECK(m.find("block.conv2") != std::string::npos);
  }
}

TEST_CASE("A cut inside the block carries the skip; forward_from and forward_between agree with forward", "[graph]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  const gradattr::testing::ToyResidual<double> toy;
  const auto x = random_tensor<double>({2, 3, 6, 7}, 5);
  const auto logits = g.forward(x);
  const auto cut = g.forward_until(x, "block.conv2");
  REQUIRE(cut.carried.size() == 1);  // relu_out, read by the add after the cut
  CHECK(max_abs_diff(cut.carried[0].value(), toy.forward_until(x, "relu").activation.value()) < 1e-12);
  CHECK(max_abs_diff(cut.activation.value(), toy.forward_until(x, "conv2").activation.value()) < 1e-12);
  ad::Tape<double> tape;
  CHECK(max_abs_diff(g.forward_from(cut, tape).value(), logits) < 1e-12);
  // Cuts with nothing crossing them.
  CHECK(g.forward_until(x, "relu").carried.empty());
  CHECK(g.forward_until(x, "block").carried.empty());
  // forward_between, then forward_from, is the same network.
  const auto mid = g.forward_between(cut, "pool", tape);
  CHECK(mid.carried.empty());
  CHECK(max_abs_diff(g.forward_from(mid, tape).value(), logits) < 1e-12);
  CHECK_THROWS_AS(g.forward_between(cut, "relu", tape), ArgumentError);
  // A cut with the wrong number of carried values is refused.
  auto bad = cut;
  bad.carried.clear();
  CHECK_THROWS_AS(g.forward_from(bad, tape), ArgumentError);
}

TEST_CASE("The gradient at a cut holds the carried values fixed (finite differences)", "[graph]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  const auto x = random_tensor<double>({1, 3, 6, 7}, 8);
  const auto cut = g.forward_until(x, "block.conv2");
  const auto weights = random_tensor<double>({1, 4}, 9);
  auto f = [&](const std::vector<ad::Var<double>>& v) {
    ad::Tape<double>* tape = v[0].tracked() ? v[0].tape() : nullptr;
    ad::Tape<double> local;
    const auto logits = g.forward_from(cut.with_activation(v[0]), tape ? *tape : local);
    return ad::sum(ad::mul(logits, ad::Var<double>(weights)));
  };
  const auto r = ad::gradcheck(f, {cut.activation.value()});
  INFO(r.str());
  CHECK(r.passed);
  CHECK(r.checked > 0);
}

TEST_CASE("Grad-CAM on a graph model equals Grad-CAM on the toy executor", "[graph][attribution]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  const gradattr::testing::ToyResidual<double> toy;
  const auto x = random_tensor<double>({2, 3, 6, 7}, 13);
  GradCam<score::Post, double> on_graph(g, "block.conv2");
  GradCam<score::Post, double> on_toy(toy, "conv2");
  const auto a = on_graph(x, Target(1)), b = on_toy(x, Target(1));
  CHECK(max_abs_diff(a.raw, b.raw) < 1e-12);
  // Input-space methods run the whole graph through the input cut.
  Saliency<score::LogSoftmax, double> s_graph(g), s_toy(toy);
  CHECK(max_abs_diff(s_graph(x, Target(2)).raw, s_toy(x, Target(2)).raw) < 1e-12);
}

TEST_CASE("Folding an affine into the conv before it keeps the function and the names", "[graph][passes]") {
  GraphDef g = toy_residual_graph();
  // Insert an affine (an inference BatchNorm) after conv2, as torch's pre-folding exports have it.
  gradattr::testing::NormalFiller fill(17);
  Tensor<double> s({5}), t({5});
  fill(s, 0.5, 1.0);
  fill(t, 0.3);
  g.constants["bn_scale"] = s;
  g.constants["bn_shift"] = t;
  g.nodes[2].output = "conv2_raw";
  g.nodes.insert(g.nodes.begin() + 3,
                 node("/block/bn2/BatchNormalization", Op::ChannelAffine, {"conv2_raw", "bn_scale", "bn_shift"}, "conv2_out"));
  const GraphDef folded = graph::fold_affine_into_conv(g);
  CHECK(folded.nodes.size() == g.nodes.size() - 1);
  CHECK(!folded.constants.contains("w2"));  // the unfolded weights are dropped
  const graph::GraphModel<double> before(g), after(folded);
  const auto x = random_tensor<double>({2, 3, 6, 7}, 3);
  CHECK(max_abs_diff(before.forward(x), after.forward(x)) < 1e-12);
  // The BatchNorm's module path names the folded output; the conv's own output is gone.
  CHECK(after.resolve_layer("block.bn2") == "block.bn2");
  CHECK_THROWS_AS(after.resolve_layer("block.conv2"), ArgumentError);
  GradCam<score::Pre, double> cb(before, "block.bn2"), ca(after, "block.bn2");
  CHECK(max_abs_diff(cb(x, Target(0)).raw, ca(x, Target(0)).raw) < 1e-12);
  // An affine whose conv output has a second reader is left alone.
  g.nodes.insert(g.nodes.begin() + 4, node("/block/extra/Relu", Op::Relu, {"conv2_raw"}, "extra"));
  CHECK(graph::fold_affine_into_conv(g).nodes.size() == g.nodes.size());
}

TEST_CASE("Fusing torch's five-node GELU keeps the function, the gradients and the name", "[graph][passes]") {
  // The toy's first Relu replaced by GELU as torch exports it before opset 20 (values checked
  // against the closed form x * Phi(x), not against the fused node's own kernel).
  auto with_gelu = [](bool div_form, bool swapped, double half_value) {
    GraphDef g = toy_residual_graph();
    g.constants["s2"] = Tensor<double>::scalar(div_form ? 1.4142135381698608 : 0.7071067690849304);  // float32's
    g.constants["one"] = Tensor<double>::scalar(1.0);
    g.constants["half"] = Tensor<double>::scalar(half_value);
    const auto relu = std::find_if(g.nodes.begin(), g.nodes.end(), [](const NodeDef& n) { return n.name == "/relu/Relu"; });
    const auto at = g.nodes.erase(relu);
    const std::vector<NodeDef> gelu = {
        node("/act/Div", div_form ? Op::Div : Op::Mul, {"conv_out", "s2"}, "d"),
        node("/act/Erf", Op::Erf, {"d"}, "e"),
        node("/act/Add", Op::Add, swapped ? std::vector<std::string>{"one", "e"} : std::vector<std::string>{"e", "one"}, "a"),
        node("/act/Mul", Op::Mul, swapped ? std::vector<std::string>{"a", "conv_out"} : std::vector<std::string>{"conv_out", "a"}, "m"),
        node("/act/Mul_1", Op::Mul, swapped ? std::vector<std::string>{"half", "m"} : std::vector<std::string>{"m", "half"}, "relu_out")};
    g.nodes.insert(at, gelu.begin(), gelu.end());
    return g;
  };
  auto count = [](const GraphDef& g, Op op) {
    return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const NodeDef& n) { return n.op == op; });
  };
  const auto x = random_tensor<double>({2, 3, 6, 7}, 14);
  for (const bool div_form : {true, false})
    for (const bool swapped : {false, true}) {
      INFO("div form " << div_form << ", operands swapped " << swapped);
      const GraphDef g = with_gelu(div_form, swapped, 0.5);
      const GraphDef fused = graph::fuse_gelu(g);
      REQUIRE(fused.nodes.size() == g.nodes.size() - 4);
      REQUIRE(count(fused, Op::Gelu) == 1);
      CHECK(!fused.constants.contains("half"));
      const graph::GraphModel<double> before(g), after(fused);
      // the activation itself against x Phi(x) on the conv's output (float32's sqrt 2: 1e-8)
      const auto conv = before.forward_until(x, "conv").activation.value();
      const auto act = after.forward_until(x, "act").activation.value();
      for (std::int64_t i = 0; i < act.numel(); ++i)
        REQUIRE(act[i] == Approx(conv[i] * 0.5 * (1.0 + std::erf(conv[i] / std::sqrt(2.0)))).margin(1e-8));
      CHECK(max_abs_diff(before.forward(x), after.forward(x)) < 1e-7);
      // gradients through it: Saliency (the input) and Grad-CAM at the Gelu's module path
      Saliency<score::Post, double> sb(before), sa(after);
      CHECK(max_abs_diff(sb(x, Target(1)).raw, sa(x, Target(1)).raw) < 1e-7);
      GradCam<score::Pre, double> cb(before, "act"), ca(after, "act");
      CHECK(max_abs_diff(cb(x, Target(0)).raw, ca(x, Target(0)).raw) < 1e-7);
    }
  // Not GELU: another constant, or an intermediate value with a second reader
  CHECK(count(graph::fuse_gelu(with_gelu(true, false, 0.49)), Op::Gelu) == 0);
  GraphDef shared = with_gelu(true, false, 0.5);
  shared.nodes.insert(shared.nodes.end() - 1, node("/extra/Relu", Op::Relu, {"e"}, "extra"));
  CHECK(count(graph::fuse_gelu(shared), Op::Gelu) == 0);
}

TEST_CASE("Fusing torch's SiLU (Sigmoid, Mul) keeps the function, the gradients and the name", "[graph][passes]") {
  // The toy's first Relu replaced by SiLU as torch exports it; values against the closed form
  // x / (1 + e^-x), not against the fused node's own kernel.
  auto with_silu = [](bool swapped) {
    GraphDef g = toy_residual_graph();
    const auto relu = std::find_if(g.nodes.begin(), g.nodes.end(), [](const NodeDef& n) { return n.name == "/relu/Relu"; });
    const auto at = g.nodes.erase(relu);
    const std::vector<NodeDef> silu = {
        node("/act/Sigmoid", Op::Sigmoid, {"conv_out"}, "s"),
        node("/act/Mul", Op::Mul, swapped ? std::vector<std::string>{"s", "conv_out"} : std::vector<std::string>{"conv_out", "s"}, "relu_out")};
    g.nodes.insert(at, silu.begin(), silu.end());
    return g;
  };
  auto count = [](const GraphDef& g, Op op) {
    return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const NodeDef& n) { return n.op == op; });
  };
  const auto x = random_tensor<double>({2, 3, 6, 7}, 15);
  for (const bool swapped : {false, true}) {
    INFO("operands swapped " << swapped);
    const GraphDef g = with_silu(swapped);
    const GraphDef fused = graph::fuse_silu(g);
    REQUIRE(fused.nodes.size() == g.nodes.size() - 1);
    REQUIRE(count(fused, Op::Silu) == 1);
    REQUIRE(count(fused, Op::Sigmoid) == 0);
    const graph::GraphModel<double> before(g), after(fused);
    const auto conv = before.forward_until(x, "conv").activation.value();
    const auto act = after.forward_until(x, "act").activation.value();
    for (std::int64_t i = 0; i < act.numel(); ++i) REQUIRE(act[i] == Approx(conv[i] / (1.0 + std::exp(-conv[i]))).margin(1e-14));
    CHECK(max_abs_diff(before.forward(x), after.forward(x)) < 1e-13);
    Saliency<score::Post, double> sb(before), sa(after);
    CHECK(max_abs_diff(sb(x, Target(1)).raw, sa(x, Target(1)).raw) < 1e-13);
    GradCam<score::Pre, double> cb(before, "act"), ca(after, "act");
    CHECK(max_abs_diff(cb(x, Target(0)).raw, ca(x, Target(0)).raw) < 1e-13);
    // float: the forward is the unfused Sigmoid then Mul bit for bit (the same sigmoid), the
    // input gradient the same two product-rule terms
    const graph::GraphModel<float> before_f(g), after_f(fused);
    const auto xf = x.template cast<float>();
    REQUIRE(max_abs_diff(before_f.forward(xf).template cast<double>(), after_f.forward(xf).template cast<double>()) == 0);
    Saliency<score::Post, float> sbf(before_f), saf(after_f);
    CHECK(max_abs_diff(sbf(xf, Target(1)).raw.template cast<double>(), saf(xf, Target(1)).raw.template cast<double>()) < 1e-6);
  }
  // Not SiLU: the sigmoid of another value (a squeeze-excitation), or a sigmoid read twice
  GraphDef other = with_silu(false);
  other.nodes[static_cast<std::size_t>(std::find_if(other.nodes.begin(), other.nodes.end(), [](const NodeDef& n) {
                                            return n.name == "/act/Mul";
                                          }) - other.nodes.begin())]
      .inputs = {"x", "s"};
  CHECK(count(graph::fuse_silu(other), Op::Silu) == 0);
  GraphDef shared = with_silu(false);
  shared.nodes.insert(shared.nodes.end() - 1, node("/extra/Relu", Op::Relu, {"s"}, "extra"));
  CHECK(count(graph::fuse_silu(shared), Op::Silu) == 0);
}

TEST_CASE("Fusing a MatMul's bias Add keeps the function, the gradients and the name", "[graph][passes]") {
  auto count = [](const GraphDef& g, Op op) {
    return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const NodeDef& n) { return n.op == op; });
  };
  const GraphDef g = token_mlp_graph();
  const GraphDef fused = graph::fuse_matmul_bias(g);
  REQUIRE(fused.nodes.size() == g.nodes.size() - 2);
  REQUIRE(count(fused, Op::Add) == 0);
  REQUIRE(count(fused, Op::MatMul) == 2);
  for (const NodeDef& n : fused.nodes)
    if (n.op == Op::MatMul) {
      CHECK((n.name == "/fc1/Add" || n.name == "/head/Add"));
      CHECK(n.inputs.size() == 3);
    }
  const auto x = random_tensor<double>({2, 3, 4, 4}, 17);
  // double: against the graph as exported, and the fused graph's own gradients by finite differences
  const graph::GraphModel<double> before(g), after(fused);
  CHECK(max_abs_diff(before.forward(x), after.forward(x)) < 1e-14);
  CHECK(max_abs_diff(before.forward_until(x, "fc1").activation.value(), after.forward_until(x, "fc1").activation.value()) < 1e-14);
  Saliency<score::Post, double> sb(before), sa(after);
  CHECK(max_abs_diff(sb(x, Target(1)).raw, sa(x, Target(1)).raw) < 1e-14);
  Saliency<score::LogSoftmax, double> lb(before), la(after);
  CHECK(max_abs_diff(lb(x, Target(2)).raw, la(x, Target(2)).raw) < 1e-14);
  const auto weights = random_tensor<double>({2, 4}, 18);
  const auto r = ad::gradcheck(
      [&](const std::vector<ad::Var<double>>& v) {
        ad::Tape<double>* tape = v[0].tracked() ? v[0].tape() : nullptr;
        ad::Tape<double> local;
        const auto logits = after.forward_from(nn::input_cut(ad::Var<double>(x)).with_activation(v[0]), tape ? *tape : local);
        return ad::sum(ad::mul(logits, ad::Var<double>(weights)));
      },
      {x});
  INFO(r.str());
  CHECK(r.passed);
  CHECK(r.checked > 0);
  // float: the bias is added to the rounded product, as the Add did: bit for bit
  const graph::GraphModel<float> before_f(g), after_f(fused);
  const auto xf = x.template cast<float>();
  REQUIRE(max_abs_diff(before_f.forward(xf).template cast<double>(), after_f.forward(xf).template cast<double>()) == 0);
  Saliency<score::Post, float> sbf(before_f), saf(after_f);
  CHECK(max_abs_diff(sbf(xf, Target(1)).raw.template cast<double>(), saf(xf, Target(1)).raw.template cast<double>()) == 0);
  // Not fused (the head's Add still is): the product read twice, an addend that is not a
  // constant, a bias that is not [N]
  GraphDef shared = g;
  shared.nodes.insert(shared.nodes.begin() + 4, node("/extra/Relu", Op::Relu, {"p1"}, "extra"));
  CHECK(count(graph::fuse_matmul_bias(shared), Op::Add) == 1);
  GraphDef variable = g;
  variable.nodes[3].inputs = {"p1", "tokens"};
  CHECK(count(graph::fuse_matmul_bias(variable), Op::Add) == 1);
  GraphDef wide = g;
  wide.constants["b1"] = Tensor<double>({1, 5});
  CHECK(count(graph::fuse_matmul_bias(wide), Op::Add) == 1);
}

TEST_CASE("A bad graph is refused with the node and value named", "[graph][errors]") {
  auto message_of = [](const GraphDef& g) {
    try {
      graph::GraphModel<double> m(g);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto contains = [](const std::string& m, const std::string& s) { return m.find(s) != std::string::npos; };
  {
    GraphDef g = toy_residual_graph();
    g.nodes[3].inputs[1] = "nowhere";
    const auto m = message_of(g);
    CHECK(contains(m, "/block/Add"));
    CHECK(contains(m, "nowhere"));
  }
  {
    GraphDef g = toy_residual_graph();
    std::swap(g.nodes[1], g.nodes[2]);  // conv2 reads relu_out before it exists
    const auto m = message_of(g);
    CHECK(contains(m, "topological"));
    CHECK(contains(m, "relu_out"));
  }
  {
    GraphDef g = toy_residual_graph();
    g.nodes[4].output = "add_out";
    CHECK(contains(message_of(g), "already defined"));
  }
  {
    GraphDef g = toy_residual_graph();
    g.nodes[4].inputs.push_back("relu_out");
    CHECK(contains(message_of(g), "has 2 inputs"));
  }
  {
    GraphDef g = toy_residual_graph();
    g.output = "w1";
    CHECK(contains(message_of(g), "not produced by a node"));
  }
  {
    GraphDef g = toy_residual_graph();
    g.constants["wf"] = Tensor<double>({4, 6});  // the fc weight no longer matches
    const auto m = message_of(g);
    CHECK(contains(m, "/fc/Gemm"));
    CHECK(contains(m, "toy.onnx"));
  }
  {
    GraphDef g = toy_residual_graph();
    g.output = "relu2_out";  // not logits
    CHECK(contains(message_of(g), "logits"));
  }
}

TEST_CASE("Profiling times each node under its name, forward and backward, with its shape and FLOPs", "[graph]") {
  const graph::GraphModel<double> g(toy_residual_graph());
  ad::OpTimes fwd, bwd;
  g.set_profile(&fwd);
  ad::backward_profile() = &bwd;
  ad::Tape<double> tape;
  auto xv = tape.variable(random_tensor<double>({2, 3, 6, 7}, 5));
  auto z = g.forward_from(nn::input_cut(xv), tape);
  ad::grad(tape, ad::sum(z), {xv});
  ad::backward_profile() = nullptr;
  g.set_profile(nullptr);

  // Recorded, so nothing is fused: one forward row per node, by its name.
  REQUIRE(fwd.size() == 8);
  const ad::OpTime& conv2 = fwd.at("/block/conv2/Conv");
  CHECK(conv2.calls == 1);
  CHECK(conv2.op == "Conv[3x3]");
  CHECK(conv2.shape == "2x5x6x7");
  CHECK(conv2.flops == 2.0 * (2 * 5 * 6 * 7) * (5 * 3 * 3));  // 2 x outputs x (Ci kh kw)
  CHECK(fwd.at("/fc/Gemm").flops == 2.0 * 2 * 5 * 4);
  CHECK(fwd.at("/fc/Gemm").shape == "2x4");
  CHECK(fwd.at("/block/Add").flops == 0);
  // The backward of each node's recorded ops is timed under the node's name (the input leaf and
  // ad::sum, recorded outside the model, under their op's names).
  for (const char* name : {"/conv/Conv", "/block/conv2/Conv", "/block/Add", "/fc/Gemm"}) {
    INFO(name);
    CHECK(bwd.count(name) == 1);
  }
  for (const auto& [label, t] : bwd) {
    INFO(label);
    CHECK((fwd.count(label) == 1 || label == "sum" || label == "variable"));
  }
  // Off again: nothing more is added, and no label leaks into later records.
  ad::Tape<double> tape2;
  auto x2 = tape2.variable(random_tensor<double>({1, 3, 6, 7}, 6));
  g.forward_from(nn::input_cut(x2), tape2);
  CHECK(fwd.at("/block/conv2/Conv").calls == 1);
  CHECK(tape2.label(0) == nullptr);
  CHECK(tape2.label(tape2.size() - 1) == nullptr);
}
