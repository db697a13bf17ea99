#pragma once
// File plumbing shared by the io/ readers and writers: whole-file reads with a size cap,
// and atomic writes (temporary file in the same directory, then rename).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "gradattr/core/error.hpp"

namespace gradattr::io::detail {

// "'path'" for messages.
inline std::string quoted(const std::filesystem::path& p) {
  std::string s = p.string();  // appended rather than "'" + s + "'": GCC 12 warns (-Wrestrict) on that
  s.insert(s.begin(), '\'');
  s.push_back('\'');
  return s;
}

// A byte buffer that is not zero-filled first (safetensors weights run to hundreds of MB).
struct Bytes {
  std::unique_ptr<std::uint8_t[]> data;
  std::size_t size = 0;
  const std::uint8_t* begin() const noexcept { return data.get(); }
  const std::uint8_t* end() const noexcept { return data.get() + size; }
};

// An open input file with its size; throws IoError naming the file if it is missing, a
// directory, not a regular file (a FIFO, socket or device), or unreadable. `what` prefixes messages ("safetensors", "NPY"...).
class InputFile {
 public:
  InputFile(const std::filesystem::path& path, const std::string& what) : path_(path), what_(what) {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st))
      throw IoError(what + ": cannot open " + quoted(path) + ": no such file");
    if (std::filesystem::is_directory(st)) throw IoError(what + ": cannot read " + quoted(path) + ": is a directory");
    // A FIFO would block open() until a writer comes (forever); devices have no size.
    if (!std::filesystem::is_regular_file(st))
      throw IoError(what + ": cannot read " + quoted(path) + ": not a regular file (a FIFO, socket or device)");
    in_.open(path, std::ios::binary);
    if (!in_) throw IoError(what + ": cannot open " + quoted(path) + " for reading");
    in_.seekg(0, std::ios::end);
    const auto end = in_.tellg();
    if (end < 0) throw IoError(what + ": cannot determine the size of " + quoted(path));
    size_ = static_cast<std::uint64_t>(end);
    in_.seekg(0, std::ios::beg);
  }
  std::uint64_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Reads exactly n bytes at offset into dst (the caller has checked the range).
  void read_at(std::uint64_t offset, void* dst, std::uint64_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      const auto chunk = static_cast<std::streamsize>(std::min<std::uint64_t>(n, std::uint64_t{1} << 30));
      in_.read(p, chunk);
      if (in_.gcount() != chunk) throw IoError(what_ + ": read error in " + quoted(path_));
      p += chunk;
      n -= static_cast<std::uint64_t>(chunk);
    }
  }
  Bytes read_range(std::uint64_t offset, std::uint64_t n) {
    Bytes b;
    b.data.reset(new std::uint8_t[n == 0 ? 1 : n]);
    b.size = static_cast<std::size_t>(n);
    read_at(offset, b.data.get(), n);
    return b;
  }

 private:
  std::filesystem::path path_;
  std::string what_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

// The whole file, refusing files larger than max_bytes (FormatError: the content is the problem).
inline Bytes read_file(const std::filesystem::path& path, const std::string& what, std::uint64_t max_bytes) {
  InputFile f(path, what);
  if (f.size() > max_bytes)
    throw FormatError(what + ": " + quoted(path) + " is " + std::to_string(f.size()) + " bytes, over the limit of " +
                      std::to_string(max_bytes));
  return f.read_range(0, f.size());
}

// Writes through `body` into a temporary file next to `path`, then renames it over `path`.
// A failure (an exception from body, a full disk) removes the temporary file and throws;
// `path` is then untouched. Throws IoError naming `path` when it cannot be written.
inline void write_file_atomic(const std::filesystem::path& path, const std::string& what,
                              const std::function<void(std::ostream&)>& body) {
  static std::atomic<std::uint64_t> counter{0};
  const auto stamp = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto tid = std::hash<std::thread::id>{}(std::this_thread::get_id());
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(stamp ^ tid) + "-" + std::to_string(counter.fetch_add(1));
  struct Cleanup {
    const std::filesystem::path& p;
    bool armed = true;
    ~Cleanup() {
      if (armed) {
        std::error_code ec;
        std::filesystem::remove(p, ec);
      }
    }
  };
  {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      throw IoError(what + ": cannot write " + quoted(path) + ": is a directory");
  }
  Cleanup cleanup{tmp};  // declared before the stream: the file is closed before it is removed
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(what + ": cannot write " + quoted(path) + " (cannot create a file in its directory)");
  body(out);
  out.flush();
  out.close();
  if (!out) throw IoError(what + ": write error on " + quoted(path));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError(what + ": cannot write " + quoted(path) + ": " + ec.message());
  cleanup.armed = false;
}

// Little-endian loads from unaligned bytes.
inline std::uint64_t load_u64le(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint32_t load_u32le(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
inline std::uint32_t load_u32be(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[3]} | (std::uint32_t{p[2]} << 8) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[0]} << 24);
}
inline std::uint16_t load_u16le(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

}  // namespace gradattr::io::detail
