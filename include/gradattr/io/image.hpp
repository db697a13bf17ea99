#pragma once
// Images in and out: PNG and JPEG decoding through a hardened private copy of stb_image, PNG
// encoding through stb_image_write.
//
// read_image() / decode_image() promise:
//  - only PNG and JPEG are decoded (GIF, BMP, PSD, TGA, HDR, PIC, PNM are compiled out and
//    rejected by name when recognised);
//  - the file is read into memory first, refusing files above ImageLimits::max_file_bytes;
//  - the dimensions are read with stbi_info and checked against max_side and max_pixels before
//    any pixel is decoded;
//  - every allocation stb makes during decoding draws on a per-thread budget proportional to
//    the announced image size (a zlib bomb or crafted progressive JPEG fails with "outofmem"
//    instead of allocating gigabytes);
//  - JPEG segments are pre-scanned: the file must start with SOI, every segment must fit in the
//    file, an EOI marker must be reached (a truncated JPEG is an error, where stb would pad it
//    with grey), and every DHT table must be consistent (at most 256 codes, lengths that do not
//    over-subscribe the code space, sizes matching the segment length) — stb_image 2.27, the
//    version Debian 12 ships, overflows its Huffman tables on such input;
//  - PNG chunks are walked up to the first image data: an empty IDAT chunk before it is
//    refused (legal but never written by encoders; stb_image 2.27 then copies 0 bytes to a
//    null buffer, undefined behaviour found by fuzzing);
//  - the result is always 8-bit RGB, rows top to bottom (no flip): grey is replicated to RGB,
//    alpha is dropped (not composited), 16-bit PNGs are converted to 8 bits by stb (v >> 8);
//  - errors are FormatError naming the file and carrying stb's failure reason; a missing or
//    unreadable file is IoError.
// Thread safety: decoding keeps no global state (stb's failure reason and the budget are
// thread_local), so different threads may decode concurrently.
//
// How stb is embedded: see detail/stb.hpp. A program may use its own stb_image (another version,
// other options) in the same or another translation unit. Each translation unit holds its own
// static copy of the decoder; the inline functions below call that translation-unit-local copy,
// identical in every translation unit (formally an ODR grey zone, harmless in practice: every
// copy is the same code compiled with the same options).
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/io/detail/file.hpp"

#include "gradattr/io/detail/stb.hpp"

namespace gradattr::io {

// 8-bit RGB pixels, rows top to bottom, interleaved: rgb[(y * width + x) * 3 + c].
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;

  std::uint8_t& at(int x, int y, int c) { return rgb[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
  std::uint8_t at(int x, int y, int c) const { return rgb[(static_cast<std::size_t>(y) * width + x) * 3 + c]; }
};

// Limits applied before and during decoding.
struct ImageLimits {
  std::uint64_t max_file_bytes = 64ull << 20;
  int max_side = 8192;                    // width and height (stb's own hard cap is 65536)
  std::int64_t max_pixels = 40'000'000;   // width x height
  // Decoding budget: bytes_per_pixel x width x height + 2 x file size + 16 MB. 24 covers a
  // 16-bit RGBA PNG (raw rows, the decoded image, the 8-bit and RGB conversions) and a
  // progressive 4-component JPEG (coefficients, component planes, output).
  std::size_t budget_bytes_per_pixel = 24;
};

namespace detail {

// A format name for the messages of a file stb will not decode, or "" for PNG/JPEG.
inline std::string sniff_other_format(const std::uint8_t* p, std::size_t n) {
  auto starts = [&](const char* sig, std::size_t len) { return n >= len && std::memcmp(p, sig, len) == 0; };
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return "GIF";
  if (starts("BM", 2)) return "BMP";
  if (starts("8BPS", 4)) return "PSD";
  if (starts("#?RADIANCE", 10) || starts("#?RGBE", 6)) return "HDR";
  if (starts("RIFF", 4) && n >= 12 && std::memcmp(p + 8, "WEBP", 4) == 0) return "WebP";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "TIFF";
  if (n >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7') return "PNM";
  return "";
}

// Walks the JPEG's segments (see the top of the file); returns the first SOF's {width, height}
// ({0, 0} if none). Throws FormatError(prefix + rule).
inline std::pair<std::int64_t, std::int64_t> prescan_jpeg(const std::uint8_t* p, std::size_t n, const std::string& prefix) {
  std::pair<std::int64_t, std::int64_t> size{0, 0};
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) throw FormatError(prefix + "not a JPEG (no SOI marker)");
  std::size_t i = 2;
  bool in_scan = false;
  while (true) {
    if (in_scan) {  // entropy-coded data: skip to the next marker that is not a stuffed 0 or RSTn
      while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0x00 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7) && p[i + 1] != 0xFF))
        ++i;
      in_scan = false;
    }
    while (i < n && p[i] == 0xFF && i + 1 < n && p[i + 1] == 0xFF) ++i;  // fill bytes
    if (i + 1 >= n) throw FormatError(prefix + "truncated JPEG (no EOI marker)");
    if (p[i] != 0xFF) throw FormatError(prefix + "corrupt JPEG: expected a marker at byte " + std::to_string(i));
    const std::uint8_t m = p[i + 1];
    i += 2;
    if (m == 0xD9) return size;                         // EOI
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // standalone markers
    if (m == 0xD8) throw FormatError(prefix + "corrupt JPEG: a second SOI marker");
    if (i + 2 > n) throw FormatError(prefix + "truncated JPEG segment header");
    const std::size_t len = (static_cast<std::size_t>(p[i]) << 8) | p[i + 1];
    if (len < 2) throw FormatError(prefix + "corrupt JPEG: segment length " + std::to_string(len) + " below 2");
    if (i + len > n) throw FormatError(prefix + "truncated JPEG: a segment runs past the end of the file");
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && size.first == 0 && len >= 7) {
      size.second = (std::int64_t{p[i + 3]} << 8) | p[i + 4];
      size.first = (std::int64_t{p[i + 5]} << 8) | p[i + 6];
    }
    if (m == 0xC4) {  // DHT: one or more tables
      std::size_t k = i + 2;
      const std::size_t end = i + len;
      while (k < end) {
        if (end - k < 17) throw FormatError(prefix + "inconsistent JPEG DHT: segment length does not match its tables");
        const int tc = p[k] >> 4, th = p[k] & 15;
        if (tc > 1 || th > 3) throw FormatError(prefix + "inconsistent JPEG DHT: bad table class/id");
        std::size_t total = 0;
        std::uint64_t kraft = 0;
        for (int L = 1; L <= 16; ++L) {
          const std::size_t c = p[k + static_cast<std::size_t>(L)];
          total += c;
          kraft += static_cast<std::uint64_t>(c) << (16 - L);
        }
        if (total > 256) throw FormatError(prefix + "inconsistent JPEG DHT: " + std::to_string(total) + " codes (at most 256)");
        if (kraft > (1u << 16)) throw FormatError(prefix + "inconsistent JPEG DHT: code lengths over-subscribe the code space");
        k += 17 + total;
        if (k > end) throw FormatError(prefix + "inconsistent JPEG DHT: segment length does not match its tables");
      }
    }
    i += len;
    if (m == 0xDA) in_scan = true;
  }
}

// Walks a PNG's chunks (after the signature) up to the first non-empty IDAT; a zero-length IDAT
// before it is a FormatError (see the top of the file). Truncation is left to stb.
inline void prescan_png(const std::uint8_t* p, std::size_t n, const std::string& prefix) {
  std::size_t i = 8;
  while (i + 8 <= n) {
    const std::uint64_t len = load_u32be(p + i);
    if (std::memcmp(p + i + 4, "IDAT", 4) == 0) {
      if (len == 0) throw FormatError(prefix + "PNG: empty IDAT chunk before the image data (not supported)");
      return;
    }
    if (std::memcmp(p + i + 4, "IEND", 4) == 0 || len > n) return;
    i += 12 + static_cast<std::size_t>(len);
  }
}

struct BudgetScope {
  explicit BudgetScope(std::size_t limit) { stb_budget = {limit, 0, false}; }
  ~BudgetScope() { stb_budget = {}; }
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;
};

}  // namespace detail

// Decodes PNG or JPEG bytes held in memory; `name` is used in messages (a path or "<embedded>").
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageLimits& limits = {}) {
  const std::string prefix = "image '" + name + "': ";
  if (size == 0) throw FormatError(prefix + "empty file");
  if (size > limits.max_file_bytes || size > static_cast<std::size_t>(INT_MAX))
    throw FormatError(prefix + std::to_string(size) + " bytes, over the limit of " + std::to_string(limits.max_file_bytes));
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  const bool png = size >= 8 && std::memcmp(data, png_sig, 8) == 0;
  const bool jpeg = size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
  if (!png && !jpeg) {
    const std::string other = detail::sniff_other_format(data, size);
    if (!other.empty()) throw FormatError(prefix + "unsupported image format " + other + " (gradattr reads PNG and JPEG)");
    throw FormatError(prefix + "not a PNG or JPEG file");
  }
  // The announced size, checked here too so that the limits come first (stb has its own cap).
  auto check_size = [&](std::int64_t w, std::int64_t h) {
    if (w <= 0 || h <= 0) throw FormatError(prefix + "image is " + std::to_string(w) + "x" + std::to_string(h) + " (no pixels)");
    if (w > limits.max_side || h > limits.max_side || w * h > limits.max_pixels)
      throw FormatError(prefix + "image is " + std::to_string(w) + "x" + std::to_string(h) + ", over the limit of " +
                        std::to_string(limits.max_side) + " per side and " + std::to_string(limits.max_pixels) + " pixels");
  };
  if (jpeg) {
    const auto [jw, jh] = detail::prescan_jpeg(data, size, prefix);
    if (jw == 0 && jh == 0) throw FormatError(prefix + "corrupt JPEG: no frame header (SOF)");
    check_size(jw, jh);
  } else {
    if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0)
      check_size(detail::load_u32be(data + 16), detail::load_u32be(data + 20));
    detail::prescan_png(data, size, prefix);
  }
  const int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  if (!detail::stb::gradattr_stbi_info_from_memory(data, len, &w, &h, &comp))
    throw FormatError(prefix + "cannot read the image header: " + detail::stb::gradattr_stbi_failure_reason());
  check_size(w, h);
  const std::size_t budget = limits.budget_bytes_per_pixel * static_cast<std::size_t>(w) * static_cast<std::size_t>(h) +
                             2 * size + (std::size_t{16} << 20);
  Image img;
  {
    detail::BudgetScope scope(budget);
    int w2 = 0, h2 = 0, c2 = 0;
    std::uint8_t* pixels = detail::stb::gradattr_stbi_load_from_memory(data, len, &w2, &h2, &c2, 3);
    if (!pixels && detail::stb_budget.refused)
      throw FormatError(prefix + "cannot decode: outofmem (decoding needs more than the budget of " + std::to_string(budget) +
                        " bytes for a " + std::to_string(w) + "x" + std::to_string(h) + " image; corrupt or crafted?)");
    if (!pixels) throw FormatError(prefix + "cannot decode: " + detail::stb::gradattr_stbi_failure_reason());
    if (w2 != w || h2 != h) {
      detail::stb::gradattr_stbi_image_free(pixels);
      throw FormatError(prefix + "decoded size differs from the header");
    }
    img.width = w;
    img.height = h;
    img.rgb.assign(pixels, pixels + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    detail::stb::gradattr_stbi_image_free(pixels);
  }
  return img;
}

// Reads and decodes a PNG or JPEG file (see the top of the file for every check).
inline Image read_image(const std::filesystem::path& path, const ImageLimits& limits = {}) {
  const auto bytes = detail::read_file(path, "image", limits.max_file_bytes);
  return decode_image(bytes.begin(), bytes.size, path.string(), limits);
}

// Encodes 8-bit pixels (channels 1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA; rows top to
// bottom, tightly packed) as PNG bytes.
inline std::string encode_png(const std::uint8_t* pixels, int width, int height, int channels = 3) {
  if (width <= 0 || height <= 0 || channels < 1 || channels > 4)
    throw ArgumentError("encode_png: bad size " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                        std::to_string(channels));
  if (static_cast<std::int64_t>(width) * channels > INT_MAX / 2 || static_cast<std::int64_t>(width) * height * channels > INT_MAX / 2)
    throw ArgumentError("encode_png: image too large for PNG encoding");
  std::string out;
  auto sink = [](void* ctx, void* bytes, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(bytes), static_cast<std::size_t>(n)); };
  if (!detail::stbw::stbi_write_png_to_func(sink, &out, width, height, channels, pixels, width * channels))
    throw Error("encode_png: stb_image_write failed (out of memory?)");
  return out;
}

// Writes PNG through a temporary file and a rename. IoError naming `path` if it cannot be written.
inline void write_png(const std::filesystem::path& path, const std::uint8_t* pixels, int width, int height, int channels = 3) {
  const std::string png = encode_png(pixels, width, height, channels);
  detail::write_file_atomic(path, "write_png", [&](std::ostream& out) { out.write(png.data(), static_cast<std::streamsize>(png.size())); });
}
inline void write_png(const std::filesystem::path& path, const Image& img) {
  if (img.rgb.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3)
    throw ArgumentError("write_png: Image of " + std::to_string(img.width) + "x" + std::to_string(img.height) + " holds " +
                        std::to_string(img.rgb.size()) + " bytes");
  write_png(path, img.rgb.data(), img.width, img.height, 3);
}

}  // namespace gradattr::io
