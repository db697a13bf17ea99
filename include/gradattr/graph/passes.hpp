#pragma once
// Graph rewrites run at load, each a function GraphDef -> GraphDef that leaves the model's
// function unchanged (docs/architecture.md, "Graph models"; each has a test against the
// unrewritten graph, tests/graph).
#include <cmath>
#include <map>
#include <string>
#include <utility>

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

// A ChannelAffine (inference BatchNormalization) whose input is a Conv's output read by nothing
// else, with constant weights, scale and shift, becomes part of that Conv:
//   w'[o] = w[o] * scale[o],  b'[o] = b[o] * scale[o] + shift[o].
// The Conv then produces the affine's output value under the affine node's name (so the module
// path of the BatchNorm still names it); the Conv's own output no longer exists. Computed in
// double (the constants are double), so the float model rounds once.
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
    Tensor<double> nw = w->second.clone();
    const std::int64_t per = nw.numel() / co;
    Tensor<double> nb(Shape{co});
    if (conv.inputs.size() > 2) nb = c(conv.inputs[2])->second.clone();
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
  // Constants nothing reads any more (the unfolded weights) are dropped.
  std::map<std::string, int> used = reader_counts(out);
  for (auto it = out.constants.begin(); it != out.constants.end();)
    it = used.contains(it->first) ? std::next(it) : out.constants.erase(it);
  return out;
}

}  // namespace gradattr::graph
