#pragma once
// The default model and sample image used when no --weights is given: the Fashion-MNIST VGG
// trained by examples/train_fashion and its sample (examples/data/), compiled into the binary
// (embedded_data.cpp), so that an installed gradattr has its default anywhere.
// $GRADATTR_DATA_DIR, when set, names a directory holding fashion_vgg.safetensors and
// sample.png to use instead.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <gradattr/core/error.hpp>

namespace gradattr_cli {

struct EmbeddedFile {
  const std::uint8_t* data;
  std::size_t size;
};
EmbeddedFile embedded_model();   // fashion_vgg.safetensors
EmbeddedFile embedded_sample();  // sample.png
std::string version_line();      // "gradattr 0.1.0 (commit ...)" (version.cpp)

// $GRADATTR_DATA_DIR, if set and non-empty.
inline std::optional<std::filesystem::path> data_dir_override() {
  if (const char* env = std::getenv("GRADATTR_DATA_DIR"); env && *env) return std::filesystem::path(env);
  return std::nullopt;
}

// The embedded bytes as a file the readers can open: an anonymous memory file (memfd) named
// by /proc/self/fd/N, or, without memfd, a temporary file removed when this goes away.
class EmbeddedAsFile {
 public:
  explicit EmbeddedAsFile(EmbeddedFile f) {
    fd_ = static_cast<int>(::memfd_create("gradattr-embedded", MFD_CLOEXEC));
    if (fd_ >= 0) {
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    } else {
      std::string tmpl = (std::filesystem::temp_directory_path() / "gradattr-embedded-XXXXXX").string();
      fd_ = ::mkstemp(tmpl.data());
      if (fd_ < 0) throw gradattr::IoError(std::string("cannot unpack the embedded default model: ") + std::strerror(errno));
      path_ = tmpl;
      unlink_ = true;
    }
    for (std::size_t done = 0; done < f.size;) {
      const ssize_t w = ::write(fd_, f.data + done, f.size - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw gradattr::IoError(std::string("cannot unpack the embedded default model: ") + std::strerror(errno));
      done += static_cast<std::size_t>(w);
    }
  }
  ~EmbeddedAsFile() {
    if (unlink_) ::unlink(path_.c_str());
    if (fd_ >= 0) ::close(fd_);
  }
  EmbeddedAsFile(const EmbeddedAsFile&) = delete;
  EmbeddedAsFile& operator=(const EmbeddedAsFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
  bool unlink_ = false;
};

}  // namespace gradattr_cli
