#pragma once
// GraphDef: a model as a DAG of gradattr's own ops over named values, in topological order,
// with its weights as constants (docs/architecture.md, "Graph models"). It is what a loader
// (the ONNX importer, gradattr/onnx/load.hpp) produces and what graph::GraphModel runs; it knows
// nothing of ONNX. Shapes are fixed except the batch: the input is [N, C, H, W] with C, H, W
// given, and every op's attributes are resolved for that shape (shape arithmetic is folded by
// the loader), so what runs is tensor ops only.
//
// The one list of graph ops is GRADATTR_GRAPH_OPS below: X(name, inputs) with inputs the
// number of inputs (-1: any number >= 1; for Conv and Linear the bias is optional: 2 or 3).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::graph {

// X(op, number of inputs): each maps to one gradattr::ad function (graph_model.hpp, apply_node).
#define GRADATTR_GRAPH_OPS(X)                                                                  \
  X(Conv, -3)          /* x, w[, b]: ad::conv2d with Attrs::conv                          */ \
  X(Linear, -3)        /* x [N, In], w [Out, In][, b]: ad::linear                         */ \
  X(MatMul, -3)        /* a, b[, bias [N]]: ad::matmul (numpy semantics); graph::fuse_matmul_bias */ \
  X(ChannelAffine, 3)  /* x, scale [C], shift [C]: BatchNormalization at inference        */ \
  X(Relu, 1)                                                                                   \
  X(Clip, 1)           /* Attrs::lo, hi                                                   */ \
  X(Sigmoid, 1)                                                                                \
  X(HardSigmoid, 1)    /* Attrs::alpha, beta                                              */ \
  X(HardSwish, 1)                                                                              \
  X(Tanh, 1)                                                                                   \
  X(Erf, 1)                                                                                    \
  X(Gelu, 1)           /* x Phi(x), exact: graph::fuse_gelu, from torch's five-node form  */ \
  X(Silu, 1)           /* x sigmoid(x): graph::fuse_silu, from Sigmoid and Mul            */ \
  X(Sqrt, 1)                                                                                   \
  X(Pow, 1)            /* x^Attrs::alpha (a constant exponent)                            */ \
  X(Add, 2)            /* broadcasting (numpy)                                            */ \
  X(Sub, 2)                                                                                    \
  X(Mul, 2)                                                                                    \
  X(Div, 2)                                                                                    \
  X(MaxPool, 1)        /* Attrs::pool                                                     */ \
  X(AveragePool, 1)    /* Attrs::pool, count_include_pad                                  */ \
  X(GlobalAveragePool, 1)                                                                      \
  X(ReduceMean, 1)     /* Attrs::axes, keepdims                                           */ \
  X(ReduceSum, 1)      /* Attrs::axes, keepdims                                           */ \
  X(Concat, -1)        /* Attrs::axis                                                     */ \
  X(Reshape, 1)        /* Attrs::target (Flatten, Squeeze, Unsqueeze are reshapes)        */ \
  X(Transpose, 1)      /* Attrs::perm                                                     */ \
  X(Pad, 1)            /* Attrs::pads, value                                              */ \
  X(Slice, 1)          /* Attrs::starts, ends, axes, steps                                */ \
  X(Softmax, 1)        /* Attrs::axis                                                     */ \
  X(LogSoftmax, 1)     /* Attrs::axis                                                     */ \
  X(Gather, 1)         /* Attrs::axis, starts (the indices); keepdims false: a scalar index */ \
  X(Expand, 1)         /* Attrs::target (the output shape, per batch where it scales)     */ \
  X(LayerNorm, -3)     /* x, scale[, bias]: Attrs::axis, alpha (epsilon)                  */

enum class Op {
#define GRADATTR_GRAPH_OP_ENUM(name, inputs) name,
  GRADATTR_GRAPH_OPS(GRADATTR_GRAPH_OP_ENUM)
#undef GRADATTR_GRAPH_OP_ENUM
};

struct OpInfo {
  Op op;
  const char* name;
  int inputs;  // exact count; -1: one or more; -3: two or three
};

inline constexpr OpInfo kOpInfo[] = {
#define GRADATTR_GRAPH_OP_INFO(name, inputs) OpInfo{Op::name, #name, inputs},
    GRADATTR_GRAPH_OPS(GRADATTR_GRAPH_OP_INFO)
#undef GRADATTR_GRAPH_OP_INFO
};

inline const OpInfo& op_info(Op op) { return kOpInfo[static_cast<int>(op)]; }
inline const char* op_name(Op op) { return op_info(op).name; }

// A dimension of a Reshape target: `size` elements, times the batch size N when per_batch
// (a loader folds `x.view(x.size(0), -1)` into {1, per_batch}, {-1}). size -1: inferred.
struct TargetDim {
  std::int64_t size = 0;
  bool per_batch = false;
  bool operator==(const TargetDim&) const = default;
};

// Every op's attributes in one plain struct; each op reads only the fields its comment in
// GRADATTR_GRAPH_OPS names.
struct Attrs {
  kernels::Conv2dParams conv;
  kernels::Pool2dParams pool;
  bool count_include_pad = false;
  double lo = 0, hi = 0, alpha = 0, beta = 0, value = 0;
  std::int64_t axis = 0;
  bool keepdims = true;
  std::vector<std::int64_t> axes, perm, pads, starts, ends, steps;
  std::vector<TargetDim> target;
};

struct NodeDef {
  std::string name;                 // the source's node name (torch writes module scopes into it)
  Op op = Op::Relu;
  std::vector<std::string> inputs;  // value names: the graph input, a constant or a node output
  std::string output;
  Attrs attrs;
};

// A weight of the graph, held as the file stores it: float32 weights stay float (a
// GraphModel<float> takes them without a copy; a double model widens them, exactly), everything
// else (double, float16 widened, what a loader or a pass computes) is double. So a loaded model's
// weights are never held in double beside the float copy (ViT-B/16: 692 MB more at load).
class Constant {
 public:
  Constant() = default;
  Constant(Tensor<double> t) : d_(std::move(t)) {}                  // NOLINT: a weight converts
  Constant(Tensor<float> t) : f_(std::move(t)), is_float_(true) {}  // NOLINT
  bool is_float() const noexcept { return is_float_; }
  const Shape& shape() const noexcept { return is_float_ ? f_.shape() : d_.shape(); }
  std::int64_t numel() const noexcept { return shape().numel(); }
  std::int64_t dim(int i) const { return shape()[i]; }
  double operator[](std::int64_t i) const { return is_float_ ? static_cast<double>(f_[i]) : d_[i]; }
  // A copy in double (exact for float).
  Tensor<double> to_double() const { return is_float_ ? f_.template cast<double>() : d_.clone(); }
  // The values as T: float as float shares the buffer when `share`, else a converted or cloned copy.
  template <class T>
  Tensor<T> as(bool share) const {
    if constexpr (std::is_same_v<T, float>) {
      if (is_float_) return share ? f_ : f_.clone();
    }
    return is_float_ ? f_.template cast<T>() : d_.template cast<T>();
  }

 private:
  Tensor<double> d_;
  Tensor<float> f_;
  bool is_float_ = false;
};

struct GraphDef {
  std::string source;               // for messages: the file it came from
  std::string input;                // the one image input, [N, C, H, W]
  Shape input_shape;                // with N = 1
  std::string output;               // the logits [N, classes]
  std::vector<NodeDef> nodes;       // topological order
  std::map<std::string, Constant> constants;  // the weights (float32 ones as float)
  std::vector<std::string> notes;   // what the loader changed and why (e.g. a terminal Softmax removed)
  // The loader's own shapes at batch 1 (ONNX shape inference), where it has them: GraphModel
  // checks its computed shapes against them, node by node.
  std::map<std::string, Shape> expected_shapes;
};

// Checks what GraphModel relies on: unique value names, every input produced earlier (the
// order is topological, so a cycle is reported as a value used before it is produced), input
// counts per op, one image input of rank 4, an output produced by a node. FormatError naming
// the source, the node and the value.
inline void validate(const GraphDef& g) {
  auto fail = [&](const std::string& what) { throw FormatError(g.source + ": " + what); };
  if (g.input.empty()) fail("the graph has no input");
  if (g.input_shape.rank() != 4) fail("input '" + g.input + "' must be [N, C, H, W], got " + g.input_shape.str());
  for (int i = 1; i < 4; ++i)
    if (g.input_shape[i] <= 0) fail("input '" + g.input + "' has a non-positive dimension: " + g.input_shape.str());
  std::map<std::string, int> produced;  // value -> producing node (-1: input or constant)
  produced[g.input] = -1;
  for (const auto& [name, t] : g.constants) {
    if (name == g.input) fail("constant '" + name + "' has the input's name");
    produced[name] = -1;
  }
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const NodeDef& n = g.nodes[i];
    const OpInfo& info = op_info(n.op);
    const std::string who = "node '" + n.name + "' (" + info.name + ")";
    const int k = static_cast<int>(n.inputs.size());
    const bool count_ok = info.inputs >= 0 ? k == info.inputs : info.inputs == -1 ? k >= 1 : (k == 2 || k == 3);
    if (!count_ok) fail(who + " has " + std::to_string(k) + " inputs");
    for (const std::string& in : n.inputs)
      if (!produced.contains(in))
        fail(who + " reads '" + in + "', which no earlier node, constant or input produces" +
             " (an undefined value, a cycle, or nodes out of topological order)");
    if (n.output.empty()) fail(who + " has no output name");
    if (produced.contains(n.output)) fail(who + " writes '" + n.output + "', which is already defined");
    produced[n.output] = static_cast<int>(i);
  }
  auto out = produced.find(g.output);
  if (g.output.empty() || out == produced.end() || out->second < 0)
    fail("the graph output '" + g.output + "' is not produced by a node");
}

}  // namespace gradattr::graph
