#pragma once
// The model interface under the names attribution code uses (gradattr::models): the concept,
// the cut and the "input" pseudo-layer are defined with the layers, in nn/classifier.hpp, so that
// nn::Sequential can satisfy it without including anything above nn/.
#include "gradattr/nn/classifier.hpp"

namespace gradattr::models {

using nn::Classifier;
using nn::Cut;
using nn::input_cut;
using nn::kInputLayer;

}  // namespace gradattr::models
