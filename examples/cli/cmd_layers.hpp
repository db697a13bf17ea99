#pragma once
// gradattr layers: the cut points of a model (what --layer accepts), with their activation
// shapes at batch 1, and, for an ONNX model, the node and op producing each, its value name and
// every PyTorch module path naming it (docs/models.md, "Layer names").
#include <cstdio>
#include <string>
#include <vector>

#include <gradattr/graph/graph_model.hpp>

#include "common.hpp"

namespace gradattr_cli {

struct LayersArgs {
  std::string weights;
  bool json = false;
};

inline std::vector<std::int64_t> dims_of(const gradattr::Shape& s) {
  std::vector<std::int64_t> d;
  for (int i = 0; i < s.rank(); ++i) d.push_back(s[i]);
  return d;
}

inline int run_layers(const LayersArgs& a) {
  const LoadedModel lm = a.weights.empty() ? default_model() : load_model_file(a.weights);
  const Model& m = lm.model;
  const std::string cam = m.default_cam_layer();
  const std::string description = a.weights.empty() ? lm.description : a.weights;
  struct Row {
    std::string name;
    gradattr::Shape shape;
    std::string op, value;
    std::vector<std::string> paths;
  };
  std::vector<Row> rows;
  std::vector<std::string> notes;
  if (const auto* g = m.get<gradattr::graph::GraphModel<float>>()) {
    for (const auto& l : g->layers()) rows.push_back({l.name, l.shape, l.op, l.value, l.module_paths});
    notes = g->notes();
  } else {
    // One pass from cut to cut on a zero image gives every shape.
    gradattr::ad::Tape<float> tape;
    auto cut = gradattr::models::input_cut(gradattr::ad::Var<float>(gradattr::Tensor<float>(m.input_shape())));
    for (const auto& name : m.layer_names()) {
      cut = m.forward_between(cut, name, tape);
      rows.push_back({name, cut.activation.shape(), {}, {}, {}});
    }
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = description;
    j["input"] = dims_of(m.input_shape());
    j["classes"] = m.num_classes();
    j["default_cam_layer"] = cam;
    j["notes"] = notes;
    auto& layers = j["layers"] = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
      nlohmann::ordered_json l;
      l["name"] = r.name;
      l["shape"] = dims_of(r.shape);
      if (!r.op.empty()) {
        l["op"] = r.op;
        l["value"] = r.value;
        l["module_paths"] = r.paths;
      }
      layers.push_back(l);
    }
    print_json(j);
    return 0;
  }
  say("model: %s\ninput: %s, %lld classes\n", description.c_str(), m.input_shape().str().c_str(),
      static_cast<long long>(m.num_classes()));
  for (const auto& n : notes) say("note: %s\n", n.c_str());
  say("default CAM layer (no --layer): %s\n\n", cam.c_str());
  for (const auto& r : rows) {
    say("%-40s %-18s", r.name.c_str(), r.shape.str().c_str());
    if (!r.op.empty()) {
      say(" %-18s %s", r.op.c_str(), r.value.c_str());
      for (std::size_t i = 1; i < r.paths.size(); ++i) say("%s%s", i == 1 ? "  also: " : ", ", r.paths[i].c_str());
    }
    say("\n");
  }
  return 0;
}

}  // namespace gradattr_cli
