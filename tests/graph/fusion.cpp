// The executor's inference fusion (graph/graph_model.hpp, annotate_fusion / run): a Conv or an
// equal-shape Add followed by its only reader, a Relu or Clip, runs as one kernel call when no
// input is tracked. Tested against the same model with fusion off (every node on its own): the
// unrecorded forward must be equal bit for bit (the kernels' epilogue applies the activation's
// selects to the same values; tests/kernels/fused_activation.cpp), at 1, 2 and 3 threads; cuts
// at a value the fused run never stores must still give it; and recorded runs (gradients) are
// op by op whatever the setting, so input and cut gradients are equal bit for bit too.
#include <catch2/catch.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gradattr/autodiff/grad.hpp"
#include "gradattr/graph/graph_model.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using graph::GraphDef;
using graph::NodeDef;
using graph::Op;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;

namespace {

NodeDef node(std::string name, Op op, std::vector<std::string> in, std::string out, graph::Attrs a = {}) {
  return NodeDef{std::move(name), op, std::move(in), std::move(out), std::move(a)};
}

graph::Attrs conv(int k, int s, int groups = 1) {
  graph::Attrs a;
  a.conv.stride_h = a.conv.stride_w = s;
  a.conv.pad_h = a.conv.pad_w = k / 2;
  a.conv.groups = groups;
  return a;
}

// x [1,3,H,W] -> c1 3x3 (3->8, direct) -> Relu -> c2 depthwise 3x3/s2 -> Clip(0,6) -> c3 1x1
// (8->8, GEMM) -> Add(c3, the Clip's output: a residual block) -> Relu -> c4 3x3/s2 (8->12, im2col) -> Relu -> c5 3x3/s1
// (12->16, Winograd) -> Relu -> GlobalAveragePool -> Flatten -> Gemm (5 classes). Odd sizes.
GraphDef fusion_graph(std::int64_t H = 13, std::int64_t W = 11) {
  GraphDef g;
  g.source = "fusion.onnx";
  g.input = "x";
  g.input_shape = Shape{1, 3, H, W};
  g.output = "logits";
  std::uint64_t seed = 40;
  auto c = [&](const std::string& name, Shape s, double scale) { g.constants[name] = random_tensor<double>(s, seed++, -scale, scale); };
  c("w1", {8, 3, 3, 3}, 0.5);
  c("b1", {8}, 0.2);
  c("w2", {8, 1, 3, 3}, 0.8);
  c("b2", {8}, 0.3);
  c("w3", {8, 8, 1, 1}, 0.5);
  c("b3", {8}, 0.2);
  c("w4", {12, 8, 3, 3}, 0.3);
  c("b4", {12}, 0.1);
  c("w5", {16, 12, 3, 3}, 0.2);
  c("b5", {16}, 0.1);
  c("wf", {5, 16}, 1.0);
  c("bf", {5}, 0.1);
  graph::Attrs relu6;
  relu6.lo = 0;
  relu6.hi = 6;
  graph::Attrs flat;
  flat.target = {{1, true}, {-1, false}};
  g.nodes = {node("/c1/Conv", Op::Conv, {"x", "w1", "b1"}, "c1", conv(3, 1)),
             node("/r1/Relu", Op::Relu, {"c1"}, "r1"),
             node("/c2/Conv", Op::Conv, {"r1", "w2", "b2"}, "c2", conv(3, 2, 8)),
             node("/r2/Clip", Op::Clip, {"c2"}, "r2", relu6),
             node("/c3/Conv", Op::Conv, {"r2", "w3", "b3"}, "c3", conv(1, 1)),
             node("/add/Add", Op::Add, {"c3", "r2"}, "add"),
             node("/r3/Relu", Op::Relu, {"add"}, "r3"),
             node("/c4/Conv", Op::Conv, {"r3", "w4", "b4"}, "c4", conv(3, 2)),
             node("/r4/Relu", Op::Relu, {"c4"}, "r4"),
             node("/c5/Conv", Op::Conv, {"r4", "w5", "b5"}, "c5", conv(3, 1)),
             node("/r5/Relu", Op::Relu, {"c5"}, "r5"),
             node("/pool/GlobalAveragePool", Op::GlobalAveragePool, {"r5"}, "pool"),
             node("/Flatten", Op::Reshape, {"pool"}, "flat", flat),
             node("/fc/Gemm", Op::Linear, {"flat", "wf", "bf"}, "logits")};
  return g;
}

struct Pair {
  graph::GraphModel<float> fused, plain;
  explicit Pair(const GraphDef& g) : fused(g), plain(g) { plain.set_fusion(false); }
};

void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}
int saved_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// dz_c/dx through the whole recorded network, c = argmax of each row.
Tensor<float> input_grad(const graph::GraphModel<float>& m, const Tensor<float>& x) {
  ad::Tape<float> tape;
  auto xv = tape.variable(x);
  auto z = m.forward_from(nn::input_cut(xv), tape);
  Tensor<float> seed(z.shape());
  for (std::int64_t n = 0; n < z.shape()[0]; ++n) seed(n, n % z.shape()[1]) = 1.0f;
  return ad::grad(tape, z, {xv}, seed)[0];
}

}  // namespace

TEST_CASE("Fusion annotates Conv/Add followed by their only reader, a Relu or Clip", "[graph][fusion]") {
  const graph::GraphModel<float> m(fusion_graph());
  // c1+r1, c2+r2, c3+add+r3 (the residual block), add+r3 (used by a run starting after c3),
  // c4+r4, c5+r5
  CHECK(m.num_fusible() == 6);
  // A conv output with a second reader is not fused.
  GraphDef g = fusion_graph();
  g.nodes[5].inputs = {"c3", "c2"};  // the Add now reads c2 too: c2's Clip is no longer its only reader
  const graph::GraphModel<float> m2(g);
  CHECK(m2.num_fusible() == 5);
  // A Clip with lo > hi is not fused (the op refuses it when it runs).
  GraphDef bad = fusion_graph();
  bad.nodes[3].attrs.lo = 7;
  CHECK_THROWS_AS(graph::GraphModel<float>(bad), ArgumentError);
}

// The graph with the block's ReLU removed: c3 + Add fuse without an activation.
GraphDef fusion_graph_no_block_relu() {
  GraphDef g = fusion_graph();
  g.nodes.erase(g.nodes.begin() + 6);  // r3
  g.nodes[6].inputs[0] = "add";        // c4 reads the Add
  return g;
}

TEST_CASE("A fused forward equals the unfused one bit for bit, at 1, 2 and 3 threads", "[graph][fusion]") {
  const bool block_relu = GENERATE(true, false);
  INFO((block_relu ? "Conv+Add+Relu" : "Conv+Add"));
  const Pair m(block_relu ? fusion_graph() : fusion_graph_no_block_relu());
  CHECK(m.fused.num_fusible() == (block_relu ? 6u : 5u));
  const int saved = saved_threads();
  const auto x = random_tensor<float>({3, 3, 13, 11}, 5, -2.0, 2.0);
  for (int threads : {1, 2, 3}) {
    INFO(threads << " thread(s)");
    set_threads(threads);
    const auto a = m.fused.forward(x), b = m.plain.forward(x);
    REQUIRE(bitwise_equal(a, b));
    // Cuts, including at values a fused run never stores (a conv's output before its ReLU),
    // and the rest of the network from them.
    for (const char* layer : {"c1", "r1", "c2", "r2", "c3", "add", "r3", "c4", "c5", "r5"}) {
      if (!block_relu && std::string(layer) == "r3") continue;
      INFO("cut at " << layer);
      const auto ca = m.fused.forward_until(x, layer), cb = m.plain.forward_until(x, layer);
      REQUIRE(bitwise_equal(ca.activation.value(), cb.activation.value()));
      REQUIRE(ca.carried.size() == cb.carried.size());
      for (std::size_t k = 0; k < ca.carried.size(); ++k) REQUIRE(bitwise_equal(ca.carried[k].value(), cb.carried[k].value()));
      ad::Tape<float> ta, tb;
      REQUIRE(bitwise_equal(m.fused.forward_from(ca, ta).value(), a));
      REQUIRE(bitwise_equal(m.plain.forward_from(cb, tb).value(), a));
    }
  }
  set_threads(saved);
  // The ReLUs and the Clip did clamp something (else the comparison above proves little).
  const auto c1 = m.plain.forward_until(x, "c1").activation.value();
  const auto c2 = m.plain.forward_until(x, "c2").activation.value();
  std::int64_t neg = 0, over6 = 0;
  for (float v : c1) neg += v < 0;
  for (float v : c2) over6 += v > 6 || v < 0;
  CHECK(neg > 0);
  CHECK(over6 > 0);
}

TEST_CASE("Recorded runs are op by op: gradients with fusion on equal those with it off", "[graph][fusion]") {
  const Pair m(fusion_graph());
  const auto x = random_tensor<float>({2, 3, 13, 11}, 6, -2.0, 2.0);
  REQUIRE(bitwise_equal(input_grad(m.fused, x), input_grad(m.plain, x)));
  // A Grad-CAM-style cut gradient: the trunk unrecorded (fused), the head recorded.
  for (const char* layer : {"r1", "r3", "r4"}) {
    INFO("cut at " << layer);
    auto grad_at = [&](const graph::GraphModel<float>& g) {
      const auto cut = g.forward_until(x, layer);
      ad::Tape<float> tape;
      auto av = tape.variable(cut.activation.value());
      auto z = g.forward_from(cut.with_activation(av), tape);
      return ad::grad(tape, ad::sum(z), {av})[0];
    };
    REQUIRE(bitwise_equal(grad_at(m.fused), grad_at(m.plain)));
  }
  // The full network with every weight a variable (forward_train) records every node too.
  auto train_grads = [&](const graph::GraphModel<float>& g) {
    ad::Tape<float> tape;
    auto out = g.forward_train(ad::Var<float>(x), tape);
    return ad::grad(tape, ad::sum(out.logits), out.vars());
  };
  const auto ga = train_grads(m.fused), gb = train_grads(m.plain);
  REQUIRE(ga.size() == gb.size());
  for (std::size_t k = 0; k < ga.size(); ++k) REQUIRE(bitwise_equal(ga[k], gb[k]));
}

TEST_CASE("A double model fuses the same way, and its fused forward equals the unfused one", "[graph][fusion]") {
  graph::GraphModel<double> fused(fusion_graph()), plain(fusion_graph());
  plain.set_fusion(false);
  CHECK(fused.num_fusible() == 6);
  const auto x = random_tensor<double>({2, 3, 13, 11}, 7, -2.0, 2.0);
  REQUIRE(bitwise_equal(fused.forward(x), plain.forward(x)));
}
