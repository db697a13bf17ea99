#pragma once
// gradattr::onnx: ONNX image classifiers as graph models (docs/models.md). This header belongs to
// the opt-in CMake target gradattr::onnx (a compiled library over Debian's libonnx: the
// protobuf classes, the checker and shape inference); the rest of gradattr does not need it.
//
//   auto model = gradattr::onnx::load<float>("resnet50.onnx");
//   gradattr::GradCam<gradattr::score::LogSoftmax> cam(model, "layer4");
//
// read_graph validates the file before it trusts any of it: protobuf structure, every value
// defined before use, initializer sizes against dims and type, external data only inside the
// model's directory, the opset, then onnx::checker and shape inference for the model's input
// shape. Errors: IoError (cannot read the file or its external data), FormatError (everything
// else), each naming the file and the node, value or tensor at fault. An unsupported op is
// reported with every other unsupported node of the model in one message.
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/graph/graph_def.hpp"
#include "gradattr/graph/graph_model.hpp"

namespace gradattr::onnx {

struct LoadOptions {
  // BatchNormalization after a Conv that is its only reader is folded into the Conv's weights
  // (its output keeps its name); off: every BatchNormalization is a per-channel affine node.
  bool fold_batchnorm = true;
  // torch's exact GELU (Div, Erf, Add, Mul, Mul) becomes one Gelu node (graph::fuse_gelu); off:
  // the five nodes run as exported (their intermediate values can then be cut at).
  bool fuse_gelu = true;
  // Sigmoid(x) read only by Mul(x, .) (torch.nn.SiLU) becomes one Silu node (graph::fuse_silu);
  // off: the two nodes run as exported.
  bool fuse_silu = true;
  // MatMul(x, W) then Add(., bias [N]) with constant W and bias (a Linear on tokens) becomes one
  // MatMul with a bias (graph::fuse_matmul_bias); off: the two nodes as in the file.
  bool fuse_matmul_bias = true;
  // The input's height and width, for a model whose file leaves them symbolic; 0: from the file.
  std::int64_t height = 0, width = 0;
  // The largest activation (elements at batch 1) a model may ask for; a file asking for more is
  // refused before anything is allocated (a crafted Pad or Reshape is a memory bomb otherwise).
  std::int64_t max_elements = std::int64_t{1} << 30;
};

// The ONNX file as a GraphDef (graph/graph_def.hpp).
graph::GraphDef read_graph(const std::string& path, const LoadOptions& options = {});

// The ONNX op types gradattr runs (docs/models.md lists them with their limits).
std::vector<std::string> supported_ops();

template <class T>
graph::GraphModel<T> load(const std::string& path, const LoadOptions& options = {}) {
  return graph::GraphModel<T>(read_graph(path, options));
}

}  // namespace gradattr::onnx
