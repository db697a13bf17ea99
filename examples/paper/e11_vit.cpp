// E11: the shifted twin and the faithfulness comparison on a ViT (e11_vit.hpp). Its own translation
// unit: every method × score space instantiated on the graph model and its twin compiles here, in
// parallel with main.cpp.
#include "e11_vit.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/core/error.hpp>

#ifdef GRADATTR_PAPER_ONNX
#include <gradattr/onnx/load.hpp>
#endif

namespace paper {

bool e11_available() {
#ifdef GRADATTR_PAPER_ONNX
  return true;
#else
  return false;
#endif
}

E11Result run_e11(const E11Options& o, const TestSet& ts) {
#ifndef GRADATTR_PAPER_ONNX
  (void)o;
  (void)ts;
  throw gradattr::ArgumentError("e11: paper_experiments was built without the ONNX importer (configure with -DGRADATTR_WITH_ONNX=ON)");
#else
  E11Result r;
  const auto trained = gradattr::onnx::load<float>(o.trained);
  if (trained.attention_layers().empty())
    throw gradattr::ArgumentError("e11: " + o.trained + " has no attention layers (a ViT is expected)");
  r.layer = trained.resolve_layer(o.layer);
  for (const Method m : gradattr::kAllMethods) r.methods.push_back(m);  // the general ones, then the attention ones

  // The trained ViT's accuracy on these images (what its maps explain).
  for (std::int64_t n = 0; n < ts.size(); ++n) {
    const Tensor<float> z = trained.forward(ts.image(n));
    r.correct += gradattr::Target{}.resolve(z, "e11")[0] == ts.labels[static_cast<std::size_t>(n)];
  }
  r.n = ts.size();

  E1Options e1;
  e1.methods = r.methods;
  e1.ks = o.ks;
  e1.steps = o.steps;
  e1.seed = o.seed;
  e1.layer = r.layer;
  e1.figure_k = 100;
  auto twin = [&](const gradattr::graph::GraphModel<float>& model, const std::string& name, const Tensor<float>& x,
                  std::int64_t token, E1Figure* fig, E1Samples* smp) {
    E1Options t = e1;
    t.shift_token = token;
    t.log = [&](const std::string& s) { o.log("e11 " + name + ": " + s); };
    const auto rows = run_e1(model, name, x, t, fig, smp);
    r.twin_rows.insert(r.twin_rows.end(), rows.begin(), rows.end());
  };
  twin(trained, "vit-trained/patch", ts.x, 1, &r.figure, &r.twin_samples);
  twin(trained, "vit-trained/class", ts.x, 0, nullptr, nullptr);
  if (!o.random.empty()) {
    const auto random = gradattr::onnx::load<float>(o.random);
    const std::int64_t nr = std::min<std::int64_t>(o.random_limit, ts.size());
    const Tensor<float> xr = ts.x.slice_batch(0, nr).clone();
    twin(random, "vit-random/patch", xr, 1, nullptr, nullptr);
    twin(random, "vit-random/class", xr, 0, nullptr, nullptr);
  }
  return r;
#endif
}

}  // namespace paper
