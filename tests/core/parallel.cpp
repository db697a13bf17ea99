#include <catch2/catch.hpp>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "gradattr/core/parallel.hpp"

namespace {
// Sets the threshold and the thread count for a scope; restores both.
struct ParallelSetting {
  std::int64_t threshold = gradattr::parallel_threshold();
  int threads = omp_get_max_threads();
  ParallelSetting(std::int64_t t, int n) {
    gradattr::set_parallel_threshold(t);
    omp_set_num_threads(n);
  }
  ~ParallelSetting() {
    gradattr::set_parallel_threshold(threshold);
    omp_set_num_threads(threads);
  }
};
}  // namespace

TEST_CASE("parallel_for visits every index exactly once", "[core]") {
  for (std::int64_t threshold : {std::int64_t{0}, std::int64_t{1} << 40}) {
    const ParallelSetting s(threshold, 2);
    std::vector<int> hits(1000, 0);
    gradattr::parallel_for(0, 1000, 1.0, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)] += 1; });
    for (int h : hits) REQUIRE(h == 1);
    int calls = 0;
    gradattr::parallel_for(5, 5, 1.0, [&](std::int64_t) { ++calls; });
    REQUIRE(calls == 0);
  }
}

TEST_CASE("parallel_for wakes a team only for work at or above the threshold", "[core]") {
  const ParallelSetting s(1000, 2);
  auto regions = [](std::int64_t items, double per_item) {
    std::atomic<int> inside{0};
    gradattr::parallel_for(0, items, per_item, [&](std::int64_t) { inside += omp_in_parallel() ? 1 : 0; });
    return inside.load();
  };
  CHECK(regions(10, 99.0) == 0);   // 990 units: on the calling thread
  CHECK(regions(10, 100.0) == 10);  // 1000 units: in a team
  CHECK(regions(1, 1e9) == 0);     // one item is never split
  CHECK(gradattr::worth_parallel(2, 1000.0));
  CHECK_FALSE(gradattr::worth_parallel(2, 999.0));
  CHECK(gradattr::threads_for(5, 1e6) == 2);
  CHECK(gradattr::threads_for(5, 10.0) == 1);
  {
    const ParallelSetting three(0, 3);
    CHECK(gradattr::threads_for(2, 0.0) == 2);  // never more threads than items
    CHECK(gradattr::threads_for(7, 0.0) == 3);
  }
  {
    const ParallelSetting one(0, 1);
    CHECK_FALSE(gradattr::worth_parallel(100, 1e12));  // one thread: never a team
  }
  // inside a team, no nested team
  int nested = 0;
#pragma omp parallel num_threads(2) reduction(+ : nested)
  nested += gradattr::worth_parallel(100, 1e12) ? 1 : 0;
  CHECK(nested == 0);
}

TEST_CASE("GRADATTR_PARALLEL_WORK sets the threshold; a bad value keeps the default", "[core]") {
  const char* before = std::getenv("GRADATTR_PARALLEL_WORK");
  const std::string saved = before ? before : "";
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const std::string saved_policy = policy ? policy : "";
  using gradattr::parallel_detail::threshold_from_environment;
  ::unsetenv("GRADATTR_PARALLEL_WORK");
  // the default follows how idle threads wait
  for (const char* p : {"passive", "PASSIVE", "Passive"}) {
    ::setenv("OMP_WAIT_POLICY", p, 1);
    CHECK(threshold_from_environment() == gradattr::kPassiveParallelThreshold);
  }
  for (const char* p : {"active", "ACTIVE", "passive2", "pass", ""}) {
    ::setenv("OMP_WAIT_POLICY", p, 1);
    CHECK(threshold_from_environment() == gradattr::kDefaultParallelThreshold);
  }
  ::unsetenv("OMP_WAIT_POLICY");
  CHECK(threshold_from_environment() == gradattr::kDefaultParallelThreshold);
  CHECK(gradattr::kPassiveParallelThreshold > gradattr::kDefaultParallelThreshold);
  ::setenv("GRADATTR_PARALLEL_WORK", "0", 1);
  CHECK(threshold_from_environment() == 0);
  ::setenv("GRADATTR_PARALLEL_WORK", "123456", 1);
  CHECK(threshold_from_environment() == 123456);
  for (const char* bad : {"-5", "12x", "many", ""}) {
    ::setenv("GRADATTR_PARALLEL_WORK", bad, 1);
    CHECK(threshold_from_environment() == gradattr::kDefaultParallelThreshold);
  }
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::setenv("GRADATTR_PARALLEL_WORK", "oops", 1);
  CHECK(threshold_from_environment() == gradattr::kPassiveParallelThreshold);
  if (policy) ::setenv("OMP_WAIT_POLICY", saved_policy.c_str(), 1);
  else ::unsetenv("OMP_WAIT_POLICY");
  if (before) ::setenv("GRADATTR_PARALLEL_WORK", saved.c_str(), 1);
  else ::unsetenv("GRADATTR_PARALLEL_WORK");
  const ParallelSetting s(50, 2);
  gradattr::set_parallel_threshold(-3);
  CHECK(gradattr::parallel_threshold() == 0);
}
