#pragma once
// safetensors reader and writer (https://github.com/huggingface/safetensors, format v0.x):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, with
// offsets relative to the start of the data; an optional "__metadata__" maps strings to strings.
//
// read_safetensors() promises that, before any tensor byte is read, the whole header has been
// validated: the header length (>= 2, <= 100 MB, inside the file); UTF-8; JSON nesting depth
// <= 3; a JSON object without duplicate keys; "__metadata__", if present, an object of
// string -> string; every other entry a non-empty, NUL-free name whose value is an object with
// exactly "dtype" (a known safetensors dtype), "shape" (at most 4 non-negative integers, the
// element and byte counts free of overflow) and "data_offsets" (two non-negative integers,
// end >= begin, end - begin == dtype size x element count); sorted by begin, the tensors tile
// the data exactly: the first starts at 0, each starts where the previous ends (no gap, no
// overlap), the last ends at the end of the file (no trailing bytes, nothing truncated).
// Every violation throws FormatError naming the file, the tensor (when there is one) and the
// rule; a missing, unreadable or directory path throws IoError naming it.
//
// Known but unconvertible dtypes (I64, U8, BOOL...) pass validation (their size is known) and
// throw FormatError only when such a tensor is asked for: a weights file with an integer buffer
// loads, and its float tensors remain usable. F32 and F64 are copied (memcpy: data offsets need
// not be aligned); F16 and BF16 are widened exactly.
//
// Memory: the file's data region is held once in memory (a shared buffer); tensor() converts on
// demand, so loading VGG19 (550 MB) peaks near twice its size only while the caller holds both.
// A SafetensorsFile is immutable after reading: concurrent tensor() calls are safe.
//
// Assumes a little-endian host (static_assert below), as do PyTorch and safetensors.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/io/detail/file.hpp"
#include "gradattr/io/detail/text.hpp"

namespace gradattr::io {

static_assert(std::endian::native == std::endian::little, "gradattr's io assumes a little-endian host");

inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

namespace detail {

struct SafetensorsDtype {
  std::string_view name;
  std::uint64_t size;
  bool convertible;  // to float / double by gradattr
};
inline const SafetensorsDtype* find_safetensors_dtype(std::string_view name) noexcept {
  static constexpr SafetensorsDtype table[] = {
      {"F32", 4, true},      {"F64", 8, true},      {"F16", 2, true},  {"BF16", 2, true}, {"BOOL", 1, false},
      {"U8", 1, false},      {"I8", 1, false},      {"I16", 2, false}, {"U16", 2, false}, {"I32", 4, false},
      {"U32", 4, false},     {"I64", 8, false},     {"U64", 8, false}, {"F8_E5M2", 1, false},
      {"F8_E4M3", 1, false}, {"F8_E8M0", 1, false},
  };
  for (const auto& d : table)
    if (d.name == name) return &d;
  return nullptr;
}

inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float f = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
    return sign ? -f : f;
  }
  const std::uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13)) : (sign | ((exp + 112u) << 23) | (mant << 13));
  return std::bit_cast<float>(bits);
}
inline float bfloat16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

struct SafetensorsEntry {
  std::string dtype;
  std::uint64_t dtype_size = 0;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // relative to the data region
};

}  // namespace detail

// A validated safetensors file held in memory.
struct SafetensorsFile {
  std::filesystem::path path;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> names;  // in the header's order

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const std::string& dtype(const std::string& name) const { return entry(name).dtype; }
  Shape shape(const std::string& name) const { return entry(name).shape; }

  // The tensor as float (F32 copied; F64 narrowed; F16/BF16 widened). FormatError if the file
  // has no such tensor or its dtype is not a floating type gradattr converts.
  Tensor<float> tensor(const std::string& name) const { return convert<float>(name); }
  // The tensor as double (F64 copied; F32/F16/BF16 widened exactly).
  Tensor<double> tensor_f64(const std::string& name) const { return convert<double>(name); }

 private:
  friend SafetensorsFile read_safetensors(const std::filesystem::path& path);

  const detail::SafetensorsEntry& entry(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end())
      throw FormatError("safetensors " + detail::quoted(path) + ": no tensor named '" + detail::printable(name) + "'");
    return it->second;
  }

  template <class T>
  Tensor<T> convert(const std::string& name) const {
    const auto& e = entry(name);
    const auto* d = detail::find_safetensors_dtype(e.dtype);
    if (!d || !d->convertible)
      throw FormatError("safetensors " + detail::quoted(path) + ": tensor '" + detail::printable(name) + "' has dtype " +
                        e.dtype + "; gradattr converts only F32, F64, F16 and BF16");
    auto t = Tensor<T>::uninitialized(e.shape);
    const std::uint8_t* src = data_->begin() + e.begin;
    const auto n = static_cast<std::size_t>(e.shape.numel());
    T* dst = t.data();
    if (e.dtype == "F32") {
      if constexpr (std::is_same_v<T, float>) {
        if (n) std::memcpy(dst, src, n * 4);
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          float v;
          std::memcpy(&v, src + 4 * i, 4);
          dst[i] = v;
        }
      }
    } else if (e.dtype == "F64") {
      if constexpr (std::is_same_v<T, double>) {
        if (n) std::memcpy(dst, src, n * 8);
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          double v;
          std::memcpy(&v, src + 8 * i, 8);
          dst[i] = static_cast<T>(v);
        }
      }
    } else {
      const bool half = e.dtype == "F16";
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        dst[i] = static_cast<T>(half ? detail::half_to_float(v) : detail::bfloat16_to_float(v));
      }
    }
    return t;
  }

  std::unordered_map<std::string, detail::SafetensorsEntry> entries_;
  std::shared_ptr<const detail::Bytes> data_;
};

namespace detail {

// Parses the header JSON with a depth limit and duplicate-key detection (nlohmann keeps the
// last duplicate silently). Throws FormatError(prefix + rule).
inline nlohmann::ordered_json parse_safetensors_header(std::string_view text, const std::string& prefix) {
  constexpr int kMaxDepth = 3;  // header object > entry object > shape / data_offsets array
  std::vector<std::set<std::string>> keys;
  std::string top_key;
  auto cb = [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) -> bool {
    using E = nlohmann::ordered_json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      if (depth >= kMaxDepth)
        throw FormatError(prefix + "header JSON nests deeper than " + std::to_string(kMaxDepth) + " levels");
      if (event == E::object_start) {
        keys.resize(static_cast<std::size_t>(depth) + 1);
        keys[static_cast<std::size_t>(depth)].clear();
      }
    } else if (event == E::key && depth >= 1 && static_cast<std::size_t>(depth) <= keys.size()) {
      const std::string k = parsed.get<std::string>();
      if (!keys[static_cast<std::size_t>(depth) - 1].insert(k).second) {
        if (depth == 1) throw FormatError(prefix + "duplicate tensor name '" + printable(k) + "'");
        throw FormatError(prefix + "tensor '" + printable(top_key) + "': duplicate key '" + printable(k) + "'");
      }
      if (depth == 1) top_key = k;
    }
    return true;
  };
  try {
    return nlohmann::ordered_json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and also out_of_range for a number beyond double (1e400), which the parser
    // reports through the same path.
    throw FormatError(prefix + "header is not valid JSON: " + e.what());
  }
}

// A JSON number that is a non-negative integer, as u64; otherwise a FormatError naming `what`.
inline std::uint64_t json_u64(const nlohmann::ordered_json& v, const std::string& prefix, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) throw FormatError(prefix + what + " is negative (" + v.dump() + ")");
  if (v.is_number_float()) throw FormatError(prefix + what + " is not an integer (" + v.dump() + ")");
  throw FormatError(prefix + what + " is not a number (" + v.dump().substr(0, 40) + ")");
}

}  // namespace detail

// Reads and validates a safetensors file (see the top of this header for every rule).
inline SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  using detail::printable;
  const std::string file = "safetensors " + detail::quoted(path) + ": ";
  detail::InputFile in(path, "safetensors");
  const std::uint64_t fsize = in.size();
  if (fsize < 8) throw FormatError(file + "file is " + std::to_string(fsize) + " bytes, shorter than the 8-byte header length");
  std::uint8_t lenbuf[8];
  in.read_at(0, lenbuf, 8);
  const std::uint64_t hlen = detail::load_u64le(lenbuf);
  if (hlen < 2) throw FormatError(file + "header length " + std::to_string(hlen) + " is below the minimum of 2");
  if (hlen > kSafetensorsMaxHeaderBytes)
    throw FormatError(file + "header length " + std::to_string(hlen) + " exceeds the limit of " +
                      std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  if (hlen > fsize - 8)
    throw FormatError(file + "header length " + std::to_string(hlen) + " runs past the end of the file (" +
                      std::to_string(fsize) + " bytes)");
  std::string text(static_cast<std::size_t>(hlen), '\0');
  in.read_at(8, text.data(), hlen);
  std::size_t bad = 0;
  if (!detail::valid_utf8(text, &bad))
    throw FormatError(file + "header is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  const auto header = detail::parse_safetensors_header(text, file);
  if (!header.is_object()) throw FormatError(file + "header is not a JSON object");

  SafetensorsFile out;
  out.path = path;
  const std::uint64_t data_size = fsize - 8 - hlen;
  struct Span {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw FormatError(file + "__metadata__ is not an object (a tensor cannot be named __metadata__)");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw FormatError(file + "__metadata__ value of '" + printable(k) + "' is not a string");
        out.metadata.emplace(k, v.get<std::string>());
      }
      continue;
    }
    if (name.empty()) throw FormatError(file + "empty tensor name");
    if (name.find('\0') != std::string::npos) throw FormatError(file + "tensor '" + printable(name) + "': name contains a NUL byte");
    const std::string at = file + "tensor '" + printable(name) + "': ";
    if (!value.is_object()) throw FormatError(at + "entry is not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) throw FormatError(at + "missing field '" + field + "'");
    for (const auto& [k, v] : value.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets") throw FormatError(at + "unexpected field '" + printable(k) + "'");

    detail::SafetensorsEntry e;
    const auto& dt = value["dtype"];
    if (!dt.is_string()) throw FormatError(at + "dtype is not a string");
    e.dtype = dt.get<std::string>();
    const auto* d = detail::find_safetensors_dtype(e.dtype);
    if (!d) throw FormatError(at + "unknown dtype '" + printable(e.dtype) + "'");
    e.dtype_size = d->size;

    const auto& sh = value["shape"];
    if (!sh.is_array()) throw FormatError(at + "shape is not an array");
    if (sh.size() > static_cast<std::size_t>(Shape::kMaxRank))
      throw FormatError(at + "shape has rank " + std::to_string(sh.size()) + ", above gradattr's maximum of 4");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < sh.size(); ++i) {
      const std::uint64_t dim = detail::json_u64(sh[i], at, "shape[" + std::to_string(i) + "]");
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw FormatError(at + "shape[" + std::to_string(i) + "] = " + std::to_string(dim) + " is too large");
      if (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim) overflow = true;
      numel = overflow ? 0 : numel * dim;
    }
    // An overflowing product is an error even when another extent is 0 (no real writer emits it).
    if (overflow || numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        numel > std::numeric_limits<std::uint64_t>::max() / e.dtype_size)
      throw FormatError(at + "element count of shape " + sh.dump() + " overflows");
    for (const auto& dim : sh) e.shape.push(static_cast<std::int64_t>(dim.get<std::uint64_t>()));
    const std::uint64_t nbytes = numel * e.dtype_size;

    const auto& off = value["data_offsets"];
    if (!off.is_array() || off.size() != 2) throw FormatError(at + "data_offsets is not an array [begin, end]");
    e.begin = detail::json_u64(off[0], at, "data_offsets begin");
    e.end = detail::json_u64(off[1], at, "data_offsets end");
    if (e.end < e.begin)
      throw FormatError(at + "data_offsets end " + std::to_string(e.end) + " < begin " + std::to_string(e.begin));
    if (e.end - e.begin != nbytes)
      throw FormatError(at + "data_offsets span " + std::to_string(e.end - e.begin) + " bytes, but " + e.dtype + " " +
                        e.shape.str() + " needs " + std::to_string(nbytes));
    out.names.push_back(name);
    out.entries_.emplace(name, std::move(e));
  }
  for (const auto& n : out.names) {
    const auto& e = out.entries_.at(n);
    spans.push_back({e.begin, e.end, &n});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t pos = 0;
  for (const auto& s : spans) {
    const std::string at = file + "tensor '" + printable(*s.name) + "': ";
    if (s.begin < pos)
      throw FormatError(at + "data_offsets [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                        "] overlap the previous tensor (which ends at " + std::to_string(pos) + ")");
    if (s.begin > pos)
      throw FormatError(at + (pos == 0 ? "the first tensor's data starts at " + std::to_string(s.begin) + ", not 0"
                                       : "gap before data_offsets begin " + std::to_string(s.begin) +
                                             " (the previous tensor ends at " + std::to_string(pos) + ")"));
    pos = s.end;
  }
  if (pos < data_size)
    throw FormatError(file + std::to_string(data_size - pos) + " trailing bytes after the last tensor (data is " +
                      std::to_string(data_size) + " bytes, tensors end at " + std::to_string(pos) + ")");
  if (pos > data_size)
    throw FormatError(file + "truncated: tensors need " + std::to_string(pos) + " bytes of data but the file has " +
                      std::to_string(data_size));
  out.data_ = std::make_shared<const detail::Bytes>(in.read_range(8 + hlen, data_size));
  return out;
}

// One tensor to write: float is stored as F32, double as F64.
struct NamedTensor {
  std::string name;
  std::variant<Tensor<float>, Tensor<double>> tensor;
};

// Writes tensors (in the given order) and string metadata as safetensors, loadable by
// safetensors / PyTorch: the header is padded with spaces to a multiple of 8 bytes and the data
// follows in header order. Written to a temporary file and renamed: on failure `path` is
// untouched. ArgumentError for an empty, duplicate, NUL-containing or non-UTF-8 name, a name
// "__metadata__", or a default-constructed (empty) tensor; IoError naming `path` if it cannot
// be written.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  using detail::printable;
  const std::string where = "write_safetensors " + detail::quoted(path) + ": ";
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const auto& nt : tensors) {
    if (nt.name.empty()) throw ArgumentError(where + "empty tensor name");
    if (nt.name == "__metadata__") throw ArgumentError(where + "a tensor cannot be named __metadata__");
    if (nt.name.find('\0') != std::string::npos) throw ArgumentError(where + "tensor name '" + printable(nt.name) + "' contains NUL");
    if (!seen.insert(nt.name).second) throw ArgumentError(where + "duplicate tensor name '" + printable(nt.name) + "'");
    const bool is_f32 = nt.tensor.index() == 0;
    const Shape shape = std::visit([](const auto& t) { return t.shape(); }, nt.tensor);
    const bool empty = std::visit([](const auto& t) { return t.empty(); }, nt.tensor);
    if (empty) throw ArgumentError(where + "tensor '" + printable(nt.name) + "' is empty (default-constructed)");
    auto dims = nlohmann::ordered_json::array();
    for (int i = 0; i < shape.rank(); ++i) dims.push_back(shape[i]);
    const std::uint64_t nbytes = static_cast<std::uint64_t>(shape.numel()) * (is_f32 ? 4u : 8u);
    header[nt.name] = {{"dtype", is_f32 ? "F32" : "F64"}, {"shape", dims}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    throw ArgumentError(where + "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  detail::write_file_atomic(path, "write_safetensors", [&](std::ostream& out) {
    std::uint8_t len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& nt : tensors)
      std::visit(
          [&](const auto& t) {
            const auto bytes = static_cast<std::streamsize>(t.numel()) * static_cast<std::streamsize>(sizeof(t[0]));
            if (bytes) out.write(reinterpret_cast<const char*>(t.data()), bytes);
          },
          nt.tensor);
  });
}

}  // namespace gradattr::io
