#pragma once
// Paths of the committed test data (tests/data/<rel>), with a record of every file a test opens.
//
// data_file("vgg_tiny/input.npy") returns the absolute path and, when the environment variable
// GRADATTR_DATA_LOG_DIR is set (ctest sets it for every Catch2 case: tests/CMakeLists.txt),
// appends "vgg_tiny/input.npy" to $GRADATTR_DATA_LOG_DIR/<pid>.log. The ctest case "data: every
// file under tests/data is read by a test" (tests/check_data_used.cmake) runs after every Catch2
// case of the suite and fails for any file under tests/data that no test opened this way. Names
// built at run time (e.g. "ig_riemann_m" + std::to_string(M)) are recorded as opened, so a
// fixture counts exactly when the code that builds its name runs. Tests open tests/data only
// through data_file().
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <unistd.h>

namespace gradattr::testing {

inline std::string data_file(const std::string& rel) {
  if (const char* dir = std::getenv("GRADATTR_DATA_LOG_DIR"); dir != nullptr && *dir != '\0') {
    static std::mutex mutex;
    const std::lock_guard<std::mutex> lock(mutex);
    std::filesystem::create_directories(dir);
    std::ofstream(std::filesystem::path(dir) / (std::to_string(::getpid()) + ".log"), std::ios::app) << rel << '\n';
  }
  return std::string(GRADATTR_TEST_DATA_DIR) + "/" + rel;
}

}  // namespace gradattr::testing
