// libFuzzer harness: safetensors bytes -> io::read_safetensors, every tensor converted, then the
// VGG reader on top (names, shapes, layout). Any gradattr::Error is a clean rejection; anything
// else (another exception, a crash, a sanitizer report, a hang) is a bug.
#include <cstddef>
#include <cstdint>

#include <gradattr/io/safetensors.hpp>
#include <gradattr/models/vgg_safetensors.hpp>

#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gradattr_fuzz::InputFile file(".safetensors");
  const auto& path = file.write(data, size);
  try {
    const auto f = gradattr::io::read_safetensors(path);
    for (const auto& name : f.names) {
      try {
        (void)f.tensor(name);
        (void)f.tensor_f64(name);
      } catch (const gradattr::FormatError&) {  // a known dtype gradattr does not convert
      }
    }
    (void)gradattr::models::vgg_from_safetensors<float>(f);
  } catch (const gradattr::Error&) {
  }
  return 0;
}
