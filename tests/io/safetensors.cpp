#include "gradattr/io/safetensors.hpp"

#include <catch2/catch.hpp>
#include <cstring>

#include "io/io_testing.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::safetensors_bytes;
using gradattr::testing::TempDir;
using gradattr::testing::write_bytes;

namespace {

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::size_t i = 0;
  for (float x : v) std::memcpy(&s[4 * i++], &x, 4);
  return s;
}

// Writes header+data to a file and expects read_safetensors to throw FormatError containing
// every given substring.
void require_format_error(const std::string& header, const std::string& data, std::initializer_list<std::string> parts) {
  TempDir dir;
  const auto p = dir / "bad.safetensors";
  write_bytes(p, safetensors_bytes(header, data));
  INFO("header: " << header.substr(0, 200));
  try {
    (void)io::read_safetensors(p);
    FAIL("no exception");
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find("bad.safetensors") != std::string::npos);
    for (const auto& part : parts) CHECK(msg.find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: float and double round trip with metadata and file order", "[io][safetensors]") {
  TempDir dir;
  const auto p = dir / "t.safetensors";
  auto a = gradattr::testing::random_tensor<float>({2, 3, 4, 5}, 1);
  auto b = gradattr::testing::random_tensor<double>({7}, 2);
  auto s = Tensor<float>::scalar(3.5f);
  Tensor<float> z({0, 3});
  io::write_safetensors(p, {{"zeta.weight", a}, {"alpha", b}, {"scalar", s}, {"empty", z}},
                        {{"format", "pt"}, {"note", "héllo"}});
  CHECK(dir.entries() == 1);  // no temporary file left behind
  const std::string raw = gradattr::testing::read_bytes(p);
  std::uint64_t hlen = 0;
  std::memcpy(&hlen, raw.data(), 8);
  CHECK(hlen % 8 == 0);  // padded like safetensors' own writer

  const auto f = io::read_safetensors(p);
  CHECK(f.names == std::vector<std::string>{"zeta.weight", "alpha", "scalar", "empty"});
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.metadata.at("note") == "héllo");
  CHECK(f.dtype("zeta.weight") == "F32");
  CHECK(f.dtype("alpha") == "F64");
  CHECK(f.shape("zeta.weight") == Shape{2, 3, 4, 5});
  CHECK(f.shape("scalar") == Shape{});
  CHECK(f.shape("empty") == Shape{0, 3});
  REQUIRE_CLOSE(f.tensor("zeta.weight"), a, 0.0, 0.0);
  REQUIRE_CLOSE(f.tensor_f64("alpha"), b, 0.0, 0.0);
  REQUIRE_CLOSE(f.tensor("alpha"), b.cast<float>(), 0.0, 0.0);
  REQUIRE_CLOSE(f.tensor_f64("zeta.weight"), a.cast<double>(), 0.0, 0.0);
  CHECK(f.tensor("scalar")[0] == 3.5f);
  CHECK(f.tensor("empty").numel() == 0);
  CHECK(f.contains("alpha"));
  CHECK_FALSE(f.contains("beta"));
  CHECK_THROWS_AS(f.tensor("beta"), FormatError);

  // Overwriting an existing file goes through a rename too.
  io::write_safetensors(p, {{"only", b}});
  CHECK(io::read_safetensors(p).names == std::vector<std::string>{"only"});
  CHECK(dir.entries() == 1);
}

TEST_CASE("safetensors: the writer rejects bad names and unwritable paths", "[io][safetensors]") {
  TempDir dir;
  auto t = Tensor<float>::scalar(1.f);
  const auto p = dir / "w.safetensors";
  CHECK_THROWS_AS(io::write_safetensors(p, {{"a", t}, {"a", t}}), ArgumentError);
  CHECK_THROWS_AS(io::write_safetensors(p, {{"", t}}), ArgumentError);
  CHECK_THROWS_AS(io::write_safetensors(p, {{"__metadata__", t}}), ArgumentError);
  CHECK_THROWS_AS(io::write_safetensors(p, {{std::string("a\0b", 3), t}}), ArgumentError);
  CHECK_THROWS_AS(io::write_safetensors(p, {{"bad\xff", t}}), ArgumentError);
  CHECK_THROWS_AS(io::write_safetensors(p, {{"e", Tensor<float>()}}), ArgumentError);
  CHECK(dir.entries() == 0);
  const auto nowhere = dir / "missing-dir" / "w.safetensors";
  CHECK_THROWS_WITH(io::write_safetensors(nowhere, {{"a", t}}), Catch::Contains("missing-dir"));
  CHECK_THROWS_AS(io::write_safetensors(nowhere, {{"a", t}}), IoError);
  CHECK_THROWS_AS(io::write_safetensors(dir.path(), {{"a", t}}), IoError);
}

TEST_CASE("safetensors: missing file and directory are IoError naming the path", "[io][safetensors]") {
  TempDir dir;
  CHECK_THROWS_AS(io::read_safetensors(dir / "nope.safetensors"), IoError);
  CHECK_THROWS_WITH(io::read_safetensors(dir / "nope.safetensors"), Catch::Contains("nope.safetensors"));
  CHECK_THROWS_AS(io::read_safetensors(dir.path()), IoError);
  CHECK_THROWS_WITH(io::read_safetensors(dir.path()), Catch::Contains("directory"));
}

TEST_CASE("safetensors: valid but unusual files", "[io][safetensors]") {
  TempDir dir;
  SECTION("misaligned data (odd header length)") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})";
    REQUIRE(h.size() % 2 == 1);
    double d = -2.25;
    std::string db(8, '\0');
    std::memcpy(db.data(), &d, 8);
    write_bytes(dir / "m.safetensors", safetensors_bytes(h, f32_bytes({1.5f, -2.f}) + db));
    const auto f = io::read_safetensors(dir / "m.safetensors");
    CHECK(f.tensor("a")[1] == -2.f);
    CHECK(f.tensor_f64("b")[0] == -2.25);
  }
  SECTION("F16 and BF16 are widened exactly, tensors listed out of data order") {
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24, inf 0x7c00
    // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00
    const std::string h =
        R"({"bf":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]},"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]}})";
    const std::string data("\x00\x3c\x00\xc0\xff\x7b\x01\x00\x00\x7c\x80\x3f\x00\xbf", 14);
    write_bytes(dir / "h.safetensors", safetensors_bytes(h, data));
    const auto f = io::read_safetensors(dir / "h.safetensors");
    CHECK(f.names == std::vector<std::string>{"bf", "h"});
    const auto t = f.tensor("h");
    CHECK(t[0] == 1.f);
    CHECK(t[1] == -2.f);
    CHECK(t[2] == 65504.f);
    CHECK(t[3] == std::ldexp(1.f, -24));
    CHECK(std::isinf(t[4]));
    const auto b = f.tensor_f64("bf");
    CHECK(b[0] == 1.0);
    CHECK(b[1] == -0.5);
  }
  SECTION("zero-size tensors at any offset, empty file, whitespace padding") {
    const std::string h = R"({"z":{"dtype":"F32","shape":[3,0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   )";
    write_bytes(dir / "z.safetensors", safetensors_bytes(h, f32_bytes({7.f})));
    const auto f = io::read_safetensors(dir / "z.safetensors");
    CHECK(f.tensor("z").shape() == Shape{3, 0});
    CHECK(f.tensor("a")[0] == 7.f);
    write_bytes(dir / "e.safetensors", safetensors_bytes("{}", ""));
    CHECK(io::read_safetensors(dir / "e.safetensors").names.empty());
  }
  SECTION("a known but unconvertible dtype loads; asking for it names the dtype") {
    const std::string h = R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[],"data_offsets":[8,12]}})";
    write_bytes(dir / "i.safetensors", safetensors_bytes(h, std::string(8, '\0') + f32_bytes({2.f})));
    const auto f = io::read_safetensors(dir / "i.safetensors");
    CHECK(f.tensor("a")[0] == 2.f);
    CHECK_THROWS_AS(f.tensor("n"), FormatError);
    CHECK_THROWS_WITH(f.tensor("n"), Catch::Contains("I64") && Catch::Contains("'n'"));
  }
}

TEST_CASE("safetensors: every header rule has its own message", "[io][safetensors]") {
  const std::string ok4 = f32_bytes({1.f});
  auto one = [](const std::string& name, const std::string& body) { return "{\"" + name + "\":" + body + "}"; };
  SECTION("length field") {
    TempDir dir;
    write_bytes(dir / "bad.safetensors", std::string("\x02\x00\x00", 3));
    CHECK_THROWS_WITH(io::read_safetensors(dir / "bad.safetensors"), Catch::Contains("shorter than the 8-byte"));
    auto with_len = [&](std::uint64_t n, const std::string& rest) {
      std::string s(8, '\0');
      for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
      write_bytes(dir / "bad.safetensors", s + rest);
      try {
        (void)io::read_safetensors(dir / "bad.safetensors");
        return std::string("no exception");
      } catch (const FormatError& e) {
        return std::string(e.what());
      }
    };
    CHECK_THAT(with_len(0, ""), Catch::Contains("below the minimum"));
    CHECK_THAT(with_len(1, "{"), Catch::Contains("below the minimum"));
    CHECK_THAT(with_len(200'000'000, "{}"), Catch::Contains("exceeds the limit"));
    CHECK_THAT(with_len(~std::uint64_t{0} - 3, "{}"), Catch::Contains("exceeds the limit"));
    CHECK_THAT(with_len(50, "{}"), Catch::Contains("past the end"));
  }
  SECTION("encoding and JSON") {
    require_format_error("{\"a\xff\":1}", "", {"UTF-8"});
    require_format_error("{\"a\":", "", {"not valid JSON"});
    require_format_error("[1, 2]", "", {"not a JSON object"});
    require_format_error("{\"a\":{\"b\":{\"c\":{}}}}", "", {"nests deeper"});
    require_format_error(std::string(100000, '[') + std::string(100000, ']'), "", {"nests deeper"});
    require_format_error(R"({"__metadata__":[1]})", "", {"__metadata__ is not an object"});
    require_format_error(R"({"__metadata__":{"k":1}})", "", {"__metadata__", "'k'", "not a string"});
  }
  SECTION("entries") {
    require_format_error(one("a", "3"), "", {"tensor 'a'", "not an object"});
    require_format_error(one("a", R"({"shape":[1],"data_offsets":[0,4]})"), ok4, {"tensor 'a'", "missing field 'dtype'"});
    require_format_error(one("a", R"({"dtype":"F32","data_offsets":[0,4]})"), ok4, {"missing field 'shape'"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1]})"), ok4, {"missing field 'data_offsets'"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1})"), ok4, {"unexpected field 'x'"});
    require_format_error(one("a", R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})"), ok4, {"dtype is not a string"});
    require_format_error(one("a", R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})"), ok4, {"unknown dtype 'F33'"});
    require_format_error(one("a", R"({"dtype":"F32","shape":1,"data_offsets":[0,4]})"), ok4, {"shape is not an array"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), ok4, {"shape[0] is negative"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), ok4, {"not an integer"});
    require_format_error(one("a", R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})"), ok4, {"not a number"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]})"), ok4, {"rank 5"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})"), ok4, {"too large"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"), ok4, {"overflows"});
    require_format_error(one("a", R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]})"), ok4, {"overflows"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), ok4, {"[begin, end]"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})"), ok4, {"end 0 < begin 4"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1],"data_offsets":[0,-4]})"), ok4, {"negative"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), ok4, {"needs 8"});
    require_format_error(one("", R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), ok4, {"empty tensor name"});
    require_format_error(one(std::string("a\\u0000b"), R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), ok4, {"NUL"});
  }
  SECTION("duplicates") {
    require_format_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         ok4 + ok4, {"duplicate tensor name 'a'"});
    require_format_error(one("a", R"({"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]})"), ok4,
                         {"tensor 'a'", "duplicate key 'dtype'"});
  }
  SECTION("layout of the data") {
    const std::string a0 = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
    require_format_error("{" + a0 + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", ok4 + ok4 + ok4,
                         {"tensor 'b'", "gap"});
    require_format_error("{" + a0 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})", ok4 + ok4 + "xx",
                         {"tensor 'b'", "overlap"});
    require_format_error(one("a", R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), ok4 + ok4, {"starts at 4, not 0"});
    require_format_error("{" + a0 + "}", ok4 + "x", {"1 trailing bytes"});
    require_format_error("{" + a0 + "}", "xy", {"truncated"});
    require_format_error("{}", "x", {"trailing"});
  }
}
