// libFuzzer harness: ONNX bytes -> onnx::load<float> (protobuf parse, structural checks,
// initializers, onnx::checker, shape inference, translation, the graph model's dry run), then one
// forward of a zero image. Any gradattr::Error is a clean rejection; anything else (another
// exception, a crash, a sanitizer report, a hang, memory beyond the limit) is a bug. Activations
// are capped at 2^22 elements (LoadOptions::max_elements) so a crafted Pad or Reshape cannot ask
// for more memory than the fuzzer allows.
#include <cstddef>
#include <cstdint>

#include <gradattr/onnx/load.hpp>

#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gradattr_fuzz::InputFile file(".onnx");
  const auto& path = file.write(data, size);
  try {
    gradattr::onnx::LoadOptions o;
    o.max_elements = std::int64_t{1} << 22;
    const auto model = gradattr::onnx::load<float>(path, o);
    (void)model.forward(gradattr::Tensor<float>(model.input_shape()));
  } catch (const gradattr::Error&) {
  }
  return 0;
}
