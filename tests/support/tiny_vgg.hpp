#pragma once
// The PyTorch-made tiny VGG19-layout fixture (tests/data/vgg_tiny, tools/make_model_fixtures.py):
// the model in float or double, its input, and the float64 reference arrays.
#include <string>
#include <type_traits>

#include "gradattr/io/npy.hpp"
#include "gradattr/models/vgg_safetensors.hpp"

namespace gradattr::testing::tiny_vgg {

inline const std::string kDir = std::string(GRADATTR_TEST_DATA_DIR) + "/vgg_tiny/";
inline const std::string kAttributionDir = std::string(GRADATTR_TEST_DATA_DIR) + "/attribution/";

// Loaded once per process and scalar type.
template <class T>
const models::Vgg<T>& model() {
  static const models::Vgg<T> m =
      models::vgg_from_safetensors<T>(kDir + (std::is_same_v<T, double> ? "model_f64.safetensors" : "model.safetensors"));
  return m;
}

// input.npy [2, 3, 64, 64] (float32) or input_f64.npy.
template <class T>
Tensor<T> input() {
  if constexpr (std::is_same_v<T, double>)
    return io::read_npy_f64(kDir + "input_f64.npy");
  else
    return io::read_npy_f32(kDir + "input.npy");
}

// tests/data/attribution/<name>.npy as float64.
inline Tensor<double> attribution_fixture(const std::string& name) { return io::read_npy_f64(kAttributionDir + name + ".npy"); }

}  // namespace gradattr::testing::tiny_vgg
