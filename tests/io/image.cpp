#include "gradattr/io/image.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>

#include "io/io_testing.hpp"

using namespace gradattr;
using gradattr::testing::TempDir;
using gradattr::testing::write_bytes;

namespace {

io::Image gradient(int w, int h) {
  io::Image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(x, y, 0) = static_cast<std::uint8_t>(x * 255 / std::max(1, w - 1));
      img.at(x, y, 1) = static_cast<std::uint8_t>(y * 255 / std::max(1, h - 1));
      img.at(x, y, 2) = static_cast<std::uint8_t>((x + y) % 256);
    }
  return img;
}

std::string jpeg_bytes(const io::Image& img, int quality = 95) {
  std::string out;
  auto sink = [](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(n)); };
  REQUIRE(io::detail::stbw::stbi_write_jpg_to_func(sink, &out, img.width, img.height, 3, img.rgb.data(), quality));
  return out;
}

std::string decode_error(const std::string& bytes, const io::ImageLimits& limits = {}) {
  try {
    (void)io::decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "probe.img", limits);
    return "no exception";
  } catch (const FormatError& e) {
    const std::string m = e.what();
    CHECK(m.find("probe.img") != std::string::npos);
    return m;
  }
}

}  // namespace

TEST_CASE("image: PNG round trip of RGB, grey, grey+alpha and RGBA", "[io][image]") {
  TempDir dir;
  const auto img = gradient(37, 21);
  io::write_png(dir / "rgb.png", img);
  CHECK(dir.entries() == 1);
  const auto back = io::read_image(dir / "rgb.png");
  CHECK(back.width == 37);
  CHECK(back.height == 21);
  CHECK(back.rgb == img.rgb);  // no flip, exact
  CHECK(back.at(36, 0, 0) == 255);
  CHECK(back.at(0, 20, 1) == 255);

  std::vector<std::uint8_t> ga = {10, 200, 20, 0, 30, 255, 40, 7};  // 2x2 grey+alpha
  io::write_png(dir / "ga.png", ga.data(), 2, 2, 2);
  const auto g = io::read_image(dir / "ga.png");
  CHECK(g.rgb == std::vector<std::uint8_t>{10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40});
  std::vector<std::uint8_t> grey = {0, 128, 255};
  io::write_png(dir / "g.png", grey.data(), 3, 1, 1);
  CHECK(io::read_image(dir / "g.png").rgb == std::vector<std::uint8_t>{0, 0, 0, 128, 128, 128, 255, 255, 255});
  std::vector<std::uint8_t> rgba = {1, 2, 3, 0, 4, 5, 6, 255};
  io::write_png(dir / "a.png", rgba.data(), 2, 1, 4);
  CHECK(io::read_image(dir / "a.png").rgb == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});  // alpha dropped

  CHECK_THROWS_AS(io::write_png(dir / "x.png", grey.data(), 0, 1, 1), ArgumentError);
  CHECK_THROWS_AS(io::write_png(dir / "nodir" / "x.png", img), IoError);
  io::Image bad{4, 4, {}};
  CHECK_THROWS_AS(io::write_png(dir / "x.png", bad), ArgumentError);
}

TEST_CASE("image: JPEG decodes close to the encoded pixels", "[io][image]") {
  const auto img = gradient(64, 48);
  const std::string jpg = jpeg_bytes(img);
  const auto back = io::decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size(), "mem.jpg");
  REQUIRE(back.width == 64);
  REQUIRE(back.height == 48);
  double err = 0;
  for (std::size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(int(back.rgb[i]) - int(img.rgb[i]));
  CHECK(err / static_cast<double>(img.rgb.size()) < 6.0);  // quality 95, 4:2:0-free gradient
  // Top-left is dark red-free, bottom-right bright: the orientation survived.
  CHECK(back.at(0, 0, 0) < 30);
  CHECK(back.at(63, 0, 0) > 220);
}

TEST_CASE("image: limits are checked before decoding", "[io][image]") {
  TempDir dir;
  const auto img = gradient(40, 30);
  io::write_png(dir / "p.png", img);
  io::ImageLimits side;
  side.max_side = 39;
  CHECK_THROWS_WITH(io::read_image(dir / "p.png", side), Catch::Contains("40x30") && Catch::Contains("over the limit"));
  io::ImageLimits pixels;
  pixels.max_pixels = 1199;
  CHECK_THROWS_AS(io::read_image(dir / "p.png", pixels), FormatError);
  io::ImageLimits bytes;
  bytes.max_file_bytes = 10;
  CHECK_THROWS_WITH(io::read_image(dir / "p.png", bytes), Catch::Contains("over the limit"));
  // A budget too small for the pixels: stb's allocation fails and the message says so.
  io::ImageLimits budget;
  budget.budget_bytes_per_pixel = 0;
  const auto big = gradient(3000, 3000);
  io::write_png(dir / "big.png", big);
  io::ImageLimits tiny = budget;
  // 2 x file + 16 MB of budget is not enough for 27 MB of output.
  CHECK_THROWS_WITH(io::read_image(dir / "big.png", tiny), Catch::Contains("outofmem"));
  CHECK(io::read_image(dir / "big.png").width == 3000);
  CHECK(io::detail::stb_budget.limit == 0);  // the scope was closed after the failure
  CHECK(io::detail::stb_budget.used == 0);
}

TEST_CASE("image: malformed input is FormatError with a reason", "[io][image]") {
  TempDir dir;
  CHECK_THROWS_AS(io::read_image(dir / "missing.png"), IoError);
  CHECK_THROWS_AS(io::read_image(dir.path()), IoError);
  CHECK_THAT(decode_error(""), Catch::Contains("empty"));
  CHECK_THAT(decode_error("hello, world"), Catch::Contains("not a PNG or JPEG"));
  CHECK_THAT(decode_error("GIF89a\x01\x00\x01\x00"), Catch::Contains("GIF"));
  CHECK_THAT(decode_error("BM\x3a\x00\x00\x00"), Catch::Contains("BMP"));

  const auto img = gradient(32, 32);
  const std::string png = io::encode_png(img.rgb.data(), 32, 32, 3);
  CHECK_THAT(decode_error(png.substr(0, png.size() / 2)), Catch::Contains("cannot decode"));
  CHECK_THAT(decode_error(png.substr(0, 20)), Catch::Contains("cannot read the image header"));

  const std::string jpg = jpeg_bytes(img);
  CHECK_THAT(decode_error(jpg.substr(0, jpg.size() - 40)), Catch::Contains("truncated JPEG"));
  // Over-subscribe the first DHT table: give code length 1 three codes.
  const auto dht = jpg.find("\xff\xc4");
  REQUIRE(dht != std::string::npos);
  std::string bad = jpg;
  bad[dht + 5] = 3;  // counts start after marker(2) + length(2) + class/id(1)
  CHECK_THAT(decode_error(bad), Catch::Contains("inconsistent JPEG DHT"));
  // More than 256 codes in one table.
  bad = jpg;
  for (int L = 0; L < 16; ++L) bad[dht + 5 + static_cast<std::size_t>(L)] = static_cast<char>(L < 15 ? 0 : 255);
  bad[dht + 5 + 14] = 10;
  CHECK_THAT(decode_error(bad), Catch::Contains("inconsistent JPEG DHT"));
}
