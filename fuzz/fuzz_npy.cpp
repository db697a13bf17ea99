// libFuzzer harness: NPY bytes -> io::read_npy_header, read_npy_f32 and read_npy_f64. Any
// gradattr::Error is a clean rejection; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include <gradattr/io/npy.hpp>

#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gradattr_fuzz::InputFile file(".npy");
  const auto& path = file.write(data, size);
  try {
    (void)gradattr::io::read_npy_header(path);
  } catch (const gradattr::Error&) {
  }
  try {
    (void)gradattr::io::read_npy_f32(path);
  } catch (const gradattr::Error&) {
  }
  try {
    (void)gradattr::io::read_npy_f64(path);
  } catch (const gradattr::Error&) {
  }
  return 0;
}
