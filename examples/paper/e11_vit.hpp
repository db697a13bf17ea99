#pragma once
// E11 (docs/report.md): the papers' questions on a Vision Transformer. Two ViTs of one layout
// (tools/train_vit_fashion.py: torchvision's VisionTransformer, 28×28 grey inputs, 7×7 patches
// = 16 patch tokens + the class token, 3 blocks), exported to ONNX and loaded by gradattr's
// importer: one trained on Fashion-MNIST, one with its seeded initial (random) weights, which
// says only what is architectural.
//
//   twin        E1's shifted twin z′ = z + K Σ_d A_{p,d} at a token layer (models::Shifted with
//               a token p), for p = 1 (the top-left patch: the analogue of a CNN's A_{k,0,0},
//               whose Pre Grad-CAM weights must move by K/Z, Z = 16) and p = 0 (the class token),
//               every general method and both attention methods (rollout, attention relevance)
//               × Pre/Post/Log/Centered × K: does attention relevance inherit the Pre
//               vulnerability? (run_e1 over the graph model.)
//   faithful    E5's deletion/insertion AUC per method × explanation score space on the trained
//               ViT, evaluated with Post (y_c): a `gradattr sweep` of the trained ViT's ONNX
//               file, read by e5_from_sweep (e5_faithfulness.hpp); main.cpp does it, not run_e11.
//
// The twins' computation lives in e11_vit.cpp (its own translation unit, compiled in parallel
// with main.cpp and only when the ONNX importer is built); main.cpp writes the tables.
#include <cstdint>
#include <string>
#include <vector>

#include "experiments.hpp"

namespace paper {

struct E11Options {
  std::string trained;        // the trained ViT (.onnx)
  std::string random;         // the same layout, random weights (.onnx); empty: skipped
  std::string layer;          // the CAM and shift layer (a token layer [1, 17, D])
  std::vector<double> ks = {1e-2, 1, 1e2, 1e4};
  std::int64_t steps = 16;
  std::uint64_t seed = 0;
  std::int64_t random_limit = 100;  // images for the random-weights model (its maps say less)
  Log log = no_log;
};

struct E11Result {
  std::vector<E1Row> twin_rows;  // model "vit-trained/patch", "vit-trained/class", "vit-random/patch", ...
  E1Samples twin_samples;        // the trained ViT, patch-token twin: the statistics
  E1Figure figure;               // the trained ViT, patch-token twin, image 0
  std::int64_t n = 0, correct = 0;  // the trained ViT's accuracy on the images
  std::string layer;                // canonical
  std::vector<Method> methods;
};

// Runs E11 on the test images `ts` (the trained ViT on all of them, the random one on the first
// random_limit). ArgumentError from the importer or the layer lookup, naming the file or layer.
E11Result run_e11(const E11Options& options, const TestSet& ts);

// Whether this build has E11 (the ONNX importer); run_e11 throws when it does not.
bool e11_available();

}  // namespace paper
