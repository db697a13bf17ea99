#pragma once
// gradattr classify: the top-k classes of an image (or an NPY input) with their probabilities.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <gradattr/io/npy.hpp>
#include <gradattr/kernels/softmax.hpp>

#include "common.hpp"

namespace gradattr_cli {

struct ClassifyArgs {
  ModelArgs model;
  int top = 5;
  std::string labels, save_logits;
  bool json = false;
};

// One label per line; an empty line is an empty label (the index still counts).
inline std::vector<std::string> read_labels(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw gradattr::IoError(path + ": the labels file is a directory");
  std::ifstream in(path);
  if (!in) throw gradattr::IoError(path + ": cannot open labels file");
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

inline int run_classify(const ClassifyArgs& a) {
  if (a.top < 1) throw UsageError("--top must be at least 1, got " + std::to_string(a.top));
  check_outputs({{"--save-logits", a.save_logits}}, a.json);
  Session s = open_session(a.model);
  std::vector<std::string> labels = a.labels.empty() ? s.lm.model.class_names() : read_labels(a.labels);
  const auto z = s.lm.model.forward(s.input.x);
  for (std::int64_t n = 0; n < z.dim(0); ++n)  // finite inputs can still overflow the network
    for (std::int64_t k = 0; k < z.dim(1); ++k)
      if (!std::isfinite(z(n, k)))
        throw gradattr::Error("image " + std::to_string(n) + ": the model's output is not finite (logit " + std::to_string(k) +
                              " is " + std::to_string(z(n, k)) + "); the input's values overflow the network?");
  if ((!labels.empty() || !a.labels.empty()) && static_cast<std::int64_t>(labels.size()) != z.dim(1))
    throw gradattr::FormatError((a.labels.empty() ? std::string("weights metadata") : "--labels " + a.labels) + ": " +
                     std::to_string(labels.size()) + " labels for a model with " + std::to_string(z.dim(1)) + " classes");
  if (!a.save_logits.empty()) gradattr::io::write_npy(a.save_logits, z);
  gradattr::Tensor<float> p(z.shape());
  gradattr::kernels::softmax(p, z);
  const auto k = std::min<std::int64_t>(a.top, z.dim(1));
  auto images = nlohmann::ordered_json::array();
  for (std::int64_t n = 0; n < z.dim(0); ++n) {
    if (z.dim(0) > 1 && !a.json) say("image %lld\n", static_cast<long long>(n));
    auto top = nlohmann::ordered_json::array();
    std::vector<std::int64_t> idx(static_cast<std::size_t>(z.dim(1)));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](auto i, auto j) { return z(n, i) > z(n, j); });
    for (std::int64_t r = 0; r < k; ++r) {
      const auto c = idx[static_cast<std::size_t>(r)];
      const std::string label = labels.empty() ? "" : labels[static_cast<std::size_t>(c)];
      if (a.json)
        top.push_back({{"rank", r + 1}, {"class", c}, {"probability", json_number(p(n, c))}, {"logit", json_number(z(n, c))},
                       {"label", label}});
      else
        say("%lld\t%lld\t%.6f\t%s\n", static_cast<long long>(r + 1), static_cast<long long>(c), p(n, c), label.c_str());
    }
    images.push_back({{"image", n}, {"top", top}});
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = s.lm.description;
    j["images"] = images;
    print_json(j);
  }
  return 0;
}

}  // namespace gradattr_cli
