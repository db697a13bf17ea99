#pragma once
// The shipped Fashion-MNIST architecture, in one place for the trainer (which makes it), the
// paper experiments and the tests (which load or rebuild it).
#include <cstdint>

#include <gradattr/models/vgg.hpp>

namespace train_fashion {

// The architecture shipped in examples/data/fashion_vgg.safetensors: three VGG blocks of one
// 3x3 conv + ReLU + 2x2 max-pool (28 -> 14 -> 7 -> 3), widths 16, 32, 64, then a 256-unit head.
// Chosen for throughput: ~1.9 M multiply-adds per image forward, about 1000 training images/s
// on one busy core, so a few epochs of all 60k images fit in minutes. Grad-CAM's layer
// (last_conv = features.7, the third conv's ReLU) is 7x7; the 3x3 avgpool after the last
// max-pool passes its 3x3 map through unchanged.
inline gradattr::models::VggConfig fashion_config() {
  constexpr std::int64_t M = gradattr::models::kVggPool;
  gradattr::models::VggConfig c;
  c.features = {16, M, 32, M, 64, M};
  c.in_channels = 1;
  c.pool_size = 3;
  c.hidden = {256};
  c.num_classes = 10;
  c.validate();
  return c;
}

}  // namespace train_fashion
