#pragma once
// Row-wise softmax / log-softmax kernels as the library calls them.
#include "gradattr/kernels/reference/softmax.hpp"

namespace gradattr::kernels {
using reference::log_softmax;
using reference::log_softmax_backward;
using reference::softmax;
using reference::softmax_backward;
}  // namespace gradattr::kernels
