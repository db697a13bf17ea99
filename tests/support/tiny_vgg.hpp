#pragma once
// The PyTorch-made tiny VGG19-layout fixture (tests/data/vgg_tiny, tools/make_model_fixtures.py):
// the model in float or double, its input, and the float64 reference arrays.
#include <string>
#include <type_traits>

#include "gradattr/io/npy.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/data_files.hpp"

namespace gradattr::testing::tiny_vgg {


// Loaded once per process and scalar type.
template <class T>
const models::Vgg<T>& model() {
  static const models::Vgg<T> m =
      models::vgg_from_safetensors<T>(data_file(std::is_same_v<T, double> ? "vgg_tiny/model_f64.safetensors" : "vgg_tiny/model.safetensors"));
  return m;
}

// input.npy [2, 3, 64, 64] (float32) or input_f64.npy.
template <class T>
Tensor<T> input() {
  if constexpr (std::is_same_v<T, double>)
    return io::read_npy_f64(data_file("vgg_tiny/input_f64.npy"));
  else
    return io::read_npy_f32(data_file("vgg_tiny/input.npy"));
}

// tests/data/attribution/<name>.npy as float64.
inline Tensor<double> attribution_fixture(const std::string& name) { return io::read_npy_f64(data_file("attribution/" + name + ".npy")); }

}  // namespace gradattr::testing::tiny_vgg
