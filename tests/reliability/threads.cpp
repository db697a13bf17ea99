// Threads sharing a const model (DESIGN.md: "a const model may be shared by threads; every call
// has its own tape and workspace"), each call itself running OpenMP regions. Small shapes, so that
// the TSan job (scripts/ci-sanitizers.sh tsan, at 2 and 3 OpenMP threads) runs it in seconds;
// in the normal build it checks the results equal the single-threaded ones bit for bit.
#include <bit>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/io/image.hpp"
#include "gradattr/models/vgg.hpp"
#include "support/testing.hpp"

using namespace gradattr;

namespace {

// Same shape and the same bits: a NaN must carry the same payload and a zero the same sign
// (`==` would take -0 for +0 and any NaN for any other).
bool same_bits(const Tensor<float>& a, const Tensor<float>& b) { return testing::bitwise_equal(a, b); }

}  // namespace

TEST_CASE("same_bits tells apart signed zeros and NaN payloads", "[reliability][threads]") {
  const float qnan = std::bit_cast<float>(0x7fc00000u), other_nan = std::bit_cast<float>(0x7fc00001u);
  const Tensor<float> a({3}, {0.f, qnan, 1.f});
  CHECK(same_bits(a, Tensor<float>({3}, {0.f, qnan, 1.f})));
  CHECK_FALSE(same_bits(a, Tensor<float>({3}, {-0.f, qnan, 1.f})));
  CHECK_FALSE(same_bits(a, Tensor<float>({3}, {0.f, other_nan, 1.f})));
  CHECK_FALSE(same_bits(a, Tensor<float>({3}, {0.f, -qnan, 1.f})));
  CHECK_FALSE(same_bits(a, Tensor<float>({1, 3}, {0.f, qnan, 1.f})));
}

TEST_CASE("threads share a const model: forward, Grad-CAM and saliency equal the serial results", "[reliability][threads]") {
  const auto m = models::vgg<float>(11, models::VggOptions{.width_scale = 1.0 / 16, .hidden = {16, 16}, .num_classes = 5, .seed = 7});
  const auto x = testing::random_tensor<float>({2, 3, 32, 32}, 11);
  const GradCam<Post> cam(m, "features.19");
  const Saliency<LogSoftmax> sal(m);
  const auto z0 = m.forward(x);
  const auto c0 = cam(x).raw;
  const auto s0 = sal(x).raw;
  constexpr int kThreads = 3;
  std::vector<Tensor<float>> z(kThreads), c(kThreads), s(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      z[static_cast<std::size_t>(t)] = m.forward(x);
      c[static_cast<std::size_t>(t)] = cam(x).raw;
      s[static_cast<std::size_t>(t)] = sal(x).raw;
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(same_bits(z[static_cast<std::size_t>(t)], z0));
    CHECK(same_bits(c[static_cast<std::size_t>(t)], c0));
    CHECK(same_bits(s[static_cast<std::size_t>(t)], s0));
  }
}

TEST_CASE("threads decode images concurrently (the stb budget is per thread)", "[reliability][threads]") {
  // An 8x8 gradient PNG, encoded once, decoded by several threads at once.
  std::vector<std::uint8_t> px(8 * 8 * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 5);
  const auto png = io::encode_png(px.data(), 8, 8, 3);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) {
        const auto img = io::decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), "threads");
        ok[static_cast<std::size_t>(t)] += img.rgb == px;
      }
    });
  for (auto& th : pool) th.join();
  for (int v : ok) CHECK(v == 20);
}
