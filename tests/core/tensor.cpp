#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "gradattr/core/allocator.hpp"
#include "gradattr/core/tensor.hpp"

using gradattr::Shape;
using gradattr::ShapeError;
using gradattr::Tensor;

TEST_CASE("Shape counts elements and rejects bad extents", "[core]") {
  Shape s{2, 3, 4, 5};
  REQUIRE(s.rank() == 4);
  REQUIRE(s.numel() == 120);
  REQUIRE(s.stride(0) == 60);
  REQUIRE(s.dim(-1) == 5);
  REQUIRE(Shape{}.numel() == 1);
  REQUIRE(s.str() == "[2, 3, 4, 5]");
  REQUIRE_THROWS_AS((Shape{1, 2, 3, 4, 5}), ShapeError);
  REQUIRE_THROWS_AS((Shape{2, -1}), ShapeError);
  REQUIRE_THROWS_AS((Shape{1LL << 40, 1LL << 40}), ShapeError);
  REQUIRE_THROWS_AS(s.dim(4), ShapeError);
}

TEST_CASE("Tensor is aligned, zero-filled and shares its buffer on copy", "[core]") {
  Tensor<float> t(Shape{2, 3});
  REQUIRE(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (float v : t) REQUIRE(v == 0.0f);
  Tensor<float> u = t;  // shared
  u[4] = 7;
  REQUIRE(t[4] == 7);
  Tensor<float> c = t.clone();  // independent
  c[4] = 1;
  REQUIRE(t[4] == 7);
  REQUIRE_FALSE(c.shares_buffer_with(t));
}

TEST_CASE("Tensor indexing is row-major NCHW", "[core]") {
  Tensor<double> t(Shape{2, 3, 4, 5});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<double>(i);
  REQUIRE(t(1, 2, 3, 4) == 119);
  REQUIRE(t(1, 0, 2, 1) == 60 + 10 + 1);
  REQUIRE(t.at({0, 1, 0, 0}) == 20);
  REQUIRE_THROWS_AS(t.at({0, 3, 0, 0}), ShapeError);
  REQUIRE_THROWS_AS(t.at({0, 0}), ShapeError);
}

TEST_CASE("Tensor reshape, slice_batch and cast", "[core]") {
  Tensor<float> t(Shape{2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto r = t.reshape(Shape{3, 4});
  REQUIRE(r(2, 1) == 9);
  REQUIRE(r.shares_buffer_with(t));
  REQUIRE_THROWS_AS(t.reshape(Shape{5}), ShapeError);
  auto s = t.slice_batch(1);
  REQUIRE(s.shape() == Shape{1, 6});
  REQUIRE(s[0] == 6);
  REQUIRE_THROWS_AS(t.slice_batch(2), ShapeError);
  auto d = t.cast<double>();
  REQUIRE(d[11] == 11.0);
  REQUIRE(t.matrix().rows() == 2);
  REQUIRE(t.matrix()(1, 2) == 8);
  REQUIRE_THROWS_AS((Tensor<float>(Shape{2}, {1, 2, 3})), ShapeError);
}

TEST_CASE("An empty tensor has no elements", "[core]") {
  Tensor<float> t;
  REQUIRE(t.empty());
  REQUIRE(t.numel() == 0);
  REQUIRE(t.clone().empty());
  Tensor<float> z(Shape{0, 3});
  REQUIRE(z.numel() == 0);
}

// A sanitizer replaces malloc (its mallopt applies nothing and says so by returning 0).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GRADATTR_TEST_MALLOC_REPLACED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GRADATTR_TEST_MALLOC_REPLACED 1
#endif
#endif

TEST_CASE("tune_allocator_for_tensors applies its settings on glibc, and tensors still work", "[core]") {
#if defined(__GLIBC__) && !defined(GRADATTR_TEST_MALLOC_REPLACED)
  CHECK(gradattr::tune_allocator_for_tensors());
#else
  CHECK_FALSE(gradattr::tune_allocator_for_tensors());
#endif
  // Allocations below, at and above the mmap threshold, freed and reused.
  for (int round = 0; round < 2; ++round)
    for (std::int64_t n : {std::int64_t{1000}, std::int64_t{1} << 20, std::int64_t{9} << 20}) {
      gradattr::Tensor<float> t(gradattr::Shape{n}, 1.5f);
      CHECK(t[0] == 1.5f);
      CHECK(t[n - 1] == 1.5f);
    }
}

TEST_CASE("GRADATTR_BUFFER_CACHE_MB sets the buffer cache's budget; a bad value keeps the default", "[core]") {
  const char* before = std::getenv("GRADATTR_BUFFER_CACHE_MB");
  const std::string saved = before ? before : "";
  auto budget_for = [](const char* v) {
    ::setenv("GRADATTR_BUFFER_CACHE_MB", v, 1);
    return gradattr::buffer_cache_budget_from_environment();
  };
  CHECK(budget_for("4096") == std::size_t{4096} << 20);
  CHECK(budget_for("0") == 0);
  CHECK(gradattr::default_buffer_cache_budget() > 0);
  CHECK(gradattr::default_buffer_cache_budget() <= gradattr::kBufferCacheBudget);
  for (const char* bad : {"", "-1", "12x", "lots", "99999999999"}) {
    INFO(bad);
    CHECK(budget_for(bad) == gradattr::default_buffer_cache_budget());
  }
  if (before)
    ::setenv("GRADATTR_BUFFER_CACHE_MB", saved.c_str(), 1);
  else
    ::unsetenv("GRADATTR_BUFFER_CACHE_MB");
}

TEST_CASE("BufferCache: a freed large buffer is reused by the next of its size, within the budget", "[core]") {
  auto& cache = gradattr::detail::BufferCache::instance();
  const std::size_t before_budget = cache.budget();
  cache.set_budget(0);                       // empty (an earlier case may have left blocks)
  cache.set_budget(std::size_t{100} << 20);  // 100 MiB: room for two 40 MiB blocks
  const std::int64_t n = std::int64_t{10} << 20;  // 10 Mi floats = 40 MiB
  const std::size_t hits0 = cache.hits();
  const float* first = nullptr;
  {
    gradattr::Tensor<float> t(gradattr::Shape{n}, 1.0f);
    first = t.data();
  }
  CHECK(cache.cached_bytes() == std::size_t{40} << 20);
  {
    gradattr::Tensor<float> same(gradattr::Shape{n}, 2.0f);  // the same rounded size: the cached block
    CHECK(same.data() == first);
    CHECK(cache.hits() == hits0 + 1);
    CHECK(cache.cached_bytes() == 0);
    CHECK(same[n - 1] == 2.0f);
    gradattr::Tensor<float> other(gradattr::Shape{n + (std::int64_t{1} << 20)});  // 44 MiB: not that block
    CHECK(cache.hits() == hits0 + 1);
  }
  CHECK(cache.cached_bytes() == std::size_t{84} << 20);
  {  // a third block overflows the budget: the oldest cached one is freed
    gradattr::Tensor<float> a(gradattr::Shape{n}), b(gradattr::Shape{n});
  }
  CHECK(cache.cached_bytes() <= std::size_t{100} << 20);
  CHECK(cache.cached_bytes() == std::size_t{80} << 20);
  // Below 32 MiB nothing is cached.
  { gradattr::Tensor<float> small(gradattr::Shape{std::int64_t{1} << 20}); }
  CHECK(cache.cached_bytes() == std::size_t{80} << 20);
  cache.set_budget(0);  // off: frees what it holds
  CHECK(cache.cached_bytes() == 0);
  { gradattr::Tensor<float> t(gradattr::Shape{n}); }
  CHECK(cache.cached_bytes() == 0);
  cache.set_budget(before_budget);
}
