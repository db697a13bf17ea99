// The one Catch2 main, compiled once and linked into every test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "gradattr/core/parallel.hpp"

namespace {
// Every loop of two or more items goes parallel in the tests (the library's default leaves small
// loops on one thread, core/parallel.hpp): the kernels' tests at 2 and 3 threads use small odd
// shapes, and their parallel paths must still run. tests/core/parallel.cpp tests the threshold.
const bool kEveryLoopParallel = (gradattr::set_parallel_threshold(0), true);
}  // namespace
