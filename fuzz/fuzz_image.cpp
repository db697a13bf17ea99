// libFuzzer harness: image bytes -> io::decode_image (PNG/JPEG sniffing, the JPEG segment
// pre-scan, the size limits, stb under the decoding budget). The limits are lowered so that a
// fuzzer's large-but-legal images stay fast; the checks are the same. Any gradattr::Error is a
// clean rejection; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include <gradattr/io/image.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradattr::io::ImageLimits limits;
  limits.max_side = 2048;
  limits.max_pixels = 1 << 20;
  try {
    const auto img = gradattr::io::decode_image(data, size, "fuzz", limits);
    if (img.rgb.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3) __builtin_trap();
  } catch (const gradattr::Error&) {
  }
  return 0;
}
