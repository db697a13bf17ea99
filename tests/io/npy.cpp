#include "gradattr/io/npy.hpp"

#include <catch2/catch.hpp>
#include <cstring>

#include "io/io_testing.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::TempDir;
using gradattr::testing::write_bytes;

namespace {

// An NPY file with a hand-written dict (v1 unless major == 2 or 3), no alignment padding.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict + "\n";
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const auto n = static_cast<std::uint32_t>(h.size());
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + data;
}

std::string npy_error(const std::string& bytes) {
  TempDir dir;
  write_bytes(dir / "bad.npy", bytes);
  try {
    (void)io::read_npy_f32(dir / "bad.npy");
    return "no exception";
  } catch (const FormatError& e) {
    std::string m = e.what();
    CHECK(m.find("bad.npy") != std::string::npos);
    return m;
  }
}

}  // namespace

TEST_CASE("npy: round trip of ranks 0 to 4, float and double", "[io][npy]") {
  TempDir dir;
  const Shape shapes[] = {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 0, 3}, Shape{1, 3, 4, 5}};
  int k = 0;
  for (const auto& s : shapes) {
    auto f = gradattr::testing::random_tensor<float>(s, 10 + static_cast<std::uint64_t>(k));
    auto d = gradattr::testing::random_tensor<double>(s, 20 + static_cast<std::uint64_t>(k));
    const auto pf = dir / (std::to_string(k) + "f.npy"), pd = dir / (std::to_string(k) + "d.npy");
    io::write_npy(pf, f);
    io::write_npy(pd, d);
    const auto raw = gradattr::testing::read_bytes(pf);
    CHECK((raw.size() - static_cast<std::size_t>(f.numel()) * 4) % 64 == 0);  // header aligned to 64 as numpy does
    REQUIRE_CLOSE(io::read_npy_f32(pf), f, 0.0, 0.0);
    REQUIRE_CLOSE(io::read_npy_f64(pd), d, 0.0, 0.0);
    REQUIRE_CLOSE(io::read_npy_f64(pf), f.cast<double>(), 0.0, 0.0);
    REQUIRE_CLOSE(io::read_npy_f32(pd), d.cast<float>(), 0.0, 0.0);
    CHECK(io::read_npy_header(pd).shape == s);
    ++k;
  }
  CHECK(dir.entries() == 10);
  const std::string text = gradattr::testing::read_bytes(dir / "1f.npy");
  CHECK(text.find("'shape': (5,)") != std::string::npos);
  CHECK(gradattr::testing::read_bytes(dir / "0f.npy").find("'shape': ()") != std::string::npos);
  CHECK_THROWS_AS(io::write_npy(dir / "no" / "x.npy", Tensor<float>::scalar(1)), IoError);
  CHECK_THROWS_AS(io::write_npy(dir / "x.npy", Tensor<float>()), ArgumentError);
}

TEST_CASE("npy: versions 1.0, 2.0, 3.0 and dict spellings numpy produces", "[io][npy]") {
  TempDir dir;
  float v[2] = {1.25f, -3.f};
  const std::string data(reinterpret_cast<const char*>(v), 8);
  for (int major : {1, 2, 3}) {
    write_bytes(dir / "a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }   ", data, major));
    const auto t = io::read_npy_f32(dir / "a.npy");
    CHECK(t.shape() == Shape{2});
    CHECK(t[1] == -3.f);
  }
  write_bytes(dir / "b.npy", npy_bytes("{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}", data));
  CHECK(io::read_npy_f64(dir / "b.npy").shape() == Shape{1, 2});
}

TEST_CASE("npy: malformed files are FormatError naming the problem", "[io][npy]") {
  const std::string d8(8, '\0');
  CHECK_THAT(npy_error(std::string("\x93NUMPX\x01\x00\x10\x00{}", 12)), Catch::Contains("bad magic"));
  CHECK_THAT(npy_error("\x93NUM"), Catch::Contains("too short"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", d8, 4)), Catch::Contains("version 4.0"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", d8)), Catch::Contains("unsupported dtype '<i8'"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", d8)), Catch::Contains("big-endian"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", d8)), Catch::Contains("fortran_order True"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", d8)), Catch::Contains("truncated"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", d8)), Catch::Contains("trailing"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", d8)), Catch::Contains("rank 5"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", d8)), Catch::Contains("negative"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", d8)), Catch::Contains("not a tuple"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", d8)), Catch::Contains("no 'shape'"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", d8)), Catch::Contains("unexpected key 'x'"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", d8)), Catch::Contains("duplicate"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", d8)), Catch::Contains("terminated by a newline"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", d8)), Catch::Contains("too large"));
  CHECK_THAT(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", d8)), Catch::Contains("overflows"));
  std::string past = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", d8);
  past[8] = '\x7f';
  past[9] = '\x7f';
  CHECK_THAT(npy_error(past), Catch::Contains("past the end"));
  TempDir dir;
  CHECK_THROWS_AS(io::read_npy_f32(dir / "missing.npy"), IoError);
  CHECK_THROWS_AS(io::read_npy_f32(dir.path()), IoError);
}
