#pragma once
// Helpers for the io tests: a scratch directory removed at the end of the test, raw file
// writing, and a builder for hand-made safetensors files.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace gradattr::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> n{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("gradattr-io-" + std::to_string(rd()) + "-" + std::to_string(n.fetch_add(1)));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }
  // Number of entries in the directory (to check no temporary file is left behind).
  int entries() const {
    int k = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path_)) ++k;
    return k;
  }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// [u64 LE header length][header][data], the header taken as is (no padding).
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace gradattr::testing
