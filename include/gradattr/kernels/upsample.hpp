#pragma once
// Bilinear resampling (half-pixel centres) as the library calls it.
#include "gradattr/kernels/reference/upsample.hpp"

namespace gradattr::kernels {
using reference::upsample_bilinear;
}  // namespace gradattr::kernels
