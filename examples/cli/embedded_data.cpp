// The default model (examples/data/fashion_vgg.safetensors, 680 KiB) and sample image
// (examples/data/sample.png) compiled into the gradattr binary with the assembler's .incbin:
// the tool runs its default from anywhere once installed. Paths come from CMakeLists.txt.
#include <cstddef>
#include <cstdint>

#include "embedded.hpp"

#if !defined(GRADATTR_EMBEDDED_MODEL) || !defined(GRADATTR_EMBEDDED_SAMPLE)
#error "GRADATTR_EMBEDDED_MODEL and GRADATTR_EMBEDDED_SAMPLE must be defined by the build (examples/cli/CMakeLists.txt)"
#endif

#define GRADATTR_INCBIN(sym, file)                                                       \
  __asm__(".section .rodata\n"                                                         \
          ".balign 64\n"                                                               \
          ".global gradattr_embedded_" #sym "_begin\n"                                 \
          "gradattr_embedded_" #sym "_begin:\n"                                        \
          ".incbin \"" file "\"\n"                                                     \
          ".global gradattr_embedded_" #sym "_end\n"                                   \
          "gradattr_embedded_" #sym "_end:\n"                                          \
          ".byte 0\n"                                                                  \
          ".previous\n")

GRADATTR_INCBIN(model, GRADATTR_EMBEDDED_MODEL);
GRADATTR_INCBIN(sample, GRADATTR_EMBEDDED_SAMPLE);

extern "C" const std::uint8_t gradattr_embedded_model_begin[], gradattr_embedded_model_end[];
extern "C" const std::uint8_t gradattr_embedded_sample_begin[], gradattr_embedded_sample_end[];

namespace gradattr_cli {
EmbeddedFile embedded_model() {
  return {gradattr_embedded_model_begin, static_cast<std::size_t>(gradattr_embedded_model_end - gradattr_embedded_model_begin)};
}
EmbeddedFile embedded_sample() {
  return {gradattr_embedded_sample_begin, static_cast<std::size_t>(gradattr_embedded_sample_end - gradattr_embedded_sample_begin)};
}
}  // namespace gradattr_cli
