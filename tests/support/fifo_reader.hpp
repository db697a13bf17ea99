#pragma once
// Reads a FIFO on a thread while a writer runs (opened now, non-blocking, so that the writer
// finds a reader); stop() ends the reading once the writer has closed and returns everything
// written. Used by the writer tests (tests/io/writers.cpp) and the CLI driver.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace gradattr::testing {

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
