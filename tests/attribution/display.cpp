// The displayed map: ReLU, half-pixel bilinear upsampling, min–max with ε = 1e-7.
#include "gradattr/attribution/display.hpp"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr;

TEST_CASE("display_map, hand-computed", "[attribution]") {
  // Same size: ReLU([[-1, 2], [0, 4]]) = [[0, 2], [0, 4]], then / (4 + 1e-7).
  const Tensor<double> raw({1, 2, 2}, {-1, 2, 0, 4});
  const double r = 4 + 1e-7;
  REQUIRE_CLOSE(display_map(raw, 2, 2), Tensor<double>({1, 2, 2}, {0, 2 / r, 0, 4 / r}), 1e-16, 1e-15);
  // 1×2 -> 1×4 with half-pixel centres: [0, 4] -> [0, 1, 3, 4] -> / (4 + 1e-7).
  const Tensor<double> row({1, 2}, {0, 4});
  REQUIRE_CLOSE(display_map(row, 1, 4), Tensor<double>({1, 4}, {0, 1 / r, 3 / r, 4 / r}), 1e-16, 1e-15);
}

TEST_CASE("display_map: all-zero and all-negative maps give zero, without 0/0", "[attribution]") {
  const Tensor<float> zero({2, 3, 3}), neg({1, 3, 3}, -2.f), cst({1, 1, 1}, 5.f);
  for (const auto& m : {display_map(zero, 7, 7), display_map(neg, 7, 7), display_map(cst, 4, 4)})
    for (auto v : m) REQUIRE(v == 0.0f);
  // Each image of a batch is normalised on its own.
  Tensor<float> two({2, 1, 2}, {0, 1, 0, 100});
  const auto d = display_map(two, 1, 2);
  REQUIRE(d[1] == Approx(1.0f).margin(1e-6));
  REQUIRE(d[3] == Approx(1.0f).margin(1e-6));
}

TEST_CASE("display_map rejects NaN and infinity, and bad shapes", "[attribution]") {
  Tensor<float> m({2, 2, 2}, 1.f);
  m[5] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(display_map(m, 4, 4), ArgumentError);
  REQUIRE_THROWS_WITH(display_map(m, 4, 4), Catch::Contains("image 1"));
  m[5] = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_AS(display_map(m, 4, 4), ArgumentError);
  REQUIRE_THROWS_AS(display_map(Tensor<float>({1, 1, 2, 2}), 4, 4), ShapeError);
  REQUIRE_THROWS_AS(display_map(Tensor<float>({2, 2}), 0, 4), ArgumentError);
}

namespace {
// Reads a little-endian float64 C-order NPY file (enough for the reference fixtures).
Tensor<double> read_npy_f64(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  char magic[8];
  f.read(magic, 8);
  REQUIRE(std::string(magic + 1, 5) == "NUMPY");
  std::uint32_t header_len = 0;
  if (magic[6] == 1) {
    std::uint16_t h;
    f.read(reinterpret_cast<char*>(&h), 2);
    header_len = h;
  } else {
    f.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, ' ');
  f.read(header.data(), header_len);
  REQUIRE(header.find("'<f8'") != std::string::npos);
  REQUIRE(header.find("'fortran_order': False") != std::string::npos);
  const auto open = header.find('(', header.find("shape")), close = header.find(')', open);
  Shape shape;
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(' ') != std::string::npos) shape.push(std::stoll(d));
  auto t = Tensor<double>::uninitialized(shape);
  f.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.numel() * 8));
  REQUIRE(f.good());
  return t;
}
}  // namespace

TEST_CASE("display_map reproduces the PyTorch reference (gradcam_display_post)", "[attribution]") {
  const auto raw = read_npy_f64(gradattr::testing::data_file("attribution/gradcam_post.npy"));              // [2, 4, 4]
  const auto expected = read_npy_f64(gradattr::testing::data_file("attribution/gradcam_display_post.npy"));  // [2, 64, 64]
  REQUIRE(raw.shape() == Shape{2, 4, 4});
  REQUIRE_CLOSE(display_map(raw, 64, 64), expected, 1e-12, 0);
  REQUIRE_CLOSE(display_map(raw.cast<float>(), 64, 64), expected.cast<float>(), 1e-6, 0);
}
