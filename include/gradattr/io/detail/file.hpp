#pragma once
// File plumbing shared by the io/ readers and writers: whole-file reads with a size cap,
// and writes that never destroy what the path names (atomic replacement of regular files,
// write-through to devices and FIFOs, symlinks followed, "-" for standard output).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <streambuf>
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

// ---- writing ----
//
// An output never destroys what its path names (docs/cli.md, "Outputs"):
//   - "-" is standard output (every writer streams);
//   - a symlink (or a chain of them) is resolved, and its final target is written as below: a
//     regular file is replaced atomically (the temporary file in the target's directory), a
//     missing target is created; the link itself stays;
//   - an existing character device or FIFO is written through (opened, never replaced or
//     truncated by a rename); a FIFO with no reader is an error, not a wait;
//   - a directory, a socket or a block device is refused;
//   - anything else (a missing path, a regular file) gets a temporary file next to it, renamed
//     over it when complete.
// Write errors (ENOSPC from a full disk or /dev/full, EPIPE...) throw IoError naming the path.

// Where an output path leads, symlinks followed.
struct OutputTarget {
  enum Kind { Stdout, Missing, Regular, CharDevice, Fifo, Directory, Other };
  Kind kind = Missing;
  std::filesystem::path path;  // the final target (the given path when it is not a symlink)
};

// Follows `path` through symlinks (at most 40, as the kernel does). IoError on a loop.
inline OutputTarget resolve_output(const std::filesystem::path& path, const std::string& what) {
  OutputTarget t;
  if (path == "-") {
    t.kind = OutputTarget::Stdout;
    return t;
  }
  std::filesystem::path p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      t.kind = OutputTarget::Missing;  // ENOENT; other errors show when the file is created
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops == 40) throw IoError(what + ": cannot write " + quoted(path) + ": too many levels of symbolic links");
      std::error_code ec;
      const auto next = std::filesystem::read_symlink(p, ec);
      if (ec) throw IoError(what + ": cannot write " + quoted(path) + ": " + ec.message());
      p = next.is_absolute() ? next : p.parent_path() / next;
      continue;
    }
    t.kind = S_ISREG(st.st_mode)    ? OutputTarget::Regular
             : S_ISCHR(st.st_mode)  ? OutputTarget::CharDevice
             : S_ISFIFO(st.st_mode) ? OutputTarget::Fifo
             : S_ISDIR(st.st_mode)  ? OutputTarget::Directory
                                    : OutputTarget::Other;
    break;
  }
  t.path = p;
  return t;
}

// Fails early, before a long computation, if `path` cannot be written as write_file() would:
// IoError naming the path. (A device or FIFO is checked for write permission; a FIFO's reader
// is only known when the file is opened.)
inline void check_output(const std::filesystem::path& path, const std::string& what) {
  const auto t = resolve_output(path, what);
  const std::string via = t.path == path ? "" : " (-> " + quoted(t.path) + ")";
  switch (t.kind) {
    case OutputTarget::Stdout: return;
    case OutputTarget::Directory: throw IoError(what + ": cannot write " + quoted(path) + via + ": is a directory");
    case OutputTarget::Other:
      throw IoError(what + ": cannot write " + quoted(path) + via +
                    ": not a regular file, character device or FIFO (a socket or block device is never written)");
    case OutputTarget::CharDevice:
    case OutputTarget::Fifo:
      if (::access(t.path.c_str(), W_OK) != 0)
        throw IoError(what + ": cannot write " + quoted(path) + via + ": " + std::strerror(errno));
      return;
    case OutputTarget::Missing:
    case OutputTarget::Regular: {
      const auto dir = t.path.has_parent_path() ? t.path.parent_path() : std::filesystem::path(".");
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec) || ::access(dir.c_str(), W_OK) != 0)
        throw IoError(what + ": cannot write " + quoted(path) + via + ": directory " + quoted(dir) + " is missing or not writable");
      return;
    }
  }
}

// A std::streambuf writing to a file descriptor; remembers the first errno.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }
  int error() const noexcept { return err_; }

 protected:
  int_type overflow(int_type ch) override {
    if (drain() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return drain(); }

 private:
  int drain() {
    if (err_) return -1;
    const char* p = pbase();
    std::size_t n = static_cast<std::size_t>(pptr() - pbase());
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        err_ = errno;
        return -1;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    setp(buf_, buf_ + sizeof buf_);
    return 0;
  }
  int fd_;
  int err_ = 0;
  char buf_[1 << 16];
};

// Writes `body` straight to an open descriptor; IoError with the errno's text on failure.
inline void write_fd(int fd, const std::string& name, const std::string& what, const std::function<void(std::ostream&)>& body) {
  FdStreamBuf buf(fd);
  std::ostream out(&buf);
  body(out);
  out.flush();
  if (buf.error() || !out)
    throw IoError(what + ": write error on " + name + ": " + std::strerror(buf.error() ? buf.error() : EIO));
}

// Writes what `body` produces to `path` (the rules above). A failure leaves a regular file or
// a missing path untouched (the temporary file is removed); a device or FIFO may have taken
// part of the bytes. Throws IoError naming `path`.
inline void write_file_atomic(const std::filesystem::path& path, const std::string& what,
                              const std::function<void(std::ostream&)>& body) {
  check_output(path, what);
  const auto target = resolve_output(path, what);
  if (target.kind == OutputTarget::Stdout) {
    std::fflush(stdout);  // what the program printed first comes first
    write_fd(STDOUT_FILENO, "standard output", what, body);
    return;
  }
  if (target.kind == OutputTarget::CharDevice || target.kind == OutputTarget::Fifo) {
    // O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of blocking; cleared below.
    const int fd = ::open(target.path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENXIO && target.kind == OutputTarget::Fifo)
        throw IoError(what + ": cannot write " + quoted(path) + ": no process is reading the FIFO");
      throw IoError(what + ": cannot write " + quoted(path) + ": " + std::strerror(errno));
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    write_fd(fd, quoted(path), what, body);
    return;
  }
  // A regular file or a missing one: temporary file next to the final target, then rename.
  static std::atomic<std::uint64_t> counter{0};
  const auto stamp = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto tid = std::hash<std::thread::id>{}(std::this_thread::get_id());
  std::filesystem::path tmp = target.path;
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
  Cleanup cleanup{tmp};  // declared before the stream: the file is closed before it is removed
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(what + ": cannot write " + quoted(path) + " (cannot create a file in its directory)");
  body(out);
  out.flush();
  const int err = out ? 0 : errno;
  out.close();
  if (!out) throw IoError(what + ": write error on " + quoted(path) + (err ? std::string(": ") + std::strerror(err) : ""));
  std::error_code ec;
  std::filesystem::rename(tmp, target.path, ec);
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
