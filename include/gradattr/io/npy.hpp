#pragma once
// NPY reader and writer for float32 ('<f4') and float64 ('<f8') arrays in C order, rank 0..4
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Reading accepts format versions 1.0, 2.0 and 3.0 (3.0 differs only in allowing UTF-8 in the
// header, which a valid float header never needs). The header dict is parsed strictly: exactly
// the keys 'descr', 'fortran_order' and 'shape' (any order, an optional trailing comma),
// 'descr' '<f4' or '<f8' ('|'/'=' byte orders are not accepted: numpy writes '<' for floats on
// little-endian machines), 'fortran_order' False, 'shape' a tuple of at most 4 non-negative
// integers, the header terminated by a newline. The data must be exactly the size the header
// announces. Every violation throws FormatError naming the file and the problem; a missing or
// unreadable file throws IoError.
//
// read_npy_f32 accepts both dtypes (float64 is rounded to float32); read_npy_f64 accepts both
// (float32 is widened exactly). write_npy writes version 1.0, header padded to 64 bytes, via a
// temporary file and a rename.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/io/detail/file.hpp"
#include "gradattr/io/detail/text.hpp"

namespace gradattr::io {

struct NpyHeader {
  std::string descr;      // "<f4" or "<f8"
  Shape shape;
  std::uint64_t data_offset = 0;  // bytes before the data
  int major = 1, minor = 0;
};

namespace detail {

// A strict parser for the Python dict literal numpy writes.
class NpyDictParser {
 public:
  NpyDictParser(std::string_view s, std::string prefix) : s_(s), prefix_(std::move(prefix)) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    skip_ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("duplicate key 'descr'");
        have_descr = true;
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        if (have_order) fail("duplicate key 'fortran_order'");
        have_order = true;
        if (consume("False")) {
        } else if (consume("True")) {
          fail("fortran_order True (Fortran-ordered arrays are not supported; save a C-contiguous array)");
        } else {
          fail("fortran_order is neither True nor False");
        }
      } else if (key == "shape") {
        if (have_shape) fail("duplicate key 'shape'");
        have_shape = true;
        h.shape = shape_tuple();
      } else {
        fail("unexpected key '" + printable(key) + "' in the header dict");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        skip_ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}' in the header dict");
      }
    }
    ++i_;
    if (!have_descr) fail("header dict has no 'descr'");
    if (!have_order) fail("header dict has no 'fortran_order'");
    if (!have_shape) fail("header dict has no 'shape'");
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
    if (i_ + 1 != s_.size() || s_[i_] != '\n') fail("header is not padded with spaces and terminated by a newline");
    if (h.descr != "<f4" && h.descr != "<f8") {
      if (h.descr == ">f4" || h.descr == ">f8") fail("big-endian dtype '" + h.descr + "' is not supported");
      fail("unsupported dtype '" + printable(h.descr) + "' (gradattr reads '<f4' and '<f8')");
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(prefix_ + what); }
  char peek() const {
    if (i_ >= s_.size()) fail("header dict ends early");
    return s_[i_];
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "' in the header dict");
    ++i_;
  }
  bool consume(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string in the header dict");
    ++i_;
    const auto end = s_.find(q, i_);
    if (end == std::string_view::npos) fail("unterminated string in the header dict");
    std::string v(s_.substr(i_, end - i_));
    if (v.find('\\') != std::string::npos) fail("escape sequences are not supported in the header dict");
    i_ = end + 1;
    return v;
  }
  Shape shape_tuple() {
    expect('(');
    Shape shape;
    std::vector<std::uint64_t> dims;
    skip_ws();
    bool comma_after_last = false;
    while (peek() != ')') {
      if (!std::isdigit(static_cast<unsigned char>(peek()))) {
        if (peek() == '-') fail("negative dimension in shape");
        fail("shape is not a tuple of integers");
      }
      std::uint64_t v = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        const unsigned digit = static_cast<unsigned>(s_[i_] - '0');
        if (v > (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - digit) / 10)
          fail("dimension in shape is too large");
        v = v * 10 + digit;
        ++i_;
      }
      dims.push_back(v);
      skip_ws();
      comma_after_last = false;
      if (peek() == ',') {
        ++i_;
        comma_after_last = true;
        skip_ws();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape");
      }
    }
    ++i_;
    if (dims.size() == 1 && !comma_after_last) fail("shape (n) is not a tuple (numpy writes (n,))");
    if (dims.size() > static_cast<std::size_t>(Shape::kMaxRank))
      fail("shape has rank " + std::to_string(dims.size()) + ", above gradattr's maximum of 4");
    std::uint64_t numel = 1;
    for (auto d : dims) {
      if (d != 0 && numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 8 / d)
        fail("element count of shape overflows");
      numel *= d;
      shape.push(static_cast<std::int64_t>(d));
    }
    return shape;
  }

  std::string_view s_;
  std::string prefix_;
  std::size_t i_ = 0;
};

inline NpyHeader read_npy_header(InputFile& in, const std::string& prefix) {
  const std::uint64_t size = in.size();
  if (size < 10) throw FormatError(prefix + "file is " + std::to_string(size) + " bytes, too short for an NPY header");
  std::uint8_t pre[12] = {};
  in.read_at(0, pre, std::min<std::uint64_t>(12, size));
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) throw FormatError(prefix + "bad magic (not an NPY file)");
  NpyHeader h;
  h.major = pre[6];
  h.minor = pre[7];
  std::uint64_t hlen = 0, pos = 0;
  if (h.major == 1 && h.minor == 0) {
    hlen = load_u16le(pre + 8);
    pos = 10;
  } else if ((h.major == 2 || h.major == 3) && h.minor == 0) {
    if (size < 12) throw FormatError(prefix + "file too short for a version 2 header");
    hlen = load_u32le(pre + 8);
    pos = 12;
  } else {
    throw FormatError(prefix + "unsupported NPY format version " + std::to_string(h.major) + "." + std::to_string(h.minor));
  }
  if (hlen > size - pos)
    throw FormatError(prefix + "header length " + std::to_string(hlen) + " runs past the end of the file");
  if (hlen > (1u << 24)) throw FormatError(prefix + "header length " + std::to_string(hlen) + " is implausibly large");
  std::string text(static_cast<std::size_t>(hlen), '\0');
  in.read_at(pos, text.data(), hlen);
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80 || (c < 0x20 && c != '\n'))
      throw FormatError(prefix + "header is not printable ASCII");
  NpyHeader dict = NpyDictParser(text, prefix).parse();
  dict.major = h.major;
  dict.minor = h.minor;
  dict.data_offset = pos + hlen;
  const std::uint64_t esize = dict.descr == "<f4" ? 4 : 8;
  const std::uint64_t need = static_cast<std::uint64_t>(dict.shape.numel()) * esize;
  const std::uint64_t have = size - dict.data_offset;
  if (have < need)
    throw FormatError(prefix + "truncated data: shape " + dict.shape.str() + " needs " + std::to_string(need) +
                      " bytes, the file has " + std::to_string(have));
  if (have > need)
    throw FormatError(prefix + std::to_string(have - need) + " trailing bytes after the data of shape " + dict.shape.str());
  return dict;
}

template <class T>
Tensor<T> read_npy_as(const std::filesystem::path& path) {
  const std::string prefix = "NPY " + quoted(path) + ": ";
  InputFile in(path, "NPY");
  const NpyHeader h = read_npy_header(in, prefix);
  auto t = Tensor<T>::uninitialized(h.shape);
  const auto n = static_cast<std::uint64_t>(h.shape.numel());
  const bool f4 = h.descr == "<f4";
  if ((f4 && sizeof(T) == 4) || (!f4 && sizeof(T) == 8)) {
    in.read_at(h.data_offset, t.data(), n * sizeof(T));
  } else if (f4) {
    std::vector<float> tmp(n);
    in.read_at(h.data_offset, tmp.data(), n * 4);
    for (std::uint64_t i = 0; i < n; ++i) t[static_cast<std::int64_t>(i)] = static_cast<T>(tmp[i]);
  } else {
    std::vector<double> tmp(n);
    in.read_at(h.data_offset, tmp.data(), n * 8);
    for (std::uint64_t i = 0; i < n; ++i) t[static_cast<std::int64_t>(i)] = static_cast<T>(tmp[i]);
  }
  return t;
}

template <class T>
void write_npy_impl(const std::filesystem::path& path, const Tensor<T>& t) {
  if (t.empty()) throw ArgumentError("write_npy " + quoted(path) + ": the tensor is empty (default-constructed)");
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  shape += t.rank() == 1 ? ",)" : ")";  // numpy's tuple spelling: (), (n,), (a, b)
  std::string dict = std::string("{'descr': '") + (sizeof(T) == 4 ? "<f4" : "<f8") +
                     "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  write_file_atomic(path, "write_npy", [&](std::ostream& out) {
    const auto len = static_cast<std::uint16_t>(dict.size());
    const char pre[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(pre, 10);
    out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
    if (t.numel()) out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.numel() * sizeof(T)));
  });
}

}  // namespace detail

// The header of an NPY file (validated as by the readers, data size included).
inline NpyHeader read_npy_header(const std::filesystem::path& path) {
  detail::InputFile in(path, "NPY");
  return detail::read_npy_header(in, "NPY " + detail::quoted(path) + ": ");
}
// A float32 or float64 NPY file as float (float64 rounded to nearest).
inline Tensor<float> read_npy_f32(const std::filesystem::path& path) { return detail::read_npy_as<float>(path); }
// A float32 or float64 NPY file as double (float32 widened exactly).
inline Tensor<double> read_npy_f64(const std::filesystem::path& path) { return detail::read_npy_as<double>(path); }

// Writes '<f4' / '<f8', C order, format 1.0; temporary file + rename.
inline void write_npy(const std::filesystem::path& path, const Tensor<float>& t) { detail::write_npy_impl(path, t); }
inline void write_npy(const std::filesystem::path& path, const Tensor<double>& t) { detail::write_npy_impl(path, t); }

}  // namespace gradattr::io
