#include "gradattr/io/preprocess.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "gradattr/io/npy.hpp"
#include "gradattr/kernels/reference/upsample.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr;

namespace {

io::Image constant(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  io::Image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
  for (std::size_t i = 0; i < img.rgb.size(); i += 3) img.rgb[i] = r, img.rgb[i + 1] = g, img.rgb[i + 2] = b;
  return img;
}

io::Image noise(int w, int h, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  io::Image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
  for (auto& v : img.rgb) v = static_cast<std::uint8_t>(rng() % 256);
  return img;
}

const io::ResizeArithmetic kModes[] = {io::ResizeArithmetic::pil, io::ResizeArithmetic::float32, io::ResizeArithmetic::float_rounded};

}  // namespace

TEST_CASE("preprocess: torchvision's output size and crop offsets", "[io][preprocess]") {
  CHECK(io::resized_shorter_side(260, 300, 256) == std::pair{256, 295});  // int(256 * 300 / 260) = 295
  CHECK(io::resized_shorter_side(300, 260, 256) == std::pair{295, 256});
  CHECK(io::resized_shorter_side(256, 256, 256) == std::pair{256, 256});
  CHECK(io::resized_shorter_side(375, 500, 256) == std::pair{256, 341});  // 341.33
  CHECK(io::centre_crop_offset(256, 224) == 16);
  CHECK(io::centre_crop_offset(295, 224) == 36);  // round(35.5) = 36 (even)
  CHECK(io::centre_crop_offset(257, 224) == 16);  // round(16.5) = 16 (even)
  CHECK(io::centre_crop_offset(259, 224) == 18);  // round(17.5) = 18
  CHECK(io::centre_crop_offset(224, 224) == 0);
  CHECK_THROWS_AS(io::centre_crop_offset(100, 224), ArgumentError);
}

TEST_CASE("preprocess: antialiased weights by hand", "[io][preprocess]") {
  // 4 -> 2: scale 2, support 2; output 0 centred at 1.0 takes inputs 0..2 with tri weights
  // 0.75, 0.75, 0.25 (-> 3/7, 3/7, 1/7); output 1 takes inputs 1..3 with 1/7, 3/7, 3/7.
  io::Image row{4, 1, {0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210}};
  for (auto mode : kModes) {
    const auto r = io::resize_image(row, 1, 2, mode == io::ResizeArithmetic::float32 ? io::ResizeArithmetic::float_rounded : mode);
    CHECK(r.rgb == std::vector<std::uint8_t>{50, 50, 50, 160, 160, 160});
  }
  Tensor<float> t({1, 1, 1, 4}, {0.f, 70.f, 140.f, 210.f});
  const auto y = io::resize_bilinear_aa(t, 1, 2);
  CHECK(y[0] == Approx(50.0).epsilon(1e-6));
  CHECK(y[1] == Approx(160.0).epsilon(1e-6));
}

TEST_CASE("preprocess: upscaling equals half-pixel bilinear", "[io][preprocess]") {
  auto x = gradattr::testing::random_tensor<float>({2, 3, 5, 7}, 7);
  Tensor<float> ref({2, 3, 9, 13});
  kernels::reference::upsample_bilinear(ref, x);
  REQUIRE_CLOSE(io::resize_bilinear_aa(x, 9, 13), ref, 1e-6, 1e-5);
}

TEST_CASE("preprocess: a constant image stays constant, normalised per channel", "[io][preprocess]") {
  const auto img = constant(300, 260, 200, 100, 7);
  for (auto mode : kModes) {
    io::PreprocessOptions opt;
    opt.arithmetic = mode;
    const auto x = io::preprocess(img, opt);
    REQUIRE(x.shape() == Shape{1, 3, 224, 224});
    const float expect[3] = {(200.f / 255.f - 0.485f) / 0.229f, (100.f / 255.f - 0.456f) / 0.224f, (7.f / 255.f - 0.406f) / 0.225f};
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 224 * 224; i += 97) CHECK(x[c * 224 * 224 + i] == Approx(expect[c]).margin(1e-5));
    const auto r = io::resize_image(img, 256, 295, mode);
    bool same = true;
    for (std::size_t i = 0; i < r.rgb.size(); i += 3) same = same && r.rgb[i] == 200 && r.rgb[i + 1] == 100 && r.rgb[i + 2] == 7;
    CHECK(same);
  }
}

TEST_CASE("preprocess: the crop takes the centre, exact mode resizes without crop", "[io][preprocess]") {
  // No resize: the crop alone must pick pixels (36.., 16..) of a 295x256 image.
  auto img = noise(295, 256, 3);
  io::PreprocessOptions opt;
  opt.resize = 0;
  const auto x = io::preprocess(img, opt);
  const auto back = io::denormalize(x);
  REQUIRE(back.width == 224);
  for (int y = 0; y < 224; y += 17)
    for (int xx = 0; xx < 224; xx += 13)
      for (int c = 0; c < 3; ++c) REQUIRE(back.at(xx, y, c) == img.at(36 + xx, 16 + y, c));
  io::PreprocessOptions exact;
  exact.height = 32;
  exact.width = 48;
  CHECK(io::preprocess(img, exact).shape() == Shape{1, 3, 32, 48});
  io::PreprocessOptions none;
  none.resize = 0;
  none.crop = 0;
  const auto full = io::preprocess(img, none);
  CHECK(full.shape() == Shape{1, 3, 256, 295});
  CHECK(io::denormalize(full).rgb == img.rgb);  // normalise -> denormalise is exact on 8-bit values
  io::PreprocessOptions big;
  big.resize = 100;
  CHECK_THROWS_AS(io::preprocess(img, big), ArgumentError);
  CHECK_THROWS_AS(io::preprocess(io::Image{}, {}), ArgumentError);
  CHECK_THROWS_AS(io::denormalize(Tensor<float>({1, 4, 2, 2})), ShapeError);
}

TEST_CASE("preprocess: the modes agree within one 8-bit step", "[io][preprocess]") {
  const auto img = noise(300, 260, 11);
  io::PreprocessOptions a, b, c;
  b.arithmetic = io::ResizeArithmetic::float32;
  c.arithmetic = io::ResizeArithmetic::float_rounded;
  const auto xa = io::preprocess(img, a), xb = io::preprocess(img, b), xc = io::preprocess(img, c);
  REQUIRE_CLOSE(xa, xb, 2.0 / 255.0 / 0.224, 0.0);
  REQUIRE_CLOSE(xc, xb, 0.51 / 255.0 / 0.224, 0.0);
}

// Fixtures from an independent implementation (tools/make_preprocess_fixture.py: torchvision
// 0.14 and PIL 9.4), committed in tests/data/preprocess: a missing file is a failure.
TEST_CASE("preprocess: matches torchvision's ImageNet transform, tensor and PIL paths", "[io][preprocess][fixture]") {
  const std::filesystem::path dir = std::filesystem::path(GRADATTR_TEST_DATA_DIR) / "preprocess";
  for (const char* f : {"photo.png", "expected_imagenet.npy", "expected_imagenet_pil.npy"}) {
    INFO((dir / f).string() << " is missing (tools/make_preprocess_fixture.py writes it)");
    REQUIRE(std::filesystem::exists(dir / f));
  }
  const auto img = io::read_image(gradattr::testing::data_file("preprocess/photo.png"));
  REQUIRE(img.width == 300);
  REQUIRE(img.height == 260);
  // The default is torchvision's tensor path: float arithmetic, no rounding in between; the
  // fixture was computed in float64, so float32 rounding (~1e-6 after normalisation) remains.
  const auto tensor_path = io::read_npy_f32(gradattr::testing::data_file("preprocess/expected_imagenet.npy"));
  REQUIRE_CLOSE(io::preprocess(img), tensor_path, 1e-5, 0.0);
  // PIL's fixed-point arithmetic, reproduced bit for bit: only float rounding of ToTensor and
  // Normalize may differ.
  io::PreprocessOptions pil;
  pil.arithmetic = io::ResizeArithmetic::pil;
  REQUIRE_CLOSE(io::preprocess(img, pil), io::read_npy_f32(gradattr::testing::data_file("preprocess/expected_imagenet_pil.npy")), 1e-5, 0.0);
}
