// io/sha256.hpp against the example vectors of FIPS 180-2 (Appendix B) and the one-million-'a'
// message; the file reader and piecewise updates against the one-shot digest.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gradattr/io/sha256.hpp"

using gradattr::io::sha256_hex;

TEST_CASE("sha256: FIPS 180-2 example vectors", "[io][sha256]") {
  CHECK(sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // 448 bits: padding spills a block
  CHECK(sha256_hex(two_blocks.data(), two_blocks.size()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million.data(), million.size()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: pieces of any size and files give the one-shot digest", "[io][sha256]") {
  std::string msg;
  for (int i = 0; i < 1000; ++i) msg += static_cast<char>((i * 37 + 11) & 0xff);
  const std::string whole = sha256_hex(msg.data(), msg.size());
  for (std::size_t piece : {1, 3, 55, 56, 63, 64, 65, 999}) {
    gradattr::io::Sha256 h;
    for (std::size_t at = 0; at < msg.size(); at += piece) h.update(msg.data() + at, std::min(piece, msg.size() - at));
    CHECK(h.hex() == whole);
  }
  const auto path = std::filesystem::temp_directory_path() / ("gradattr-sha256-" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << msg;
  CHECK(gradattr::io::sha256_file(path) == whole);
  std::filesystem::remove(path);
  CHECK_THROWS_WITH(gradattr::io::sha256_file(path), Catch::Contains(path.string()));
}
