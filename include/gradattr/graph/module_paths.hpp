#pragma once
// PyTorch module paths from the node names torch >= 1.13 writes into an ONNX export.
//
// torch.onnx.export names a node "/<scope>/<scope>/.../<Op>", one scope per module call,
// outermost first, e.g. "/layer4/layer4.1/relu_1/Relu". Each scope is the module's qualified
// name cut at its last non-numeric atom (torch.onnx.utils._unqualified_variable_name): a child
// named by an attribute shows as that attribute ("conv1", "denseblock4"), a child of a
// Sequential as "<parent attribute>.<index>" ("layer4.1", "downsample.0"). A second call of the
// same module gets a suffix ("relu_1"). Joining the scopes back gives the qualified path
// ("layer4.1.relu_1"); the module path "layer4" then names the output of the last node inside
// that scope, which is what a forward hook on model.layer4 sees.
#include <string>
#include <string_view>
#include <vector>

namespace gradattr::graph {

// The qualified module path of every scope of `node_name`, outermost first; empty for a name
// without scopes ("Conv_12", "/Flatten").
inline std::vector<std::string> module_paths_of_node(std::string_view node_name) {
  std::vector<std::string> parts;
  if (node_name.empty() || node_name.front() != '/') return {};
  std::size_t pos = 1;
  while (pos <= node_name.size()) {
    std::size_t next = node_name.find('/', pos);
    if (next == std::string_view::npos) next = node_name.size();
    parts.emplace_back(node_name.substr(pos, next - pos));
    pos = next + 1;
  }
  parts.pop_back();  // the op's own name ("Relu", "Add_1")
  std::vector<std::string> paths;
  std::string q;
  for (const std::string& c : parts) {
    if (c.empty()) return {};  // "//": not a torch scope name
    if (q.empty()) {
      q = c;
    } else {
      // "layer4.1" under "layer4": the leading atoms repeat the parent's tail; keep the last.
      const std::size_t dot = c.rfind('.');
      q += "." + (dot == std::string::npos ? c : c.substr(dot + 1));
    }
    paths.push_back(q);
  }
  return paths;
}

}  // namespace gradattr::graph
