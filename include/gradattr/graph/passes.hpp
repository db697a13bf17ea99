#pragma once
// Graph rewrites run at load, each a function GraphDef -> GraphDef that leaves the model's
// function unchanged (docs/architecture.md, "Graph models"; each has a test against the
// unrewritten graph, tests/graph).
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/graph/graph_def.hpp"

namespace gradattr::graph {

// How many nodes read each value (the graph output counts as one more reader).
inline std::map<std::string, int> reader_counts(const GraphDef& g) {
  std::map<std::string, int> n;
  for (const NodeDef& node : g.nodes)
    for (const std::string& in : node.inputs) ++n[in];
  ++n[g.output];
  return n;
}

// Constants no node reads any more (weights a pass replaced) are dropped.
inline void drop_unread_constants(GraphDef& g) {
  const std::map<std::string, int> used = reader_counts(g);
  for (auto it = g.constants.begin(); it != g.constants.end();)
    it = used.contains(it->first) ? std::next(it) : g.constants.erase(it);
}

// A ChannelAffine (inference BatchNormalization) whose input is a Conv's output read by nothing
// else, with constant weights, scale and shift, becomes part of that Conv:
//   w'[o] = w[o] * scale[o],  b'[o] = b[o] * scale[o] + shift[o].
// The Conv then produces the affine's output value under the affine node's name (so the module
// path of the BatchNorm still names it); the Conv's own output no longer exists. Computed in
// double (the new constants are double), so the float model rounds once.
inline GraphDef fold_affine_into_conv(GraphDef g) {
  const auto readers = reader_counts(g);
  std::map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) producer[g.nodes[i].output] = i;
  std::vector<bool> drop(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    NodeDef& affine = g.nodes[i];
    if (affine.op != Op::ChannelAffine) continue;
    auto p = producer.find(affine.inputs[0]);
    if (p == producer.end()) continue;
    NodeDef& conv = g.nodes[p->second];
    if (conv.op != Op::Conv || drop[p->second] || readers.at(conv.output) != 1) continue;
    auto c = [&](const std::string& name) { return g.constants.find(name); };
    auto w = c(conv.inputs[1]), scale = c(affine.inputs[1]), shift = c(affine.inputs[2]);
    if (w == g.constants.end() || scale == g.constants.end() || shift == g.constants.end()) continue;
    const std::int64_t co = w->second.shape().rank() == 4 ? w->second.dim(0) : -1;
    if (co < 0 || scale->second.numel() != co || shift->second.numel() != co) continue;
    if (conv.inputs.size() > 2 && c(conv.inputs[2]) == g.constants.end()) continue;
    // New constants (the old ones may be shared with another node).
    Tensor<double> nw = w->second.to_double();
    const std::int64_t per = nw.numel() / co;
    Tensor<double> nb(Shape{co});
    if (conv.inputs.size() > 2) nb = c(conv.inputs[2])->second.to_double();
    for (std::int64_t o = 0; o < co; ++o) {
      for (std::int64_t k = 0; k < per; ++k) nw[o * per + k] *= scale->second[o];
      nb[o] = nb[o] * scale->second[o] + shift->second[o];
    }
    const std::string wname = affine.name + "::folded_weight", bname = affine.name + "::folded_bias";
    g.constants[wname] = std::move(nw);
    g.constants[bname] = std::move(nb);
    conv.inputs = {conv.inputs[0], wname, bname};
    conv.output = affine.output;
    conv.name = affine.name;
    drop[i] = true;
    g.notes.push_back("BatchNormalization '" + affine.name + "' folded into the Conv before it");
  }
  GraphDef out = std::move(g);
  std::vector<NodeDef> kept;
  for (std::size_t i = 0; i < out.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(out.nodes[i]));
  out.nodes = std::move(kept);
  drop_unread_constants(out);  // the unfolded weights
  return out;
}

// The exact GELU as torch exports nn.GELU() before opset 20 (no Gelu op):
//   d = Div(x, √2) | Mul(x, 1/√2);  e = Erf(d);  a = Add(e, 1);  m = Mul(x, a);  y = Mul(m, 0.5)
// (the operands of Add and Mul in either order) becomes one Gelu node y = x Φ(x): one kernel
// pass instead of five (ViT-B/16: 3072 x 197 values per block), and one saved tensor for the
// backward instead of four. The constants are scalars within 1e-6 of √2, 1/√2, 1 and 0.5 (torch
// writes them as float32); the intermediate values must have no other reader. The Gelu node
// takes the last Mul's name and output, so its module path still names the activation.
inline GraphDef fuse_gelu(GraphDef g) {
  const auto readers = reader_counts(g);
  std::map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) producer[g.nodes[i].output] = i;
  auto scalar_near = [&](const std::string& v, double want) {
    auto c = g.constants.find(v);
    return c != g.constants.end() && c->second.numel() == 1 && std::abs(c->second[0] - want) < 1e-6;
  };
  // The node producing v when it has op `op` and v has one reader; else nullptr.
  auto sole = [&](const std::string& v, Op op) -> std::size_t {
    auto p = producer.find(v);
    if (p == producer.end() || g.nodes[p->second].op != op || readers.at(v) != 1) return g.nodes.size();
    return p->second;
  };
  // The operand of binary node n that is not the scalar constant `want` (empty: no such pair).
  auto other_than = [&](const NodeDef& n, double want) -> std::string {
    if (scalar_near(n.inputs[1], want)) return n.inputs[0];
    if (scalar_near(n.inputs[0], want)) return n.inputs[1];
    return {};
  };
  std::vector<bool> drop(g.nodes.size(), false);
  const std::size_t none = g.nodes.size();
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    NodeDef& half = g.nodes[i];
    if (half.op != Op::Mul || drop[i]) continue;
    const std::string m_v = other_than(half, 0.5);
    const std::size_t m = m_v.empty() ? none : sole(m_v, Op::Mul);
    if (m == none) continue;
    // m = Mul(x, a): either operand may be the Add
    std::size_t a = none;
    std::string x;
    for (int k = 0; k < 2 && a == none; ++k) {
      a = sole(g.nodes[m].inputs[static_cast<std::size_t>(k)], Op::Add);
      x = g.nodes[m].inputs[static_cast<std::size_t>(1 - k)];
    }
    if (a == none) continue;
    const std::string e_v = other_than(g.nodes[a], 1.0);
    const std::size_t e = e_v.empty() ? none : sole(e_v, Op::Erf);
    if (e == none) continue;
    std::size_t d = sole(g.nodes[e].inputs[0], Op::Div);
    if (d == none) d = sole(g.nodes[e].inputs[0], Op::Mul);
    if (d == none) continue;
    const NodeDef& dn = g.nodes[d];
    const bool scaled = dn.op == Op::Div ? dn.inputs[0] == x && scalar_near(dn.inputs[1], std::sqrt(2.0))
                                         : other_than(dn, 1.0 / std::sqrt(2.0)) == x;
    if (!scaled || drop[d] || drop[e] || drop[a] || drop[m]) continue;
    drop[d] = drop[e] = drop[a] = drop[m] = true;
    half.op = Op::Gelu;
    half.inputs = {x};
    half.attrs = {};
    g.notes.push_back("GELU (Div, Erf, Add, Mul, Mul) fused into one node '" + half.name + "'");
  }
  std::vector<NodeDef> kept;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  drop_unread_constants(g);  // the scalars
  return g;
}

// The two-node fusions' common walk: for each node of op `reader` and each of its two operands
// k, when operand k is the output of a node read by nothing else, fuse(g, node, producer, k) may
// rewrite the node to absorb the producer (it returns true when it did, and may add to g.notes);
// absorbed producers are removed. The rewritten node keeps its name and output, so its module
// path still names it.
template <class Fuse>
GraphDef fuse_into_reader(GraphDef g, Op reader, Fuse&& fuse) {
  const auto readers = reader_counts(g);
  std::map<std::string, std::size_t> producer;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) producer[g.nodes[i].output] = i;
  std::vector<bool> drop(g.nodes.size(), false);
  for (NodeDef& n : g.nodes) {
    if (n.op != reader) continue;
    for (std::size_t k = 0; k < 2; ++k) {
      auto p = producer.find(n.inputs[k]);
      if (p == producer.end() || drop[p->second] || readers.at(n.inputs[k]) != 1) continue;
      if (!fuse(g, n, std::as_const(g.nodes[p->second]), k)) continue;
      drop[p->second] = true;
      break;
    }
  }
  std::vector<NodeDef> kept;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return g;
}

// torch.nn.SiLU as torch 1.13 exports it (two nodes):
//   s = Sigmoid(x);  y = Mul(x, s) | Mul(s, x)
// becomes one Silu node y = x sigmoid(x) when s has no other reader: one kernel pass each way
// instead of two, and x the one saved tensor (EfficientNet-B0's input gradient spent 53 of
// 122 ms in these Sigmoid and Mul nodes and the squeeze-excitation's; docs/benchmarks.md). A
// squeeze-excitation's Mul(x, Sigmoid(w)) multiplies by the sigmoid of another value: not
// fused. The Silu node takes the Mul's name and output.
inline GraphDef fuse_silu(GraphDef g) {
  return fuse_into_reader(std::move(g), Op::Mul, [](GraphDef& d, NodeDef& m, const NodeDef& sig, std::size_t k) {
    const std::string x = m.inputs[1 - k];
    if (sig.op != Op::Sigmoid || sig.inputs[0] != x) return false;
    m.op = Op::Silu;
    m.inputs = {x};
    m.attrs = {};
    d.notes.push_back("SiLU (Sigmoid, Mul) fused into one node '" + m.name + "'");
    return true;
  });
}

// A linear layer on tokens as torch exports it (two nodes):
//   p = MatMul(x, W);  y = Add(p, bias) | Add(bias, p)      (W [.., K, N], bias [N] constants)
// becomes one MatMul(x, W, bias) when p has no other reader: the bias is added as the product's
// tile is stored (kernels/fast/matmul.hpp), with the same roundings as the Add, instead of one
// more pass over the output (ViT-B/16: 48 such Adds, ~7 ms of a 165 ms forward). The node takes
// the Add's name and output.
inline GraphDef fuse_matmul_bias(GraphDef g) {
  return fuse_into_reader(std::move(g), Op::Add, [](GraphDef& d, NodeDef& add, const NodeDef& mm, std::size_t k) {
    const auto& constants = d.constants;
    const std::string bias = add.inputs[1 - k];
    const auto c = constants.find(bias);
    if (mm.op != Op::MatMul || mm.inputs.size() != 2 || c == constants.end()) return false;
    const auto w = constants.find(mm.inputs[1]);
    if (w == constants.end() || w->second.shape().rank() < 2 || c->second.shape().rank() != 1 ||
        c->second.dim(0) != w->second.dim(w->second.shape().rank() - 1))
      return false;
    add.op = Op::MatMul;
    add.inputs = {mm.inputs[0], mm.inputs[1], bias};
    add.attrs = {};
    d.notes.push_back("bias Add fused into the MatMul before it: '" + add.name + "'");
    return true;
  });
}

}  // namespace gradattr::graph
