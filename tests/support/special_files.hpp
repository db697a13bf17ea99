#pragma once
// Paths that are not regular files, for the writer tests (tests/io/writers.cpp) and the CLI
// driver: what a path is (kind_of), and a FIFO reader.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace gradattr::testing {

// What a path is, without following a symlink: "fifo", "symlink", "char 1:3", "regular", ...
inline std::string kind_of(const std::filesystem::path& p) {
  struct stat st;
  if (lstat(p.c_str(), &st) != 0) return "missing";
  if (S_ISLNK(st.st_mode)) return "symlink";
  if (S_ISFIFO(st.st_mode)) return "fifo";
  if (S_ISSOCK(st.st_mode)) return "socket";
  if (S_ISDIR(st.st_mode)) return "directory";
  if (S_ISREG(st.st_mode)) return "regular";
  if (S_ISCHR(st.st_mode)) return "char " + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  return "other";
}

// Reads a FIFO on a thread while a writer runs (opened now, non-blocking, so that the writer
// finds a reader); stop() ends the reading once the writer has closed and returns everything
// written.

class FifoReader {
 public:
  explicit FifoReader(const std::filesystem::path& p) : fd_(open(p.c_str(), O_RDONLY | O_NONBLOCK)) {
    if (fd_ < 0) {
      std::perror("open fifo");
      std::exit(3);
    }
    thread_ = std::thread([this] {
      char buf[65536];
      for (;;) {
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n > 0) {
          data_.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 && stop_) {
          break;  // no writer any more and the run is over: everything has been read
        } else {
          usleep(1000);
        }
      }
    });
  }
  FifoReader(const FifoReader&) = delete;
  FifoReader& operator=(const FifoReader&) = delete;
  ~FifoReader() { stop(); }

  const std::string& stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      close(fd_);
    }
    return data_;
  }

 private:
  int fd_;
  std::atomic<bool> stop_{false};
  std::string data_;
  std::thread thread_;
};

}  // namespace gradattr::testing
