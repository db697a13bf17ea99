#pragma once
// The default model and sample image used when no --weights is given: the Fashion-MNIST VGG
// trained by examples/train_fashion and shipped in examples/data/. The CLI finds them in
// $GRADATTR_DATA_DIR if set, else in the directory recorded at build time.
#include <cstdlib>
#include <filesystem>

#ifndef GRADATTR_EXAMPLES_DATA_DIR
#error "GRADATTR_EXAMPLES_DATA_DIR must be defined by the build (examples/cli/CMakeLists.txt)"
#endif

namespace gradattr_cli {

struct LoadedModel;
struct LoadedInput;
struct InputSpec;

inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("GRADATTR_DATA_DIR"); env && *env) return env;
  return GRADATTR_EXAMPLES_DATA_DIR;
}

inline std::filesystem::path default_model_path() { return data_dir() / "fashion_vgg.safetensors"; }
inline std::filesystem::path default_image_path() { return data_dir() / "sample.png"; }

}  // namespace gradattr_cli
