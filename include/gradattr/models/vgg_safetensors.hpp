#pragma once
// VGG weights in safetensors files: loading (torchvision or timm names) and saving.
//
// vgg_from_safetensors<T>(path | SafetensorsFile) reads the architecture from the tensors'
// names and shapes, validates every tensor, then builds the model (models/vgg.hpp):
//  - torchvision names: features.N.weight [Co, Ci, 3, 3] / features.N.bias [Co],
//    classifier.M.weight [out, in] / classifier.M.bias [out] for M = 0, 3, 6, ...
//  - timm names (timm.models.vgg): the same features.N.*, then
//      pre_logits.fc1.weight [H1, C, 7, 7] (+ .bias)  a 7x7 convolution on the 7x7 map. On a 7x7
//                                input (what torchvision's avgpool produces) it equals a Linear
//                                on the flattened map with the weight reshaped to [H1, C·49]:
//                                both compute Σ_{c,h,w} W[o,c,h,w]·A[c,h,w], and flatten orders
//                                (c, h, w) as the weight does. Loaded that way, so the model is
//                                torchvision's, and agrees with timm's wherever the last feature
//                                map is 7x7 (224x224 inputs); timm pools differently elsewhere.
//      pre_logits.fc2.weight [H2, H1, 1, 1] (+ .bias)  a 1x1 convolution = Linear [H2, H1]
//      head.fc.weight [K, H2], head.fc.bias [K]
//    A file with any pre_logits.* or head.* tensor is read as timm's.
//  - The cfg: conv positions come from the features indices. torchvision numbers conv, ReLU and
//    pool modules alike, so consecutive convs are 2 indices apart, or 3 with a max-pool between;
//    a final max-pool follows the last conv (as in every VGG cfg). Widths, input channels,
//    hidden widths and the class count come from the shapes.
//  - Every tensor is checked: a missing one, one no VGG has (including batch-norm variants'),
//    or a shape that does not chain (e.g. a conv whose input channels are not the previous
//    conv's outputs) throws FormatError naming the file, the tensor and, for a shape, both the
//    shape found and the shape expected. F16/BF16/F64 are converted by the io reader.
//  - Class names: the metadata key "classes" (kClassNamesKey), either a JSON array of strings
//    ("[\"cat\", \"dog\"]", what save_vgg_safetensors writes) or one name per line (a trailing
//    newline allowed). Their count must equal the number of classes (else FormatError).
//
// save_vgg_safetensors(path, model, metadata) writes torchvision names in state_dict order,
// float as F32 and double as F64, with metadata {"format": "pt", "classes": <JSON array, when
// the model has class names>} plus the caller's entries (which win). It round-trips through
// vgg_from_safetensors and loads in PyTorch with safetensors.torch.load_file.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/io/safetensors.hpp"
#include "gradattr/models/vgg.hpp"

namespace gradattr::models {

inline constexpr const char* kClassNamesKey = "classes";

// The class names of a metadata value (JSON array of strings, or one per line).
inline std::vector<std::string> parse_class_names(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
      throw FormatError(std::string("class names: not a valid JSON array: ") + e.what());
    }
    if (!j.is_array()) throw FormatError("class names: not a JSON array");
    std::vector<std::string> names;
    for (const auto& v : j) {
      if (!v.is_string()) throw FormatError("class names: element " + std::to_string(names.size()) + " is not a string");
      names.push_back(v.get<std::string>());
    }
    return names;
  }
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
    pos = end + 1;
  }
  return names;
}

inline std::string format_class_names(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }

namespace detail {

// "features.12.weight" -> {12, "weight"} for prefix "features."
inline std::optional<std::pair<std::int64_t, std::string>> parse_indexed(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::size_t i = prefix.size(), j = i;
  while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i || j - i > 9 || j >= name.size() || name[j] != '.' || (name[i] == '0' && j - i > 1)) return std::nullopt;
  const std::string field = name.substr(j + 1);
  if (field != "weight" && field != "bias") return std::nullopt;
  return std::make_pair(std::stoll(name.substr(i, j - i)), field);
}

struct VggFileLayout {
  VggConfig config;
  bool timm = false;
  // torchvision parameter name -> (file tensor name, shape to view it as)
  std::map<std::string, std::pair<std::string, Shape>> source;
};

inline void source_name(VggFileLayout& L, const std::string& param, const std::string& file_name, const Shape& shape) {
  L.source[param] = {file_name, shape};
}

inline VggFileLayout read_vgg_layout(const io::SafetensorsFile& f) {
  const std::string file = "vgg_from_safetensors " + f.path.string() + ": ";
  auto fail = [&](const std::string& msg) -> FormatError { return FormatError(file + msg); };
  auto shape_error = [&](const std::string& name, const Shape& expected) -> FormatError {
    return fail("tensor '" + name + "' has shape " + f.shape(name).str() + ", expected " + expected.str());
  };
  auto require = [&](const std::string& name, const std::string& why) {
    if (!f.contains(name)) throw fail("missing tensor '" + name + "' (" + why + ")");
  };

  VggFileLayout L;
  for (const auto& n : f.names)
    if (n.rfind("pre_logits.", 0) == 0 || n.rfind("head.", 0) == 0) L.timm = true;

  std::set<std::int64_t> convs, linears;
  for (const auto& n : f.names) {
    if (auto p = parse_indexed(n, "features.")) {
      convs.insert(p->first);
      continue;
    }
    if (!L.timm)
      if (auto p = parse_indexed(n, "classifier.")) {
        linears.insert(p->first);
        continue;
      }
    if (L.timm && (n == "pre_logits.fc1.weight" || n == "pre_logits.fc1.bias" || n == "pre_logits.fc2.weight" ||
                   n == "pre_logits.fc2.bias" || n == "head.fc.weight" || n == "head.fc.bias"))
      continue;
    throw fail("unexpected tensor '" + n + "' " + f.shape(n).str() + ": not part of a " +
               (L.timm ? "timm" : "torchvision") + " VGG (batch-norm variants are not supported)");
  }
  if (convs.empty()) throw fail("missing tensor 'features.0.weight' (no convolution found)");
  if (*convs.begin() != 0) throw fail("missing tensor 'features.0.weight' (the first convolution)");

  // Convolutions and the pools between them, from the index gaps.
  auto& c = L.config;
  c.features.clear();
  std::int64_t prev_ch = -1, prev_idx = -1;
  for (std::int64_t idx : convs) {
    if (prev_idx >= 0) {
      const std::int64_t gap = idx - prev_idx;
      if (gap == 3)
        c.features.push_back(kVggPool);
      else if (gap != 2)
        throw fail("no VGG layout has convolutions at features." + std::to_string(prev_idx) + " and features." +
                   std::to_string(idx) + " (" + std::to_string(gap) +
                   " indices apart; expected 2, or 3 across a max-pool): a missing or extra tensor?");
    }
    const std::string w = "features." + std::to_string(idx) + ".weight", b = "features." + std::to_string(idx) + ".bias";
    require(w, "convolution weight");
    require(b, "convolution bias");
    const Shape ws = f.shape(w);
    if (ws.rank() != 4 || ws[0] < 1 || ws[1] < 1)
      throw shape_error(w, Shape{ws.rank() > 0 ? ws[0] : 1, prev_ch < 0 ? 3 : prev_ch, 3, 3});
    if (prev_ch < 0) c.in_channels = ws[1];
    const Shape want{ws[0], prev_ch < 0 ? ws[1] : prev_ch, 3, 3};
    if (ws != want) throw shape_error(w, want);
    if (f.shape(b) != Shape{ws[0]}) throw shape_error(b, Shape{ws[0]});
    c.features.push_back(ws[0]);
    source_name(L, w, w, want);
    source_name(L, b, b, Shape{ws[0]});
    prev_ch = ws[0];
    prev_idx = idx;
  }
  c.features.push_back(kVggPool);  // every VGG ends its features with a max-pool

  // The head.
  c.hidden.clear();
  if (!L.timm) {
    if (linears.empty()) throw fail("missing tensor 'classifier.0.weight' (no classifier found)");
    std::int64_t expect_idx = 0, in = -1;
    for (std::int64_t idx : linears) {
      if (idx % 3 != 0)
        throw fail("unexpected tensor 'classifier." + std::to_string(idx) + "." +
                   (f.contains("classifier." + std::to_string(idx) + ".weight") ? "weight" : "bias") +
                   "' (torchvision's Linear layers are at classifier.0, .3, .6, ...)");
      if (idx != expect_idx)
        throw fail("missing tensor 'classifier." + std::to_string(expect_idx) + ".weight' (found classifier." +
                   std::to_string(idx) + "; Linear layers are at classifier.0, .3, .6, ...)");
      const std::string w = "classifier." + std::to_string(idx) + ".weight",
                        b = "classifier." + std::to_string(idx) + ".bias";
      require(w, "linear weight");
      require(b, "linear bias");
      const Shape ws = f.shape(w);
      if (ws.rank() != 2 || ws[0] < 1) throw shape_error(w, Shape{ws.rank() > 0 ? ws[0] : 1, in < 0 ? prev_ch * 49 : in});
      if (in < 0) {
        // torchvision's avgpool is 7x7; a first Linear of C·s² inputs means an s x s avgpool.
        const std::int64_t area = ws[1] / prev_ch;
        const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(area))));
        if (ws[1] % prev_ch != 0 || side * side != area || side < 1) throw shape_error(w, Shape{ws[0], prev_ch * 49});
        c.pool_size = side;
        in = ws[1];
      }
      if (ws != Shape{ws[0], in}) throw shape_error(w, Shape{ws[0], in});
      if (f.shape(b) != Shape{ws[0]}) throw shape_error(b, Shape{ws[0]});
      source_name(L, w, w, ws);
      source_name(L, b, b, Shape{ws[0]});
      c.hidden.push_back(ws[0]);
      in = ws[0];
      expect_idx += 3;
    }
    c.num_classes = c.hidden.back();
    c.hidden.pop_back();
  } else {
    for (const char* n : {"pre_logits.fc1.weight", "pre_logits.fc1.bias", "pre_logits.fc2.weight",
                          "pre_logits.fc2.bias", "head.fc.weight", "head.fc.bias"})
      require(n, "timm VGG head");
    const Shape s1 = f.shape("pre_logits.fc1.weight");
    if (s1.rank() != 4 || s1[0] < 1 || s1[2] < 1 || s1[2] != s1[3] || s1[1] != prev_ch)
      throw shape_error("pre_logits.fc1.weight", Shape{s1.rank() > 0 ? s1[0] : 4096, prev_ch, 7, 7});
    c.pool_size = s1[2];
    const std::int64_t h1 = s1[0];
    if (f.shape("pre_logits.fc1.bias") != Shape{h1}) throw shape_error("pre_logits.fc1.bias", Shape{h1});
    const Shape s2 = f.shape("pre_logits.fc2.weight");
    if (s2.rank() != 4 || s2[0] < 1 || s2 != Shape{s2[0], h1, 1, 1})
      throw shape_error("pre_logits.fc2.weight", Shape{s2.rank() > 0 ? s2[0] : 4096, h1, 1, 1});
    const std::int64_t h2 = s2[0];
    if (f.shape("pre_logits.fc2.bias") != Shape{h2}) throw shape_error("pre_logits.fc2.bias", Shape{h2});
    const Shape s3 = f.shape("head.fc.weight");
    if (s3.rank() != 2 || s3[0] < 1 || s3 != Shape{s3[0], h2})
      throw shape_error("head.fc.weight", Shape{s3.rank() > 0 ? s3[0] : 1000, h2});
    if (f.shape("head.fc.bias") != Shape{s3[0]}) throw shape_error("head.fc.bias", Shape{s3[0]});
    c.hidden = {h1, h2};
    c.num_classes = s3[0];
    source_name(L, "classifier.0.weight", "pre_logits.fc1.weight", Shape{h1, prev_ch * c.pool_size * c.pool_size});
    source_name(L, "classifier.0.bias", "pre_logits.fc1.bias", Shape{h1});
    source_name(L, "classifier.3.weight", "pre_logits.fc2.weight", Shape{h2, h1});
    source_name(L, "classifier.3.bias", "pre_logits.fc2.bias", Shape{h2});
    source_name(L, "classifier.6.weight", "head.fc.weight", s3);
    source_name(L, "classifier.6.bias", "head.fc.bias", Shape{s3[0]});
  }
  return L;
}

}  // namespace detail

template <class T = float>
Vgg<T> vgg_from_safetensors(const io::SafetensorsFile& f) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "VGG models are float or double");
  const detail::VggFileLayout L = detail::read_vgg_layout(f);
  Vgg<T> model(L.config, [&](const std::string& name, const Shape& shape) {
    auto it = L.source.find(name);
    if (it == L.source.end())  // a layout bug, not a file problem
      throw FormatError("vgg_from_safetensors " + f.path.string() + ": no tensor for parameter '" + name + "'");
    Tensor<T> t;
    if constexpr (std::is_same_v<T, float>)
      t = f.tensor(it->second.first);
    else
      t = f.tensor_f64(it->second.first);
    return t.reshape(shape);
  });
  if (auto it = f.metadata.find(kClassNamesKey); it != f.metadata.end()) {
    std::vector<std::string> names;
    try {
      names = parse_class_names(it->second);
    } catch (const FormatError& e) {
      throw FormatError("vgg_from_safetensors " + f.path.string() + ": metadata '" + kClassNamesKey + "': " + e.what());
    }
    if (static_cast<std::int64_t>(names.size()) != L.config.num_classes)
      throw FormatError("vgg_from_safetensors " + f.path.string() + ": metadata '" + kClassNamesKey + "' has " +
                        std::to_string(names.size()) + " names for " + std::to_string(L.config.num_classes) +
                        " classes");
    model.set_class_names(std::move(names));
  }
  return model;
}

template <class T = float>
Vgg<T> vgg_from_safetensors(const std::filesystem::path& path) {
  return vgg_from_safetensors<T>(io::read_safetensors(path));
}

template <class T>
void save_vgg_safetensors(const std::filesystem::path& path, const Vgg<T>& model,
                          const std::map<std::string, std::string>& metadata = {}) {
  std::vector<io::NamedTensor> tensors;
  for (const auto& p : model.parameters()) tensors.push_back({p.name, p.tensor});
  std::map<std::string, std::string> meta{{"format", "pt"}};
  if (!model.class_names().empty()) meta[kClassNamesKey] = format_class_names(model.class_names());
  for (const auto& [k, v] : metadata) meta[k] = v;
  io::write_safetensors(path, tensors, meta);
}

}  // namespace gradattr::models
