#pragma once
// gradattr: gradient-based attribution for image classifiers, header-only C++20.
// (The one-page tour is written as the layers land.)
#include "gradattr/core/aligned.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/shape.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/pool.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "gradattr/kernels/upsample.hpp"
