#pragma once
// Eigen, configured for gradattr: the one place that includes <Eigen/Core>.
//
// EIGEN_DONT_PARALLELIZE: gradattr's kernels decide which loops get a team of threads
// (core/parallel.hpp) and call Eigen's GEMM serially inside their own tiles. Without it, a GEMM
// called from a loop that stayed on one thread (a small layer) sees a team of one and opens its
// own team of OMP_NUM_THREADS: on the 28x28 Fashion model that cost 15% of a sweep's throughput
// at 2 threads (docs/benchmarks.md, "Small models: when a loop goes parallel"). It takes effect
// only if this header is the first to include Eigen in a translation unit (CMake consumers get
// it on the command line too: the gradattr target defines it).
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>
