#pragma once
// gradattr's private copies of stb_image (PNG + JPEG decoding, hardened configuration) and
// stb_image_write (PNG encoding), compiled with STB_IMAGE_STATIC / STB_IMAGE_WRITE_STATIC
// inside namespaces gradattr::io::detail::stb / stbw.
//
// Coexistence with a program's own stb: every macro stb reads or defines is saved before the
// inclusion, cleared, and restored afterwards (#pragma push_macro/pop_macro, supported by GCC,
// Clang and MSVC), include guards included. So a user's stb_image.h — included before or after
// this header, in this or another translation unit, implemented or not, with any options — sees
// exactly the macros it would have seen without gradattr, and gradattr's copy ignores the
// user's options. Every function is static: nothing is exported, no symbol can clash; the
// extern "C" API of stb_image is renamed gradattr_stbi_* (see below).
// (The macro lists follow Debian 12's stb, stb_image 2.27 / stb_image_write 1.16.)
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

// The C headers stb includes, first, so that nothing of theirs lands inside the namespaces
// below (their include guards turn stb's own #includes into no-ops).
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <emmintrin.h>
#endif

namespace gradattr::io::detail {

// The decoding budget: bytes stb may hold at once on this thread (limit 0: no decoding in
// progress, no limit). A 16-byte header in front of each block records its size.
struct StbBudget {
  std::size_t limit = 0;
  std::size_t used = 0;
  bool refused = false;  // an allocation was refused (stb does not always report it itself)
};
inline thread_local StbBudget stb_budget;

inline void* stb_budget_malloc(std::size_t n) noexcept {
  auto& b = stb_budget;
  if (b.limit && (n > b.limit || b.used > b.limit - n)) {
    b.refused = true;
    return nullptr;
  }
  auto* p = static_cast<unsigned char*>(std::malloc(n + 16));
  if (!p) return nullptr;
  std::memcpy(p, &n, sizeof n);
  b.used += n;
  return p + 16;
}
inline void stb_budget_free(void* q) noexcept {
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - 16;
  std::size_t n;
  std::memcpy(&n, p, sizeof n);
  stb_budget.used -= std::min(n, stb_budget.used);
  std::free(p);
}
inline void* stb_budget_realloc(void* q, std::size_t n) noexcept {
  if (!q) return stb_budget_malloc(n);
  auto& b = stb_budget;
  auto* p = static_cast<unsigned char*>(q) - 16;
  std::size_t old;
  std::memcpy(&old, p, sizeof old);
  if (n > old && b.limit && (n - old > b.limit || b.used > b.limit - (n - old))) {
    b.refused = true;
    return nullptr;
  }
  auto* r = static_cast<unsigned char*>(std::realloc(p, n + 16));
  if (!r) return nullptr;
  std::memcpy(r, &n, sizeof n);
  b.used = b.used - std::min(old, b.used) + n;
  return r + 16;
}

}  // namespace gradattr::io::detail

// ---- stb_image ----
#pragma push_macro("FAST_BITS")
#pragma push_macro("STBIDEF")
#pragma push_macro("STBI_ASSERT")
#pragma push_macro("STBI_EXTERN")
#pragma push_macro("STBI_FAILURE_USERMSG")
#pragma push_macro("STBI_FREE")
#pragma push_macro("STBI_HAS_LROTL")
#pragma push_macro("STBI_INCLUDE_STB_IMAGE_H")
#pragma push_macro("STBI_MALLOC")
#pragma push_macro("STBI_MAX_DIMENSIONS")
#pragma push_macro("STBI_MINGW_ENABLE_SSE2")
#pragma push_macro("STBI_NEON")
#pragma push_macro("STBI_NOTUSED")
#pragma push_macro("STBI_NO_BMP")
#pragma push_macro("STBI_NO_FAILURE_STRINGS")
#pragma push_macro("STBI_NO_GIF")
#pragma push_macro("STBI_NO_HDR")
#pragma push_macro("STBI_NO_JPEG")
#pragma push_macro("STBI_NO_LINEAR")
#pragma push_macro("STBI_NO_PIC")
#pragma push_macro("STBI_NO_PNG")
#pragma push_macro("STBI_NO_PNM")
#pragma push_macro("STBI_NO_PSD")
#pragma push_macro("STBI_NO_SIMD")
#pragma push_macro("STBI_NO_STDIO")
#pragma push_macro("STBI_NO_TGA")
#pragma push_macro("STBI_NO_THREAD_LOCALS")
#pragma push_macro("STBI_NO_ZLIB")
#pragma push_macro("STBI_ONLY_BMP")
#pragma push_macro("STBI_ONLY_GIF")
#pragma push_macro("STBI_ONLY_HDR")
#pragma push_macro("STBI_ONLY_JPEG")
#pragma push_macro("STBI_ONLY_PIC")
#pragma push_macro("STBI_ONLY_PNG")
#pragma push_macro("STBI_ONLY_PNM")
#pragma push_macro("STBI_ONLY_PSD")
#pragma push_macro("STBI_ONLY_TGA")
#pragma push_macro("STBI_ONLY_ZLIB")
#pragma push_macro("STBI_REALLOC")
#pragma push_macro("STBI_REALLOC_SIZED")
#pragma push_macro("STBI_SIMD_ALIGN")
#pragma push_macro("STBI_SSE2")
#pragma push_macro("STBI_SUPPORT_ZLIB")
#pragma push_macro("STBI_THREAD_LOCAL")
#pragma push_macro("STBI_VERSION")
#pragma push_macro("STBI_WINDOWS_UTF8")
#pragma push_macro("STBI__BYTECAST")
#pragma push_macro("STBI__CASE")
#pragma push_macro("STBI__COMBO")
#pragma push_macro("STBI__HDR_BUFLEN")
#pragma push_macro("STBI__IDCT_1D")
#pragma push_macro("STBI__MARKER_none")
#pragma push_macro("STBI__PNG_TYPE")
#pragma push_macro("STBI__RESTART")
#pragma push_macro("STBI__X64_TARGET")
#pragma push_macro("STBI__X86_TARGET")
#pragma push_macro("STBI__ZFAST_BITS")
#pragma push_macro("STBI__ZFAST_MASK")
#pragma push_macro("STBI__ZNSYMS")
#pragma push_macro("STB_IMAGE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_STATIC")
#pragma push_macro("dct_bfly32o")
#pragma push_macro("dct_const")
#pragma push_macro("dct_interleave16")
#pragma push_macro("dct_interleave8")
#pragma push_macro("dct_long_mac")
#pragma push_macro("dct_long_mul")
#pragma push_macro("dct_pass")
#pragma push_macro("dct_rot")
#pragma push_macro("dct_trn16")
#pragma push_macro("dct_trn32")
#pragma push_macro("dct_trn64")
#pragma push_macro("dct_trn8_16")
#pragma push_macro("dct_trn8_32")
#pragma push_macro("dct_trn8_8")
#pragma push_macro("dct_wadd")
#pragma push_macro("dct_widen")
#pragma push_macro("dct_wsub")
#pragma push_macro("stbi__DNL")
#pragma push_macro("stbi__EOI")
#pragma push_macro("stbi__SOF")
#pragma push_macro("stbi__SOF_progressive")
#pragma push_macro("stbi__SOI")
#pragma push_macro("stbi__SOS")
#pragma push_macro("stbi__de_iphone_flag")
#pragma push_macro("stbi__div16")
#pragma push_macro("stbi__div4")
#pragma push_macro("stbi__err")
#pragma push_macro("stbi__errpf")
#pragma push_macro("stbi__errpuc")
#pragma push_macro("stbi__f2f")
#pragma push_macro("stbi__float2fixed")
#pragma push_macro("stbi__float2int")
#pragma push_macro("stbi__fsh")
#pragma push_macro("stbi__unpremultiply_on_load")
#pragma push_macro("stbi__vertically_flip_on_load")
#pragma push_macro("stbi_inline")
#pragma push_macro("stbi_lrot")
#undef FAST_BITS
#undef STBIDEF
#undef STBI_ASSERT
#undef STBI_EXTERN
#undef STBI_FAILURE_USERMSG
#undef STBI_FREE
#undef STBI_HAS_LROTL
#undef STBI_INCLUDE_STB_IMAGE_H
#undef STBI_MALLOC
#undef STBI_MAX_DIMENSIONS
#undef STBI_MINGW_ENABLE_SSE2
#undef STBI_NEON
#undef STBI_NOTUSED
#undef STBI_NO_BMP
#undef STBI_NO_FAILURE_STRINGS
#undef STBI_NO_GIF
#undef STBI_NO_HDR
#undef STBI_NO_JPEG
#undef STBI_NO_LINEAR
#undef STBI_NO_PIC
#undef STBI_NO_PNG
#undef STBI_NO_PNM
#undef STBI_NO_PSD
#undef STBI_NO_SIMD
#undef STBI_NO_STDIO
#undef STBI_NO_TGA
#undef STBI_NO_THREAD_LOCALS
#undef STBI_NO_ZLIB
#undef STBI_ONLY_BMP
#undef STBI_ONLY_GIF
#undef STBI_ONLY_HDR
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_PIC
#undef STBI_ONLY_PNG
#undef STBI_ONLY_PNM
#undef STBI_ONLY_PSD
#undef STBI_ONLY_TGA
#undef STBI_ONLY_ZLIB
#undef STBI_REALLOC
#undef STBI_REALLOC_SIZED
#undef STBI_SIMD_ALIGN
#undef STBI_SSE2
#undef STBI_SUPPORT_ZLIB
#undef STBI_THREAD_LOCAL
#undef STBI_VERSION
#undef STBI_WINDOWS_UTF8
#undef STBI__BYTECAST
#undef STBI__CASE
#undef STBI__COMBO
#undef STBI__HDR_BUFLEN
#undef STBI__IDCT_1D
#undef STBI__MARKER_none
#undef STBI__PNG_TYPE
#undef STBI__RESTART
#undef STBI__X64_TARGET
#undef STBI__X86_TARGET
#undef STBI__ZFAST_BITS
#undef STBI__ZFAST_MASK
#undef STBI__ZNSYMS
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC
#undef dct_bfly32o
#undef dct_const
#undef dct_interleave16
#undef dct_interleave8
#undef dct_long_mac
#undef dct_long_mul
#undef dct_pass
#undef dct_rot
#undef dct_trn16
#undef dct_trn32
#undef dct_trn64
#undef dct_trn8_16
#undef dct_trn8_32
#undef dct_trn8_8
#undef dct_wadd
#undef dct_widen
#undef dct_wsub
#undef stbi__DNL
#undef stbi__EOI
#undef stbi__SOF
#undef stbi__SOF_progressive
#undef stbi__SOI
#undef stbi__SOS
#undef stbi__de_iphone_flag
#undef stbi__div16
#undef stbi__div4
#undef stbi__err
#undef stbi__errpf
#undef stbi__errpuc
#undef stbi__f2f
#undef stbi__float2fixed
#undef stbi__float2int
#undef stbi__fsh
#undef stbi__unpremultiply_on_load
#undef stbi__vertically_flip_on_load
#undef stbi_inline
#undef stbi_lrot
// stb_image declares its API extern "C": C-linkage functions of the same name are the same
// function whatever the namespace, so a user's global stbi_load and a static one here would
// collide in one translation unit. The API is therefore renamed gradattr_stbi_* in this copy.
#pragma push_macro("stbi__unpremultiply_on_load_thread")
#pragma push_macro("stbi_convert_iphone_png_to_rgb")
#pragma push_macro("stbi_convert_iphone_png_to_rgb_thread")
#pragma push_macro("stbi_convert_wchar_to_utf8")
#pragma push_macro("stbi_failure_reason")
#pragma push_macro("stbi_hdr_to_ldr_gamma")
#pragma push_macro("stbi_hdr_to_ldr_scale")
#pragma push_macro("stbi_image_free")
#pragma push_macro("stbi_info")
#pragma push_macro("stbi_info_from_callbacks")
#pragma push_macro("stbi_info_from_file")
#pragma push_macro("stbi_info_from_memory")
#pragma push_macro("stbi_is_16_bit")
#pragma push_macro("stbi_is_16_bit_from_callbacks")
#pragma push_macro("stbi_is_16_bit_from_file")
#pragma push_macro("stbi_is_16_bit_from_memory")
#pragma push_macro("stbi_is_hdr")
#pragma push_macro("stbi_is_hdr_from_callbacks")
#pragma push_macro("stbi_is_hdr_from_file")
#pragma push_macro("stbi_is_hdr_from_memory")
#pragma push_macro("stbi_ldr_to_hdr_gamma")
#pragma push_macro("stbi_ldr_to_hdr_scale")
#pragma push_macro("stbi_load")
#pragma push_macro("stbi_load_16")
#pragma push_macro("stbi_load_16_from_callbacks")
#pragma push_macro("stbi_load_16_from_memory")
#pragma push_macro("stbi_load_from_callbacks")
#pragma push_macro("stbi_load_from_file")
#pragma push_macro("stbi_load_from_file_16")
#pragma push_macro("stbi_load_from_memory")
#pragma push_macro("stbi_load_gif_from_memory")
#pragma push_macro("stbi_loadf")
#pragma push_macro("stbi_loadf_from_callbacks")
#pragma push_macro("stbi_loadf_from_file")
#pragma push_macro("stbi_loadf_from_memory")
#pragma push_macro("stbi_set_flip_vertically_on_load")
#pragma push_macro("stbi_set_flip_vertically_on_load_thread")
#pragma push_macro("stbi_set_unpremultiply_on_load")
#pragma push_macro("stbi_set_unpremultiply_on_load_thread")
#pragma push_macro("stbi_zlib_decode_buffer")
#pragma push_macro("stbi_zlib_decode_malloc")
#pragma push_macro("stbi_zlib_decode_malloc_guesssize")
#pragma push_macro("stbi_zlib_decode_malloc_guesssize_headerflag")
#pragma push_macro("stbi_zlib_decode_noheader_buffer")
#pragma push_macro("stbi_zlib_decode_noheader_malloc")
#undef stbi__unpremultiply_on_load_thread
#define stbi__unpremultiply_on_load_thread gradattr_stbi__unpremultiply_on_load_thread
#undef stbi_convert_iphone_png_to_rgb
#define stbi_convert_iphone_png_to_rgb gradattr_stbi_convert_iphone_png_to_rgb
#undef stbi_convert_iphone_png_to_rgb_thread
#define stbi_convert_iphone_png_to_rgb_thread gradattr_stbi_convert_iphone_png_to_rgb_thread
#undef stbi_convert_wchar_to_utf8
#define stbi_convert_wchar_to_utf8 gradattr_stbi_convert_wchar_to_utf8
#undef stbi_failure_reason
#define stbi_failure_reason gradattr_stbi_failure_reason
#undef stbi_hdr_to_ldr_gamma
#define stbi_hdr_to_ldr_gamma gradattr_stbi_hdr_to_ldr_gamma
#undef stbi_hdr_to_ldr_scale
#define stbi_hdr_to_ldr_scale gradattr_stbi_hdr_to_ldr_scale
#undef stbi_image_free
#define stbi_image_free gradattr_stbi_image_free
#undef stbi_info
#define stbi_info gradattr_stbi_info
#undef stbi_info_from_callbacks
#define stbi_info_from_callbacks gradattr_stbi_info_from_callbacks
#undef stbi_info_from_file
#define stbi_info_from_file gradattr_stbi_info_from_file
#undef stbi_info_from_memory
#define stbi_info_from_memory gradattr_stbi_info_from_memory
#undef stbi_is_16_bit
#define stbi_is_16_bit gradattr_stbi_is_16_bit
#undef stbi_is_16_bit_from_callbacks
#define stbi_is_16_bit_from_callbacks gradattr_stbi_is_16_bit_from_callbacks
#undef stbi_is_16_bit_from_file
#define stbi_is_16_bit_from_file gradattr_stbi_is_16_bit_from_file
#undef stbi_is_16_bit_from_memory
#define stbi_is_16_bit_from_memory gradattr_stbi_is_16_bit_from_memory
#undef stbi_is_hdr
#define stbi_is_hdr gradattr_stbi_is_hdr
#undef stbi_is_hdr_from_callbacks
#define stbi_is_hdr_from_callbacks gradattr_stbi_is_hdr_from_callbacks
#undef stbi_is_hdr_from_file
#define stbi_is_hdr_from_file gradattr_stbi_is_hdr_from_file
#undef stbi_is_hdr_from_memory
#define stbi_is_hdr_from_memory gradattr_stbi_is_hdr_from_memory
#undef stbi_ldr_to_hdr_gamma
#define stbi_ldr_to_hdr_gamma gradattr_stbi_ldr_to_hdr_gamma
#undef stbi_ldr_to_hdr_scale
#define stbi_ldr_to_hdr_scale gradattr_stbi_ldr_to_hdr_scale
#undef stbi_load
#define stbi_load gradattr_stbi_load
#undef stbi_load_16
#define stbi_load_16 gradattr_stbi_load_16
#undef stbi_load_16_from_callbacks
#define stbi_load_16_from_callbacks gradattr_stbi_load_16_from_callbacks
#undef stbi_load_16_from_memory
#define stbi_load_16_from_memory gradattr_stbi_load_16_from_memory
#undef stbi_load_from_callbacks
#define stbi_load_from_callbacks gradattr_stbi_load_from_callbacks
#undef stbi_load_from_file
#define stbi_load_from_file gradattr_stbi_load_from_file
#undef stbi_load_from_file_16
#define stbi_load_from_file_16 gradattr_stbi_load_from_file_16
#undef stbi_load_from_memory
#define stbi_load_from_memory gradattr_stbi_load_from_memory
#undef stbi_load_gif_from_memory
#define stbi_load_gif_from_memory gradattr_stbi_load_gif_from_memory
#undef stbi_loadf
#define stbi_loadf gradattr_stbi_loadf
#undef stbi_loadf_from_callbacks
#define stbi_loadf_from_callbacks gradattr_stbi_loadf_from_callbacks
#undef stbi_loadf_from_file
#define stbi_loadf_from_file gradattr_stbi_loadf_from_file
#undef stbi_loadf_from_memory
#define stbi_loadf_from_memory gradattr_stbi_loadf_from_memory
#undef stbi_set_flip_vertically_on_load
#define stbi_set_flip_vertically_on_load gradattr_stbi_set_flip_vertically_on_load
#undef stbi_set_flip_vertically_on_load_thread
#define stbi_set_flip_vertically_on_load_thread gradattr_stbi_set_flip_vertically_on_load_thread
#undef stbi_set_unpremultiply_on_load
#define stbi_set_unpremultiply_on_load gradattr_stbi_set_unpremultiply_on_load
#undef stbi_set_unpremultiply_on_load_thread
#define stbi_set_unpremultiply_on_load_thread gradattr_stbi_set_unpremultiply_on_load_thread
#undef stbi_zlib_decode_buffer
#define stbi_zlib_decode_buffer gradattr_stbi_zlib_decode_buffer
#undef stbi_zlib_decode_malloc
#define stbi_zlib_decode_malloc gradattr_stbi_zlib_decode_malloc
#undef stbi_zlib_decode_malloc_guesssize
#define stbi_zlib_decode_malloc_guesssize gradattr_stbi_zlib_decode_malloc_guesssize
#undef stbi_zlib_decode_malloc_guesssize_headerflag
#define stbi_zlib_decode_malloc_guesssize_headerflag gradattr_stbi_zlib_decode_malloc_guesssize_headerflag
#undef stbi_zlib_decode_noheader_buffer
#define stbi_zlib_decode_noheader_buffer gradattr_stbi_zlib_decode_noheader_buffer
#undef stbi_zlib_decode_noheader_malloc
#define stbi_zlib_decode_noheader_malloc gradattr_stbi_zlib_decode_noheader_malloc
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS (1 << 16)
#define STBI_MALLOC(sz) ::gradattr::io::detail::stb_budget_malloc(sz)
#define STBI_REALLOC(p, sz) ::gradattr::io::detail::stb_budget_realloc(p, sz)
#define STBI_FREE(p) ::gradattr::io::detail::stb_budget_free(p)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
namespace gradattr::io::detail::stb {
#include <stb_image.h>
}  // namespace gradattr::io::detail::stb
#pragma GCC diagnostic pop
#pragma pop_macro("stbi_zlib_decode_noheader_malloc")
#pragma pop_macro("stbi_zlib_decode_noheader_buffer")
#pragma pop_macro("stbi_zlib_decode_malloc_guesssize_headerflag")
#pragma pop_macro("stbi_zlib_decode_malloc_guesssize")
#pragma pop_macro("stbi_zlib_decode_malloc")
#pragma pop_macro("stbi_zlib_decode_buffer")
#pragma pop_macro("stbi_set_unpremultiply_on_load_thread")
#pragma pop_macro("stbi_set_unpremultiply_on_load")
#pragma pop_macro("stbi_set_flip_vertically_on_load_thread")
#pragma pop_macro("stbi_set_flip_vertically_on_load")
#pragma pop_macro("stbi_loadf_from_memory")
#pragma pop_macro("stbi_loadf_from_file")
#pragma pop_macro("stbi_loadf_from_callbacks")
#pragma pop_macro("stbi_loadf")
#pragma pop_macro("stbi_load_gif_from_memory")
#pragma pop_macro("stbi_load_from_memory")
#pragma pop_macro("stbi_load_from_file_16")
#pragma pop_macro("stbi_load_from_file")
#pragma pop_macro("stbi_load_from_callbacks")
#pragma pop_macro("stbi_load_16_from_memory")
#pragma pop_macro("stbi_load_16_from_callbacks")
#pragma pop_macro("stbi_load_16")
#pragma pop_macro("stbi_load")
#pragma pop_macro("stbi_ldr_to_hdr_scale")
#pragma pop_macro("stbi_ldr_to_hdr_gamma")
#pragma pop_macro("stbi_is_hdr_from_memory")
#pragma pop_macro("stbi_is_hdr_from_file")
#pragma pop_macro("stbi_is_hdr_from_callbacks")
#pragma pop_macro("stbi_is_hdr")
#pragma pop_macro("stbi_is_16_bit_from_memory")
#pragma pop_macro("stbi_is_16_bit_from_file")
#pragma pop_macro("stbi_is_16_bit_from_callbacks")
#pragma pop_macro("stbi_is_16_bit")
#pragma pop_macro("stbi_info_from_memory")
#pragma pop_macro("stbi_info_from_file")
#pragma pop_macro("stbi_info_from_callbacks")
#pragma pop_macro("stbi_info")
#pragma pop_macro("stbi_image_free")
#pragma pop_macro("stbi_hdr_to_ldr_scale")
#pragma pop_macro("stbi_hdr_to_ldr_gamma")
#pragma pop_macro("stbi_failure_reason")
#pragma pop_macro("stbi_convert_wchar_to_utf8")
#pragma pop_macro("stbi_convert_iphone_png_to_rgb_thread")
#pragma pop_macro("stbi_convert_iphone_png_to_rgb")
#pragma pop_macro("stbi__unpremultiply_on_load_thread")
#pragma pop_macro("stbi_lrot")
#pragma pop_macro("stbi_inline")
#pragma pop_macro("stbi__vertically_flip_on_load")
#pragma pop_macro("stbi__unpremultiply_on_load")
#pragma pop_macro("stbi__fsh")
#pragma pop_macro("stbi__float2int")
#pragma pop_macro("stbi__float2fixed")
#pragma pop_macro("stbi__f2f")
#pragma pop_macro("stbi__errpuc")
#pragma pop_macro("stbi__errpf")
#pragma pop_macro("stbi__err")
#pragma pop_macro("stbi__div4")
#pragma pop_macro("stbi__div16")
#pragma pop_macro("stbi__de_iphone_flag")
#pragma pop_macro("stbi__SOS")
#pragma pop_macro("stbi__SOI")
#pragma pop_macro("stbi__SOF_progressive")
#pragma pop_macro("stbi__SOF")
#pragma pop_macro("stbi__EOI")
#pragma pop_macro("stbi__DNL")
#pragma pop_macro("dct_wsub")
#pragma pop_macro("dct_widen")
#pragma pop_macro("dct_wadd")
#pragma pop_macro("dct_trn8_8")
#pragma pop_macro("dct_trn8_32")
#pragma pop_macro("dct_trn8_16")
#pragma pop_macro("dct_trn64")
#pragma pop_macro("dct_trn32")
#pragma pop_macro("dct_trn16")
#pragma pop_macro("dct_rot")
#pragma pop_macro("dct_pass")
#pragma pop_macro("dct_long_mul")
#pragma pop_macro("dct_long_mac")
#pragma pop_macro("dct_interleave8")
#pragma pop_macro("dct_interleave16")
#pragma pop_macro("dct_const")
#pragma pop_macro("dct_bfly32o")
#pragma pop_macro("STB_IMAGE_STATIC")
#pragma pop_macro("STB_IMAGE_IMPLEMENTATION")
#pragma pop_macro("STBI__ZNSYMS")
#pragma pop_macro("STBI__ZFAST_MASK")
#pragma pop_macro("STBI__ZFAST_BITS")
#pragma pop_macro("STBI__X86_TARGET")
#pragma pop_macro("STBI__X64_TARGET")
#pragma pop_macro("STBI__RESTART")
#pragma pop_macro("STBI__PNG_TYPE")
#pragma pop_macro("STBI__MARKER_none")
#pragma pop_macro("STBI__IDCT_1D")
#pragma pop_macro("STBI__HDR_BUFLEN")
#pragma pop_macro("STBI__COMBO")
#pragma pop_macro("STBI__CASE")
#pragma pop_macro("STBI__BYTECAST")
#pragma pop_macro("STBI_WINDOWS_UTF8")
#pragma pop_macro("STBI_VERSION")
#pragma pop_macro("STBI_THREAD_LOCAL")
#pragma pop_macro("STBI_SUPPORT_ZLIB")
#pragma pop_macro("STBI_SSE2")
#pragma pop_macro("STBI_SIMD_ALIGN")
#pragma pop_macro("STBI_REALLOC_SIZED")
#pragma pop_macro("STBI_REALLOC")
#pragma pop_macro("STBI_ONLY_ZLIB")
#pragma pop_macro("STBI_ONLY_TGA")
#pragma pop_macro("STBI_ONLY_PSD")
#pragma pop_macro("STBI_ONLY_PNM")
#pragma pop_macro("STBI_ONLY_PNG")
#pragma pop_macro("STBI_ONLY_PIC")
#pragma pop_macro("STBI_ONLY_JPEG")
#pragma pop_macro("STBI_ONLY_HDR")
#pragma pop_macro("STBI_ONLY_GIF")
#pragma pop_macro("STBI_ONLY_BMP")
#pragma pop_macro("STBI_NO_ZLIB")
#pragma pop_macro("STBI_NO_THREAD_LOCALS")
#pragma pop_macro("STBI_NO_TGA")
#pragma pop_macro("STBI_NO_STDIO")
#pragma pop_macro("STBI_NO_SIMD")
#pragma pop_macro("STBI_NO_PSD")
#pragma pop_macro("STBI_NO_PNM")
#pragma pop_macro("STBI_NO_PNG")
#pragma pop_macro("STBI_NO_PIC")
#pragma pop_macro("STBI_NO_LINEAR")
#pragma pop_macro("STBI_NO_JPEG")
#pragma pop_macro("STBI_NO_HDR")
#pragma pop_macro("STBI_NO_GIF")
#pragma pop_macro("STBI_NO_FAILURE_STRINGS")
#pragma pop_macro("STBI_NO_BMP")
#pragma pop_macro("STBI_NOTUSED")
#pragma pop_macro("STBI_NEON")
#pragma pop_macro("STBI_MINGW_ENABLE_SSE2")
#pragma pop_macro("STBI_MAX_DIMENSIONS")
#pragma pop_macro("STBI_MALLOC")
#pragma pop_macro("STBI_INCLUDE_STB_IMAGE_H")
#pragma pop_macro("STBI_HAS_LROTL")
#pragma pop_macro("STBI_FREE")
#pragma pop_macro("STBI_FAILURE_USERMSG")
#pragma pop_macro("STBI_EXTERN")
#pragma pop_macro("STBI_ASSERT")
#pragma pop_macro("STBIDEF")
#pragma pop_macro("FAST_BITS")

// ---- stb_image_write ----
#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STBIW_ASSERT")
#pragma push_macro("STBIW_CRC32")
#pragma push_macro("STBIW_EXTERN")
#pragma push_macro("STBIW_FREE")
#pragma push_macro("STBIW_MALLOC")
#pragma push_macro("STBIW_MEMMOVE")
#pragma push_macro("STBIW_REALLOC")
#pragma push_macro("STBIW_REALLOC_SIZED")
#pragma push_macro("STBIW_UCHAR")
#pragma push_macro("STBIW_WINDOWS_UTF8")
#pragma push_macro("STBIW_ZLIB_COMPRESS")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("stbiw__ZHASH")
#pragma push_macro("stbiw__max")
#pragma push_macro("stbiw__sbcount")
#pragma push_macro("stbiw__sbfree")
#pragma push_macro("stbiw__sbgrow")
#pragma push_macro("stbiw__sbm")
#pragma push_macro("stbiw__sbmaybegrow")
#pragma push_macro("stbiw__sbn")
#pragma push_macro("stbiw__sbneedgrow")
#pragma push_macro("stbiw__sbpush")
#pragma push_macro("stbiw__sbraw")
#pragma push_macro("stbiw__wp32")
#pragma push_macro("stbiw__wpng4")
#pragma push_macro("stbiw__wptag")
#pragma push_macro("stbiw__zlib_add")
#pragma push_macro("stbiw__zlib_flush")
#pragma push_macro("stbiw__zlib_huff")
#pragma push_macro("stbiw__zlib_huff1")
#pragma push_macro("stbiw__zlib_huff2")
#pragma push_macro("stbiw__zlib_huff3")
#pragma push_macro("stbiw__zlib_huff4")
#pragma push_macro("stbiw__zlib_huffa")
#pragma push_macro("stbiw__zlib_huffb")
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIWDEF
#undef STBIW_ASSERT
#undef STBIW_CRC32
#undef STBIW_EXTERN
#undef STBIW_FREE
#undef STBIW_MALLOC
#undef STBIW_MEMMOVE
#undef STBIW_REALLOC
#undef STBIW_REALLOC_SIZED
#undef STBIW_UCHAR
#undef STBIW_WINDOWS_UTF8
#undef STBIW_ZLIB_COMPRESS
#undef STBI_WRITE_NO_STDIO
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC
#undef stbiw__ZHASH
#undef stbiw__max
#undef stbiw__sbcount
#undef stbiw__sbfree
#undef stbiw__sbgrow
#undef stbiw__sbm
#undef stbiw__sbmaybegrow
#undef stbiw__sbn
#undef stbiw__sbneedgrow
#undef stbiw__sbpush
#undef stbiw__sbraw
#undef stbiw__wp32
#undef stbiw__wpng4
#undef stbiw__wptag
#undef stbiw__zlib_add
#undef stbiw__zlib_flush
#undef stbiw__zlib_huff
#undef stbiw__zlib_huff1
#undef stbiw__zlib_huff2
#undef stbiw__zlib_huff3
#undef stbiw__zlib_huff4
#undef stbiw__zlib_huffa
#undef stbiw__zlib_huffb
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
namespace gradattr::io::detail::stbw {
#include <stb_image_write.h>
}  // namespace gradattr::io::detail::stbw
#pragma GCC diagnostic pop
#pragma pop_macro("stbiw__zlib_huffb")
#pragma pop_macro("stbiw__zlib_huffa")
#pragma pop_macro("stbiw__zlib_huff4")
#pragma pop_macro("stbiw__zlib_huff3")
#pragma pop_macro("stbiw__zlib_huff2")
#pragma pop_macro("stbiw__zlib_huff1")
#pragma pop_macro("stbiw__zlib_huff")
#pragma pop_macro("stbiw__zlib_flush")
#pragma pop_macro("stbiw__zlib_add")
#pragma pop_macro("stbiw__wptag")
#pragma pop_macro("stbiw__wpng4")
#pragma pop_macro("stbiw__wp32")
#pragma pop_macro("stbiw__sbraw")
#pragma pop_macro("stbiw__sbpush")
#pragma pop_macro("stbiw__sbneedgrow")
#pragma pop_macro("stbiw__sbn")
#pragma pop_macro("stbiw__sbmaybegrow")
#pragma pop_macro("stbiw__sbm")
#pragma pop_macro("stbiw__sbgrow")
#pragma pop_macro("stbiw__sbfree")
#pragma pop_macro("stbiw__sbcount")
#pragma pop_macro("stbiw__max")
#pragma pop_macro("stbiw__ZHASH")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STBIW_ZLIB_COMPRESS")
#pragma pop_macro("STBIW_WINDOWS_UTF8")
#pragma pop_macro("STBIW_UCHAR")
#pragma pop_macro("STBIW_REALLOC_SIZED")
#pragma pop_macro("STBIW_REALLOC")
#pragma pop_macro("STBIW_MEMMOVE")
#pragma pop_macro("STBIW_MALLOC")
#pragma pop_macro("STBIW_FREE")
#pragma pop_macro("STBIW_EXTERN")
#pragma pop_macro("STBIW_CRC32")
#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
