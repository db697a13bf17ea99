#pragma once
// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/), plain or
// gzip-compressed (detected by the gzip magic), as Debian's dataset-fashion-mnist ships them in
// /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
//
// Layout: magic [0, 0, type, ndims] (big-endian), ndims u32 big-endian extents, then the
// elements in row-major order. gradattr reads unsigned-byte files (type 0x08): images
// (magic 0x00000803, N x rows x cols) and labels (magic 0x00000801, N).
//
// Checks, each a FormatError naming the file: the gzip stream is complete and followed by
// nothing; the decompressed size stays under a limit (1 GiB by default: a gzip bomb cannot
// exhaust memory); the magic's first two bytes are zero; the type is unsigned byte (other IDX
// types are named); the rank is what the caller asked for (1 for labels, 3 for images); the
// extents are non-zero where needed, their product does not overflow, and the data is exactly
// that long (no truncation, no trailing bytes). A missing or unreadable file is IoError.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/io/detail/file.hpp"

namespace gradattr::io {

// The raw content of an unsigned-byte IDX file.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;  // row-major, product(dims) bytes
};

inline constexpr std::uint64_t kIdxMaxBytes = std::uint64_t{1} << 30;

namespace detail {

// Inflates a gzip member that must span all of `in`; at most max_out bytes of output.
inline std::vector<std::uint8_t> gunzip(const std::uint8_t* in, std::size_t n, std::uint64_t max_out, const std::string& prefix) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error(prefix + "zlib initialisation failed");
  struct End {
    z_stream& z;
    ~End() { inflateEnd(&z); }
  } end{z};
  std::vector<std::uint8_t> out;
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(max_out, std::uint64_t{n} * 4)));
  std::uint8_t buf[1 << 16];
  const std::uint8_t* p = in;
  std::size_t left = n;
  while (true) {
    if (z.avail_in == 0 && left > 0) {
      const auto chunk = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
      z.next_in = const_cast<Bytef*>(p);
      z.avail_in = chunk;
      p += chunk;
      left -= chunk;
    }
    z.next_out = buf;
    z.avail_out = sizeof buf;
    const int rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR)
      throw FormatError(prefix + "corrupt gzip stream" + (z.msg ? std::string(" (") + z.msg + ")" : std::string()));
    if (rc == Z_MEM_ERROR) throw Error(prefix + "out of memory while decompressing");
    const std::size_t got = sizeof buf - z.avail_out;
    if (out.size() + got > max_out)
      throw FormatError(prefix + "decompresses to more than the limit of " + std::to_string(max_out) + " bytes");
    out.insert(out.end(), buf, buf + got);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR) throw FormatError(prefix + "truncated gzip stream");  // a fresh output buffer: no input left
  }
  if (z.avail_in != 0 || left != 0) throw FormatError(prefix + "trailing bytes after the gzip stream");
  return out;
}

}  // namespace detail

// Reads an unsigned-byte IDX file of rank `rank` (0: any rank 1..4).
inline IdxArray read_idx_u8(const std::filesystem::path& path, int rank = 0, std::uint64_t max_bytes = kIdxMaxBytes) {
  const std::string prefix = "IDX " + detail::quoted(path) + ": ";
  detail::Bytes raw = detail::read_file(path, "IDX", max_bytes);
  std::vector<std::uint8_t> inflated;
  const std::uint8_t* p = raw.begin();
  std::size_t n = raw.size;
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    inflated = detail::gunzip(p, n, max_bytes, prefix);
    p = inflated.data();
    n = inflated.size();
  }
  if (n < 4) throw FormatError(prefix + "file is " + std::to_string(n) + " bytes, too short for the IDX magic");
  if (p[0] != 0 || p[1] != 0) throw FormatError(prefix + "bad magic (the first two bytes must be zero): not an IDX file");
  if (p[2] != 0x08) {
    const char* names[] = {"signed byte", "short", "int", "float", "double"};
    const int k = p[2] == 0x09 ? 0 : p[2] == 0x0B ? 1 : p[2] == 0x0C ? 2 : p[2] == 0x0D ? 3 : p[2] == 0x0E ? 4 : -1;
    throw FormatError(prefix + "unsupported IDX element type " + (k >= 0 ? std::string(names[k]) : "code " + std::to_string(p[2])) +
                      " (gradattr reads unsigned byte)");
  }
  const int ndims = p[3];
  if (ndims < 1 || ndims > 4) throw FormatError(prefix + "IDX rank " + std::to_string(ndims) + " (expected 1 to 4)");
  if (rank != 0 && ndims != rank)
    throw FormatError(prefix + "magic 0x0000080" + std::to_string(ndims) + " has rank " + std::to_string(ndims) + ", expected " +
                      std::to_string(rank) + (rank == 3 ? " (an image file, magic 0x00000803)" : rank == 1 ? " (a label file, magic 0x00000801)" : ""));
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  if (n < header) throw FormatError(prefix + "truncated header (" + std::to_string(n) + " bytes)");
  IdxArray a;
  std::uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    const std::uint64_t d = detail::load_u32be(p + 4 + 4 * i);
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / d)
      throw FormatError(prefix + "element count overflows");
    count *= d;
    a.dims.push_back(static_cast<std::int64_t>(d));
  }
  const std::uint64_t have = n - header;
  if (have < count)
    throw FormatError(prefix + "truncated data: the header announces " + std::to_string(count) + " bytes, the file has " + std::to_string(have));
  if (have > count) throw FormatError(prefix + std::to_string(have - count) + " trailing bytes after the data");
  a.data.assign(p + header, p + n);
  return a;
}

// Images of an IDX image file as float in [0, 1] (byte / 255): x [N, 1, rows, cols].
inline Tensor<float> idx_images_to_float(const IdxArray& a) {
  if (a.dims.size() != 3) throw ShapeError("idx_images_to_float: need N x rows x cols, got rank " + std::to_string(a.dims.size()));
  auto t = Tensor<float>::uninitialized({a.dims[0], 1, a.dims[1], a.dims[2]});
  for (std::size_t i = 0; i < a.data.size(); ++i) t[static_cast<std::int64_t>(i)] = static_cast<float>(a.data[i]) / 255.f;
  return t;
}

// An IDX image file (magic 0x00000803) as x [N, 1, rows, cols] in [0, 1].
inline Tensor<float> read_idx_images(const std::filesystem::path& path) {
  const IdxArray a = read_idx_u8(path, 3);
  if (a.dims[1] == 0 || a.dims[2] == 0)
    throw FormatError("IDX " + detail::quoted(path) + ": image size " + std::to_string(a.dims[1]) + "x" + std::to_string(a.dims[2]));
  return idx_images_to_float(a);
}

// An IDX label file (magic 0x00000801) as class indices.
inline std::vector<int> read_idx_labels(const std::filesystem::path& path) {
  const IdxArray a = read_idx_u8(path, 1);
  return std::vector<int>(a.data.begin(), a.data.end());
}

}  // namespace gradattr::io
