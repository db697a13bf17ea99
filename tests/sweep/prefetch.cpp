// gradattr::sweep::Prefetcher (include/gradattr/sweep/prefetch.hpp): order, errors, overlap, shutdown.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gradattr/sweep/prefetch.hpp"

namespace sw = gradattr::sweep;

TEST_CASE("Prefetcher: items come back in request order, each from its own load", "[sweep][prefetch]") {
  std::vector<std::int64_t> loaded;  // written by the loading thread only, read after take()
  sw::Prefetcher<std::string> pf([&](std::int64_t i) {
    loaded.push_back(i);
    return "item " + std::to_string(i);
  });
  const std::vector<std::int64_t> order{7, 3, 3, 0, 12};
  std::size_t next = 0;
  pf.request(order[next++]);
  pf.request(order[next++]);
  std::vector<std::string> got;
  while (pf.outstanding() > 0) {
    got.push_back(pf.take());
    if (next < order.size()) pf.request(order[next++]);
  }
  REQUIRE(got.size() == order.size());
  for (std::size_t k = 0; k < order.size(); ++k) CHECK(got[k] == "item " + std::to_string(order[k]));
  CHECK(loaded == order);
}

TEST_CASE("Prefetcher: a load's exception reaches the take of that item, the others still arrive", "[sweep][prefetch]") {
  sw::Prefetcher<int> pf([](std::int64_t i) -> int {
    if (i == 2) throw std::runtime_error("cannot read image 2");
    return static_cast<int>(10 * i);
  });
  for (std::int64_t i : {1, 2, 3}) pf.request(i);
  CHECK(pf.take() == 10);
  CHECK_THROWS_WITH(pf.take(), "cannot read image 2");
  CHECK(pf.take() == 30);
  CHECK(pf.outstanding() == 0);
  CHECK_THROWS_AS(pf.take(), gradattr::Error);  // nothing requested: an error, not a hang
}

TEST_CASE("Prefetcher: the next item loads while the caller works on the current one", "[sweep][prefetch]") {
  std::atomic<int> started{0};
  sw::Prefetcher<int> pf([&](std::int64_t i) {
    ++started;
    return static_cast<int>(i);
  });
  pf.request(0);
  pf.request(1);
  CHECK(pf.take() == 0);
  // Without waiting on take(), item 1's load starts on the other thread.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(started.load() == 2);
  CHECK(pf.take() == 1);
}

TEST_CASE("Prefetcher: destroyed with requests outstanding, it finishes the load in progress and drops the rest",
          "[sweep][prefetch]") {
  std::atomic<int> loads{0};
  {
    sw::Prefetcher<int> pf([&](std::int64_t i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++loads;
      return static_cast<int>(i);
    });
    for (int i = 0; i < 50; ++i) pf.request(i);
    CHECK(pf.take() == 0);
  }  // must not hang, nor load all 50
  CHECK(loads.load() >= 1);
  CHECK(loads.load() < 50);
}
