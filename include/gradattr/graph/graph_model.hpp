#pragma once
// GraphModel<T>: runs a GraphDef through the autodiff ops, and is a Classifier (nn/classifier.hpp)
// like nn::Sequential (docs/architecture.md, "Graph models").
//
// One executor serves inference and gradients: each node calls one gradattr::ad function, which
// records only when a tracked value flows into it. A value is released as soon as its last
// reader has run (an unrecorded forward of ResNet-50 holds a few activations, not 170).
//
// Cuts: the layer of a cut is a value; its position is the index of the node producing it.
// forward_until(x, L) runs the nodes up to that position; the Cut carries every non-constant
// value produced at or before it (or the input) that a later node reads (a skip connection
// crossing the cut), in increasing value order. forward_from runs the nodes after the position
// with the activation and the carried values as given, so its gradient with respect to the
// activation holds every value not computed from it fixed: what a PyTorch hook reports.
//
// Layer names: every node output is a layer. Its canonical name is the outermost PyTorch module
// path whose output it is (graph/module_paths.hpp), else its value name; resolve_layer accepts
// the canonical name, any module path, the value name or the producing node's name.
//
// Attention layers (attention_layers(), for the attention methods): found once at load, from the
// graph's structure alone (docs/architecture.md, "Attention in the model interface"): the output
// of every Softmax over the last axis of a [..., T, T] value that is the left operand of a MatMul
// (softmax(q k^T / sqrt(d)) @ v), in node order.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/autodiff/profile.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/core/token_grid.hpp"
#include "gradattr/graph/graph_def.hpp"
#include "gradattr/graph/module_paths.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/nn/classifier.hpp"
#include "gradattr/nn/sequential.hpp"  // TrainOutput, ParamVar

namespace gradattr::graph {

// One cut point as `gradattr layers` shows it.
struct LayerInfo {
  std::string name;                       // canonical
  std::string value;                      // the value name in the source file
  std::string node;                       // the node producing it
  std::string op;                         // that node's op (GRADATTR_GRAPH_OPS name)
  std::vector<std::string> module_paths;  // every module path naming this value, outermost first
  Shape shape;                            // at batch 1
};

// A graph model's 3x3 convolutions take the Winograd path only for outputs of at least this many
// 4x4 tiles per image (kernels::Conv2dParams::winograd_min_tiles): a 14x14 map (16 tiles) keeps
// it, a 7x7 one (4) runs as im2col + GEMM and its Winograd filters are never built (ResNet-50:
// two of 38 MB). ResNet-50's layer4 3x3 at 1 thread: 4.6 ms on Winograd, 2.9 ms on the GEMM;
// layer3's 14x14: 1.7 ms on Winograd, 2.2 ms on the GEMM.
inline constexpr int kWinogradMinTiles = 16;

template <class T>
class GraphModel {
 public:
  using scalar_type = T;

  explicit GraphModel(const GraphDef& def) : source_(def.source), notes_(def.notes) {
    validate(def);
    build(def, nullptr);
    infer_shapes(def);
    prepare_convolutions();
    name_layers(def);
    find_attention();
  }
  // The same, taking def's constants: each is freed as soon as it is converted to T, and float
  // ones are shared with a float model, not copied (onnx::load's peak memory).
  explicit GraphModel(GraphDef&& def) : source_(def.source), notes_(def.notes) {
    validate(def);
    build(def, &def.constants);
    infer_shapes(def);
    prepare_convolutions();
    name_layers(def);
    find_attention();
  }

  // ---- the Classifier interface (nn/classifier.hpp) ----

  Tensor<T> forward(const Tensor<T>& x) const {
    check_input(x.shape());
    std::vector<ad::Var<T>> env(values_.size());
    env[input_] = ad::Var<T>(x);
    run(env, 0, nodes_.size());
    return env[output_].value();
  }

  nn::Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    check_input(x.shape());
    const std::string name = resolve_layer(layer);
    if (name == nn::kInputLayer) return nn::input_cut(ad::Var<T>(x));
    const int v = value_of_layer(name);
    std::vector<ad::Var<T>> env(values_.size());
    env[input_] = ad::Var<T>(x);
    const std::size_t p = static_cast<std::size_t>(values_[v].producer);
    run(env, 0, p + 1);
    return make_cut(env, name, v);
  }

  ad::Var<T> forward_from(const nn::Cut<T>& cut, ad::Tape<T>& tape) const {
    nn::check_cut_tape(cut, tape, "forward_from");
    std::vector<ad::Var<T>> env(values_.size());
    const std::size_t begin = restore_cut(env, cut);
    run(env, begin, nodes_.size());
    return env[output_];
  }

  nn::Cut<T> forward_between(const nn::Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    nn::check_cut_tape(cut, tape, "forward_between");
    const std::string name = resolve_layer(until);
    std::vector<ad::Var<T>> env(values_.size());
    const std::size_t begin = restore_cut(env, cut);
    if (name == nn::kInputLayer) {
      if (begin != 0) throw ArgumentError("forward_between: 'input' is before the cut at '" + cut.layer + "'");
      return cut;
    }
    const int v = value_of_layer(name);
    const std::size_t end = static_cast<std::size_t>(values_[v].producer) + 1;
    if (end < begin)
      throw ArgumentError("forward_between: layer '" + name + "' comes before the cut at '" + cut.layer + "'");
    run(env, begin, end);
    return make_cut(env, name, v);
  }

  std::vector<std::string> layer_names() const {
    std::vector<std::string> names;
    names.reserve(layers_.size());
    for (const LayerInfo& l : layers_) names.push_back(l.name);
    return names;
  }

  std::string resolve_layer(const std::string& name) const {
    if (name == nn::kInputLayer) return name;
    auto it = aliases_.find(name);
    if (it != aliases_.end()) return it->second;
    std::string msg = "unknown layer '" + name + "' in " + source_ + "; `gradattr layers` lists them";
    const std::size_t n = std::min<std::size_t>(layers_.size(), 12);
    msg += "; the last " + std::to_string(n) + ":";
    for (std::size_t i = layers_.size() - n; i < layers_.size(); ++i) msg += " " + layers_[i].name;
    throw ArgumentError(msg);
  }

  std::int64_t num_classes() const noexcept { return num_classes_; }

  // The attention probabilities, one canonical layer name per attention block in node order
  // (the optional member of the interface, nn/classifier.hpp); empty without attention.
  const std::vector<std::string>& attention_layers() const noexcept { return attention_layers_; }

  // ---- beyond the interface ----

  // exact: every convolution without the Winograd algorithm (kernels::Conv2dParams::exact), for
  // float results rounded like a plain sum of products; slower (docs/benchmarks.md, "Accuracy").
  void set_exact_convolutions(bool exact) {
    for (Node& n : nodes_) {
      if (n.op != Op::Conv) continue;
      n.attrs.conv.exact = exact;
    }
    prepare_convolutions();
  }

  // The whole network with every constant (the weights) a variable of `tape`, for weight
  // gradients: ad::grad(tape, loss, out.vars()). Names are the constants' names in the file.
  nn::TrainOutput<T> forward_train(const ad::Var<T>& x, ad::Tape<T>& tape) const {
    if (x.tracked() && x.tape() != &tape) throw ArgumentError("GraphModel::forward_train: the input is a variable of another tape");
    check_input(x.shape());
    std::vector<ad::Var<T>> env(values_.size());
    env[input_] = x;
    nn::TrainOutput<T> out;
    for (std::size_t v = 0; v < values_.size(); ++v) {
      if (!values_[v].constant) continue;
      env[v] = tape.variable(consts_[v]);
      out.parameters.push_back(nn::ParamVar<T>{values_[v].name, env[v]});
    }
    run(env, 0, nodes_.size());
    out.logits = env[output_];
    return out;
  }

  const std::vector<LayerInfo>& layers() const noexcept { return layers_; }
  const LayerInfo& layer(const std::string& name) const {
    return layers_[static_cast<std::size_t>(layer_index_.at(resolve_layer(name)))];
  }
  // The layer CAM methods use without one: for a Vision Transformer (a layer whose module path
  // ends in ".ln_1" with tokens [1, k + s*s, D], s > 1, k prefix tokens: core/token_grid.hpp),
  // the last block's ln_1, as pytorch-grad-cam recommends (docs/methods.md, "Token layers"); otherwise the last spatial
  // activation (rank 4, more than one position) before the pooling. ArgumentError for a model
  // without either.
  std::string default_cam_layer() const {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
      const Shape& s = it->shape;
      const bool ln1 = std::any_of(it->module_paths.begin(), it->module_paths.end(), [](const std::string& p) {
        return p.size() > 5 && p.compare(p.size() - 5, 5, ".ln_1") == 0;
      });
      if (ln1 && s.rank() == 3 && token_grid(s[1]).side > 1) return it->name;
    }
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
      if (it->shape.rank() == 4 && it->shape[2] * it->shape[3] > 1) return it->name;
    throw ArgumentError(source_ + ": no spatial activation (rank 4, H*W > 1) to use as the CAM layer");
  }
  const Shape& input_shape() const noexcept { return values_[input_].shape; }
  const std::string& source() const noexcept { return source_; }
  const std::vector<std::string>& notes() const noexcept { return notes_; }
  std::size_t num_nodes() const noexcept { return nodes_.size(); }

  // Per-node timing of the nodes this model runs (forward, recorded or not), by node name, with
  // the node's op (a fused step's ops, e.g. "Conv[1x1]+Add+Relu"), output shape and FLOPs,
  // added into *times until set_profile(nullptr). What a node records on a tape is labelled
  // with the node's name (ad::record_label), so ad::backward_profile() times its backward under
  // the same name. Off by default (one pointer test per node). Not for concurrent calls on one
  // model.
  void set_profile(ad::OpTimes* times) const noexcept { profile_ = times; }

  // Inference fusion (Conv or Add followed by its Relu / Clip, one kernel call when nothing is
  // recorded) is on by default; off runs every node on its own (for tests and A/B timing).
  void set_fusion(bool on) noexcept { fusion_ = on; }
  bool fusion() const noexcept { return fusion_; }
  // How many nodes are annotated for fusion with their next node.
  std::size_t num_fusible() const noexcept {
    return static_cast<std::size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.fuse != Node::Fuse::None; }));
  }

 private:
  struct Value {
    std::string name;
    int producer = -1;   // node index; -1: the input or a constant
    int last_read = -1;  // index of the last node reading it; -1: none
    bool constant = false;
    Shape shape;         // at batch 1 (infer_shapes)
  };
  struct Node {
    std::string name;
    Op op;
    std::vector<int> inputs;
    int output = -1;
    Attrs attrs;
    std::shared_ptr<const kernels::Conv2dPrepared<T>> prepared;  // Conv: the fast kernels' filters
    // Inference fusion with the next node (annotate_fusion): that node is a Relu / Clip reading
    // only this node's output, which nothing else reads. run() takes it when no input is tracked.
    // ConvAddAct: the next node is an Add of this output and another value (`residual`), read
    // by nothing else, and the one after it (when `extra` is 2) a Relu / Clip: a ResNet block's
    // last Conv, Add and ReLU as one call.
    enum class Fuse : unsigned char { None, ConvAct, AddAct, ConvAddAct } fuse = Fuse::None;
    kernels::Activation act;  // the activation of the last fused node (none for Conv+Add alone)
    int extra = 0;            // how many following nodes the fused call computes
    int residual = -1;        // ConvAddAct: the Add's other operand
  };

  // release: def's constants, to free each one once converted (null: keep them, and copy).
  void build(const GraphDef& def, std::map<std::string, Constant>* release) {
    std::map<std::string, int> id;
    auto add_value = [&](const std::string& name) {
      id[name] = static_cast<int>(values_.size());
      values_.push_back(Value{name, -1, -1, false, Shape{}});
      return id[name];
    };
    input_ = add_value(def.input);
    values_[input_].shape = def.input_shape;
    consts_.emplace_back();
    for (const auto& [name, t] : def.constants) {
      const int v = add_value(name);
      values_[v].constant = true;
      values_[v].shape = t.shape();
      consts_.push_back(t.template as<T>(release != nullptr));
      if (release) (*release)[name] = Constant();
    }
    for (std::size_t i = 0; i < def.nodes.size(); ++i) {
      const NodeDef& d = def.nodes[i];
      Node n{d.name, d.op, {}, -1, d.attrs, nullptr, Node::Fuse::None, {}, 0, -1};
      for (const std::string& in : d.inputs) {
        const int v = id.at(in);
        n.inputs.push_back(v);
        values_[v].last_read = static_cast<int>(i);
      }
      n.output = add_value(d.output);
      values_[n.output].producer = static_cast<int>(i);
      consts_.emplace_back();
      if (n.op == Op::Conv) n.attrs.conv.winograd_min_tiles = kWinogradMinTiles;
      nodes_.push_back(std::move(n));
    }
    output_ = id.at(def.output);
    annotate_fusion();
  }

  // Marks the Conv and the Add nodes whose output is read by the next node alone, a Relu or Clip
  // (Conv+BN+ReLU after BatchNorm folding, MobileNet's Conv+ReLU6, an Add+ReLU), and the Conv
  // whose output only the next node, an Add, reads, with that Add's output read only by a Relu
  // or Clip after it, if any (a ResNet block's last Conv + residual Add + ReLU). Shapes are
  // unknown here: they are compared when the nodes run (fuses()).
  void annotate_fusion() {
    std::vector<int> readers(values_.size(), 0);
    for (const Node& n : nodes_)
      for (int v : n.inputs) ++readers[static_cast<std::size_t>(v)];
    // Whether node k's output goes only to node k + 1 (and is not the graph's output).
    auto only_to_next = [&](std::size_t k) {
      const Node& a = nodes_[k];
      const Node& b = nodes_[k + 1];
      const int uses = static_cast<int>(std::count(b.inputs.begin(), b.inputs.end(), a.output));
      return uses == 1 && readers[static_cast<std::size_t>(a.output)] == 1 && a.output != output_;
    };
    // Node k as a fusable activation: its kernels::Activation, or false.
    auto activation = [&](std::size_t k, kernels::Activation& act) {
      const Node& a = nodes_[k];
      if (a.inputs.size() != 1) return false;
      if (a.op == Op::Relu) {
        act = kernels::Activation::relu();
        return true;
      }
      if (a.op != Op::Clip || a.attrs.lo > a.attrs.hi) return false;
      act = kernels::Activation::clip(static_cast<float>(a.attrs.lo), static_cast<float>(a.attrs.hi));
      // Activation holds float bounds: a double model fuses a Clip only if they are exact.
      return std::is_same_v<T, float> || (static_cast<double>(act.lo) == a.attrs.lo && static_cast<double>(act.hi) == a.attrs.hi);
    };
    for (std::size_t i = 0; i + 1 < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      const Node& next = nodes_[i + 1];
      if (n.op != Op::Conv && n.op != Op::Add) continue;
      if (!only_to_next(i)) continue;
      kernels::Activation act;
      if (activation(i + 1, act)) {
        n.act = act;
        n.extra = 1;
        n.fuse = n.op == Op::Conv ? Node::Fuse::ConvAct : Node::Fuse::AddAct;
        continue;
      }
      if (n.op != Op::Conv || next.op != Op::Add || next.inputs.size() != 2) continue;
      const int other = next.inputs[0] == n.output ? next.inputs[1] : next.inputs[0];
      if (other == n.output) continue;
      n.fuse = Node::Fuse::ConvAddAct;
      n.residual = other;
      n.extra = 1;
      n.act = {};
      if (i + 2 < nodes_.size() && only_to_next(i + 1) && activation(i + 2, act)) {
        n.act = act;
        n.extra = 2;
      }
    }
  }

  // Whether node i runs fused with the next n.extra nodes now: annotated, all in [.., end), no
  // input tracked (a recorded computation stays op by op), and for an Add equal shapes.
  bool fuses(std::size_t i, std::size_t end, const std::vector<ad::Var<T>>& env) const {
    const Node& n = nodes_[i];
    if (n.fuse == Node::Fuse::None || i + static_cast<std::size_t>(n.extra) >= end || !fusion_) return false;
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      if (in(n, k, env).tracked()) return false;
    if (n.fuse == Node::Fuse::AddAct) return in(n, 0, env).shape() == in(n, 1, env).shape();
    if (n.fuse == Node::Fuse::ConvAddAct) {
      const ad::Var<T>& r = env[static_cast<std::size_t>(n.residual)];
      if (r.tracked() || r.value().empty()) return false;
      try {
        return r.shape() == kernels::conv2d_output_shape(in(n, 0, env).shape(), in(n, 1, env).shape(), n.attrs.conv);
      } catch (const Error&) {
        return false;  // the conv itself will say what is wrong
      }
    }
    return true;
  }

  ad::Var<T> apply_fused(const Node& n, const std::vector<ad::Var<T>>& env) const {
    auto x = [&](std::size_t k) { return in(n, k, env); };
    if (n.fuse == Node::Fuse::ConvAct)
      return ad::conv2d_activation(x(0), x(1), n.inputs.size() > 2 ? x(2) : ad::Var<T>(), n.attrs.conv,
                                   n.prepared.get(), n.act);
    if (n.fuse == Node::Fuse::ConvAddAct)
      return ad::conv2d_activation(x(0), x(1), n.inputs.size() > 2 ? x(2) : ad::Var<T>(), n.attrs.conv,
                                   n.prepared.get(), n.act, env[static_cast<std::size_t>(n.residual)]);
    return ad::add_activation(x(0), x(1), n.act);
  }

  // The prepared (Winograd) weights of every convolution with constant weights, for its input's
  // shape: none where the map has too few tiles (kWinogradMinTiles). After infer_shapes, which
  // runs without them (each Winograd layer transforms its filters on the fly, one at a time).
  void prepare_convolutions() {
    for (Node& n : nodes_)
      if (n.op == Op::Conv && values_[n.inputs[1]].constant)
        n.prepared = kernels::Conv2dPrepared<T>::prepare(consts_[n.inputs[1]], n.attrs.conv,
                                                         &values_[n.inputs[0]].shape);
  }

  // Runs the graph once at batch 1 (zeros): every value's shape, and every shape error found at
  // load with the node that causes it.
  void infer_shapes(const GraphDef& def) {
    std::vector<ad::Var<T>> env(values_.size());
    env[input_] = ad::Var<T>(Tensor<T>(values_[input_].shape));
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const Node& n = nodes_[i];
      run(env, i, i + 1);
      Value& out = values_[n.output];
      out.shape = env[n.output].shape();
      auto want = def.expected_shapes.find(out.name);
      if (want != def.expected_shapes.end() && want->second != out.shape)
        throw FormatError(source_ + ": node '" + n.name + "' (" + op_name(n.op) + ") computes " + out.shape.str() +
                          " for '" + out.name + "', where the file's shape inference says " + want->second.str());
    }
    const Shape& out = values_[output_].shape;
    if (out.rank() != 2 || out[0] != 1)
      throw FormatError(source_ + ": the output '" + values_[output_].name + "' must be logits [N, classes], got " +
                        out.str() + " at batch 1");
    num_classes_ = out[1];
  }

  void name_layers(const GraphDef& def) {
    std::map<std::string, int> module_output;  // module path -> value: the last node in its scope
    std::map<std::string, std::size_t> depth;
    for (const Node& n : nodes_) {
      const auto paths = module_paths_of_node(n.name);
      for (std::size_t d = 0; d < paths.size(); ++d) {
        module_output[paths[d]] = n.output;
        depth[paths[d]] = d;
      }
    }
    std::map<int, std::vector<std::string>> paths_of_value;
    for (const auto& [path, v] : module_output) paths_of_value[v].push_back(path);
    for (auto& [v, paths] : paths_of_value)
      std::stable_sort(paths.begin(), paths.end(), [&](const std::string& a, const std::string& b) {
        return depth[a] < depth[b];
      });
    for (const Node& n : nodes_) {
      LayerInfo l;
      l.value = values_[n.output].name;
      l.node = n.name;
      l.op = op_name(n.op);
      l.shape = values_[n.output].shape;
      auto it = paths_of_value.find(n.output);
      if (it != paths_of_value.end()) l.module_paths = it->second;
      l.name = l.module_paths.empty() ? l.value : l.module_paths.front();
      layer_index_[l.name] = static_cast<int>(layers_.size());
      layer_value_[l.name] = n.output;
      layers_.push_back(std::move(l));
    }
    // Aliases, weakest first so that a stronger kind of name wins a clash: node names, value
    // names, module paths, canonical names.
    for (const LayerInfo& l : layers_)
      if (!l.node.empty()) aliases_[l.node] = l.name;
    for (const LayerInfo& l : layers_) aliases_[l.value] = l.name;
    for (const LayerInfo& l : layers_)
      for (const std::string& p : l.module_paths) aliases_[p] = l.name;
    for (const LayerInfo& l : layers_) aliases_[l.name] = l.name;
    (void)def;
  }

  // The attention probabilities: a Softmax's output read as the LEFT operand of a MatMul (the
  // probabilities times V), the softmax over the last axis, the value [..., T, T] at batch 1.
  // layers_[i] is node i's output (name_layers).
  void find_attention() {
    std::vector<char> left_of_matmul(values_.size(), 0);
    for (const Node& n : nodes_)
      if (n.op == Op::MatMul) left_of_matmul[static_cast<std::size_t>(n.inputs[0])] = 1;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const Node& n = nodes_[i];
      if (n.op != Op::Softmax || !left_of_matmul[static_cast<std::size_t>(n.output)]) continue;
      const Shape& s = values_[n.output].shape;
      const int r = s.rank();
      const std::int64_t axis = n.attrs.axis < 0 ? n.attrs.axis + r : n.attrs.axis;
      if (r < 3 || axis != r - 1 || s[r - 1] != s[r - 2]) continue;
      attention_layers_.push_back(layers_[i].name);
    }
  }

  void check_input(const Shape& s) const {
    const Shape& want = values_[input_].shape;
    bool ok = s.rank() == 4 && s[0] > 0;
    for (int i = 1; ok && i < 4; ++i) ok = s[i] == want[i];
    if (!ok)
      throw ShapeError(source_ + ": the model takes inputs [N, " + std::to_string(want[1]) + ", " +
                       std::to_string(want[2]) + ", " + std::to_string(want[3]) + "], got " + s.str());
  }

  int value_of_layer(const std::string& canonical) const { return layer_value_.at(canonical); }

  // The values a cut at value v (produced by node p) carries: produced at or before p (or the
  // input), not constant, not v, read by a node after p. Increasing value order.
  std::vector<int> carried_values(int v) const {
    const int p = values_[v].producer;
    std::vector<int> out;
    for (std::size_t u = 0; u < values_.size(); ++u) {
      const Value& val = values_[u];
      if (static_cast<int>(u) == v || val.constant) continue;
      const bool before = static_cast<int>(u) == input_ || (val.producer >= 0 && val.producer <= p);
      if (before && val.last_read > p) out.push_back(static_cast<int>(u));
    }
    return out;
  }

  nn::Cut<T> make_cut(std::vector<ad::Var<T>>& env, const std::string& name, int v) const {
    nn::Cut<T> cut{name, env[v], {}};
    for (int u : carried_values(v)) cut.carried.push_back(env[u]);
    return cut;
  }

  // Fills env from a cut; returns the first node to run after it.
  std::size_t restore_cut(std::vector<ad::Var<T>>& env, const nn::Cut<T>& cut) const {
    const std::string name = resolve_layer(cut.layer);
    if (name == nn::kInputLayer) {
      check_input(cut.activation.shape());
      if (!cut.carried.empty()) throw ArgumentError("forward_from: a cut at 'input' carries no values");
      env[input_] = cut.activation;
      return 0;
    }
    const int v = value_of_layer(name);
    const std::vector<int> carried = carried_values(v);
    if (carried.size() != cut.carried.size())
      throw ArgumentError("forward_from: the cut at '" + name + "' must carry " + std::to_string(carried.size()) +
                          " values, got " + std::to_string(cut.carried.size()));
    env[v] = cut.activation;
    for (std::size_t i = 0; i < carried.size(); ++i) env[carried[i]] = cut.carried[i];
    return static_cast<std::size_t>(values_[v].producer) + 1;
  }

  // Runs nodes [begin, end), releasing each non-carried value after its last reader. A node
  // annotated for fusion (annotate_fusion) runs together with the next one when fuses() says so:
  // its own output is then never stored (nothing else reads it, and it is no cut: a cut there
  // ends the run at it).
  void run(std::vector<ad::Var<T>>& env, std::size_t begin, std::size_t end) const {
    const std::int64_t batch = batch_of(env);
    for (std::size_t i = begin; i < end; ++i) {
      const Node& n = nodes_[i];
      const bool fused = fuses(i, end, env);
      const std::size_t extra = fused ? static_cast<std::size_t>(n.extra) : 0;
      const Node& last = nodes_[i + extra];
      try {
        if (profile_) {
          const double flops = node_flops(n, env);
          const ad::ScopedRecordLabel label(&n.name);  // the backward of what this records: under n.name too
          ad::detail::timed(*profile_, n.name,
                            [&] { env[last.output] = fused ? apply_fused(n, env) : apply(n, env, batch); });
          ad::OpTime& row = (*profile_)[n.name];
          if (row.op.empty()) {
            row.op = profile_name(n);
            for (std::size_t k = 1; k <= extra; ++k) row.op += std::string("+") + op_name(nodes_[i + k].op);
            const Shape& s = env[last.output].shape();
            for (int d = 0; d < s.rank(); ++d) row.shape += (d ? "x" : "") + std::to_string(s[d]);
            row.flops = flops;
          }
        } else {
          env[last.output] = fused ? apply_fused(n, env) : apply(n, env, batch);
        }
      } catch (const Error& e) {
        rethrow_at(n, e);
      }
      for (std::size_t k = i; k <= i + extra; ++k)
        for (int v : nodes_[k].inputs)
          if (values_[v].last_read == static_cast<int>(k) && !values_[v].constant && v != output_) env[v] = ad::Var<T>();
      i += extra;
    }
  }

  // 2 x the multiply-adds of node n on its current inputs (Conv, Linear, MatMul), else 0.
  double node_flops(const Node& n, const std::vector<ad::Var<T>>& env) const {
    auto shape_of = [&](std::size_t k) -> const Shape& {
      const int v = n.inputs[k];
      return values_[v].constant ? values_[v].shape : env[v].shape();
    };
    const Shape& x = shape_of(0);
    if (n.op == Op::Linear) return 2.0 * static_cast<double>(x.numel()) * static_cast<double>(shape_of(1)[0]);
    if (n.op == Op::MatMul) {
      const Shape& b = shape_of(1);
      if (x.rank() < 2 || b.rank() < 2) return 0;
      // out = batch * M * N, each a K-long dot product (K = x's last extent)
      const double out_rows = static_cast<double>(x.numel()) / static_cast<double>(x[x.rank() - 1]);
      const double batch_b = static_cast<double>(b.numel()) / static_cast<double>(b[b.rank() - 2] * b[b.rank() - 1]);
      const double batch_x = static_cast<double>(x.numel()) / static_cast<double>(x[x.rank() - 2] * x[x.rank() - 1]);
      return 2.0 * out_rows * std::max(1.0, batch_b / batch_x) * static_cast<double>(x[x.rank() - 1] * b[b.rank() - 1]);
    }
    if (n.op != Op::Conv) return 0;
    // Each output value is a dot product over w's [Ci / groups, kh, kw].
    const Shape& w = shape_of(1);
    const Shape y = kernels::conv2d_output_shape(x, w, n.attrs.conv);
    return 2.0 * static_cast<double>(y.numel()) * static_cast<double>(w.numel() / w[0]);
  }

  // A node's row in the profile: its op, for a Conv with its kind, e.g. "Conv[1x1]",
  // "Conv[3x3/s2]", "Conv[dw5x5/s2]", "Conv[g4 3x3]".
  std::string profile_name(const Node& n) const {
    if (n.op != Op::Conv) return op_name(n.op);
    const Shape& w = values_[n.inputs[1]].shape;
    const kernels::Conv2dParams& p = n.attrs.conv;
    std::string k = std::to_string(w[2]) + "x" + std::to_string(w[3]);
    if (p.groups > 1) k = (w[1] == 1 ? "dw" : "g" + std::to_string(p.groups) + " ") + k;
    if (p.stride_h != 1 || p.stride_w != 1) k += "/s" + std::to_string(p.stride_h);
    return "Conv[" + k + "]";
  }

  // The same error type, with the node that raised it.
  [[noreturn]] void rethrow_at(const Node& n, const Error& e) const {
    const std::string where = source_ + ": node '" + n.name + "' (" + op_name(n.op) + "): ";
    if (dynamic_cast<const ShapeError*>(&e)) throw ShapeError(where + e.what());
    if (dynamic_cast<const ArgumentError*>(&e)) throw ArgumentError(where + e.what());
    throw FormatError(where + e.what());
  }

  ad::Var<T> in(const Node& n, std::size_t k, const std::vector<ad::Var<T>>& env) const {
    const int v = n.inputs[k];
    // A constant is a variable only in forward_train, which puts it in env.
    return values_[v].constant && env[v].value().empty() ? ad::Var<T>(consts_[v]) : env[v];
  }

  // The batch size of a run: a value present in env, against its shape at batch 1 (a cut's
  // activation need not have the batch first: nn.MultiheadAttention works on [L, N, E]). The
  // largest ratio, since a value computed from constants alone does not scale. 1 when env holds
  // nothing with a known shape yet.
  std::int64_t batch_of(const std::vector<ad::Var<T>>& env) const {
    std::int64_t batch = 1;
    for (std::size_t u = 0; u < values_.size(); ++u) {
      if (values_[u].constant || env[u].value().empty() || values_[u].shape.rank() == 0) continue;
      const std::int64_t one = values_[u].shape.numel();
      if (one > 0) batch = std::max(batch, env[u].value().numel() / one);
    }
    return batch;
  }

  // Expand's output shape: Attrs::target, each per_batch extent times the batch.
  Shape target_shape(const Node& n, std::int64_t batch) const {
    if (n.attrs.target.size() > 4) throw ShapeError("expand to rank " + std::to_string(n.attrs.target.size()) + ": gradattr tensors have rank <= 4");
    Shape s;
    for (const TargetDim& d : n.attrs.target) s.push(d.per_batch ? d.size * batch : d.size);
    return s;
  }

  Shape reshape_target(const Node& n, const Shape& x, std::int64_t batch) const {
    std::vector<std::int64_t> dims;
    std::int64_t known = 1;
    int infer = -1;
    for (const TargetDim& d : n.attrs.target) {
      if (d.size == -1) {
        infer = static_cast<int>(dims.size());
        dims.push_back(-1);
        continue;
      }
      dims.push_back(d.per_batch ? d.size * batch : d.size);
      known *= dims.back();
    }
    if (infer >= 0) {
      if (known <= 0 || x.numel() % known != 0)
        throw ShapeError("cannot reshape " + x.str() + ": the inferred dimension does not divide");
      dims[static_cast<std::size_t>(infer)] = x.numel() / known;
    }
    if (dims.size() > 4) throw ShapeError("reshape to rank " + std::to_string(dims.size()) + ": gradattr tensors have rank <= 4");
    Shape s;
    for (std::int64_t d : dims) s.push(d);
    return s;
  }

  ad::Var<T> apply(const Node& n, const std::vector<ad::Var<T>>& env, std::int64_t batch) const {
    const Attrs& a = n.attrs;
    auto x = [&](std::size_t k) { return in(n, k, env); };
    auto bias = [&]() { return n.inputs.size() > 2 ? x(2) : ad::Var<T>(); };
    switch (n.op) {
      case Op::Conv: return ad::conv2d(x(0), x(1), bias(), a.conv, n.prepared.get());
      case Op::Linear: return ad::linear(x(0), x(1), bias());
      case Op::MatMul: return ad::matmul(x(0), x(1), bias());
      case Op::ChannelAffine: return ad::channel_affine(x(0), x(1), x(2));
      case Op::Relu: return ad::relu(x(0));
      case Op::Clip: return ad::clip(x(0), static_cast<T>(a.lo), static_cast<T>(a.hi));
      case Op::Sigmoid: return ad::sigmoid(x(0));
      case Op::HardSigmoid: return ad::hard_sigmoid(x(0), static_cast<T>(a.alpha), static_cast<T>(a.beta));
      case Op::HardSwish: return ad::hard_swish(x(0));
      case Op::Tanh: return ad::tanh(x(0));
      case Op::Erf: return ad::erf(x(0));
      case Op::Gelu: return ad::gelu(x(0));
      case Op::Silu: return ad::silu(x(0));
      case Op::Sqrt: return ad::sqrt(x(0));
      case Op::Pow: return ad::pow_scalar(x(0), static_cast<T>(a.alpha));
      case Op::Add: return ad::add(x(0), x(1));
      case Op::Sub: return ad::sub(x(0), x(1));
      case Op::Mul: return ad::mul(x(0), x(1));
      case Op::Div: return ad::div(x(0), x(1));
      case Op::MaxPool: return ad::max_pool2d(x(0), a.pool);
      case Op::AveragePool: return ad::avg_pool2d(x(0), a.pool, a.count_include_pad);
      case Op::GlobalAveragePool: return ad::adaptive_avg_pool2d(x(0), 1, 1);
      case Op::ReduceMean: return ad::reduce_mean(x(0), a.axes, a.keepdims);
      case Op::ReduceSum: return ad::reduce_sum(x(0), a.axes, a.keepdims);
      case Op::Concat: {
        std::vector<ad::Var<T>> xs;
        for (std::size_t k = 0; k < n.inputs.size(); ++k) xs.push_back(x(k));
        return ad::concat(xs, a.axis);
      }
      case Op::Reshape: {
        ad::Var<T> v = x(0);
        return ad::reshape(v, reshape_target(n, v.shape(), batch));
      }
      case Op::Transpose: return ad::transpose(x(0), a.perm);
      case Op::Pad: return ad::pad(x(0), a.pads, static_cast<T>(a.value));
      case Op::Slice: return ad::slice(x(0), a.starts, a.ends, a.axes, a.steps);
      case Op::Softmax: return ad::softmax(x(0), a.axis);
      case Op::LogSoftmax: return ad::log_softmax(x(0), a.axis);
      case Op::Gather: return ad::gather(x(0), a.axis, a.starts, !a.keepdims);
      case Op::Expand: return ad::expand(x(0), target_shape(n, batch));
      case Op::LayerNorm: return ad::layer_norm(x(0), x(1), bias(), a.axis, static_cast<T>(a.alpha));
    }
    throw ArgumentError("unknown graph op");
  }

  std::string source_;
  std::vector<std::string> notes_;
  std::vector<Value> values_;
  std::vector<Tensor<T>> consts_;  // by value; empty for non-constants
  std::vector<Node> nodes_;
  int input_ = -1, output_ = -1;
  std::int64_t num_classes_ = 0;
  std::vector<LayerInfo> layers_;
  std::map<std::string, int> layer_index_, layer_value_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> attention_layers_;
  mutable ad::OpTimes* profile_ = nullptr;
  bool fusion_ = true;
};

}  // namespace gradattr::graph
