// A program with its own stb_image (declared before gradattr's header, implemented after it,
// with other options) in the same translation unit as gradattr's private copy; image.cpp is a
// second translation unit including gradattr's header (the two-TU link test).
#include <stb_image.h>

#include "gradattr/io/image.hpp"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb_image.h>
#pragma GCC diagnostic pop

#include <catch2/catch.hpp>

TEST_CASE("image: a user's own stb_image coexists with gradattr's private copy", "[io][image]") {
  std::vector<std::uint8_t> px = {1, 2, 3, 4, 5, 6};
  const std::string png = gradattr::io::encode_png(px.data(), 2, 1, 3);
  const auto* bytes = reinterpret_cast<const stbi_uc*>(png.data());
  int w = 0, h = 0, c = 0;
  REQUIRE(::stbi_info_from_memory(bytes, static_cast<int>(png.size()), &w, &h, &c));  // the user's, global
  CHECK(w == 2);
  stbi_uc* mine = ::stbi_load_from_memory(bytes, static_cast<int>(png.size()), &w, &h, &c, 4);
  REQUIRE(mine);
  CHECK(mine[4] == 4);
  ::stbi_image_free(mine);
  const auto img = gradattr::io::decode_image(bytes, png.size(), "mem");
  CHECK(img.rgb == px);
#ifdef STBI_ONLY_JPEG
  FAIL("gradattr's STBI_ONLY_JPEG leaked into the user's configuration");
#endif
}
