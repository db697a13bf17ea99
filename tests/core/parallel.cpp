#include <catch2/catch.hpp>
#include <vector>

#include "gradattr/core/parallel.hpp"

TEST_CASE("parallel_for visits every index exactly once", "[core]") {
  std::vector<int> hits(1000, 0);
  gradattr::parallel_for(0, 1000, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)] += 1; });
  for (int h : hits) REQUIRE(h == 1);
  int calls = 0;
  gradattr::parallel_for(5, 5, [&](std::int64_t) { ++calls; });
  REQUIRE(calls == 0);
}
