#include "gradattr/io/idx.hpp"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "io/io_testing.hpp"

using namespace gradattr;
using gradattr::testing::TempDir;
using gradattr::testing::write_bytes;

namespace {

const std::filesystem::path kFashion = "/usr/share/datasets/fashion-mnist";

std::string idx_bytes(std::uint8_t type, std::vector<std::uint32_t> dims, const std::string& data) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (auto d : dims)
    for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xff);
  return s + data;
}

std::string gzip(const std::string& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string idx_error(const std::string& bytes, bool images = true) {
  TempDir dir;
  write_bytes(dir / "bad.idx", bytes);
  try {
    if (images) (void)io::read_idx_images(dir / "bad.idx");
    else (void)io::read_idx_labels(dir / "bad.idx");
    return "no exception";
  } catch (const FormatError& e) {
    const std::string m = e.what();
    CHECK(m.find("bad.idx") != std::string::npos);
    return m;
  }
}

}  // namespace

TEST_CASE("idx: Debian's Fashion-MNIST", "[io][idx]") {
  // The README's test command installs Debian's dataset-fashion-mnist (scripts/install-deps.sh):
  // without it this is a failure, not a skip.
  for (const char* f : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                        "train-labels-idx1-ubyte.gz"}) {
    INFO((kFashion / f).string() << " is missing: apt-get install dataset-fashion-mnist (scripts/install-deps.sh)");
    REQUIRE(std::filesystem::exists(kFashion / f));
  }
  const auto x = io::read_idx_images(kFashion / "t10k-images-idx3-ubyte.gz");
  const auto y = io::read_idx_labels(kFashion / "t10k-labels-idx1-ubyte.gz");
  CHECK(x.shape() == Shape{10000, 1, 28, 28});
  REQUIRE(y.size() == 10000);
  CHECK(y[0] == 9);  // the first test image is an ankle boot
  CHECK(y[1] == 2);
  int counts[10] = {};
  bool in_range = true;
  for (int v : y) {
    in_range = in_range && v >= 0 && v < 10;
    if (v >= 0 && v < 10) ++counts[v];
  }
  CHECK(in_range);
  for (int c : counts) CHECK(c == 1000);
  float lo = 1, hi = 0;
  double sum = 0;
  for (float v : x) lo = std::min(lo, v), hi = std::max(hi, v), sum += v;
  CHECK(lo == 0.f);
  CHECK(hi == 1.f);
  CHECK(sum / static_cast<double>(x.numel()) == Approx(0.2868).margin(0.01));  // Fashion-MNIST's mean intensity
  CHECK(x(0, 0, 0, 0) == 0.f);  // a dark border

  const auto ytrain = io::read_idx_labels(kFashion / "train-labels-idx1-ubyte.gz");
  CHECK(ytrain.size() == 60000);
  CHECK(ytrain[0] == 9);
  const auto xtrain = io::read_idx_u8(kFashion / "train-images-idx3-ubyte.gz", 3);
  CHECK(xtrain.dims == std::vector<std::int64_t>{60000, 28, 28});
  CHECK_THROWS_WITH(io::read_idx_labels(kFashion / "t10k-images-idx3-ubyte.gz"), Catch::Contains("expected 1"));
}

TEST_CASE("idx: plain and gzip files, crafted errors", "[io][idx]") {
  TempDir dir;
  const std::string pixels = std::string("\x00\x80\xff\x10\x20\x30", 6);
  const std::string img = idx_bytes(0x08, {1, 2, 3}, pixels);
  write_bytes(dir / "a.idx", img);
  write_bytes(dir / "a.idx.gz", gzip(img));
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const auto x = io::read_idx_images(dir / name);
    CHECK(x.shape() == Shape{1, 1, 2, 3});
    CHECK(x[1] == 128.f / 255.f);
    CHECK(x[2] == 1.f);
  }
  write_bytes(dir / "l.idx", idx_bytes(0x08, {3}, "\x01\x02\x09"));
  CHECK(io::read_idx_labels(dir / "l.idx") == std::vector<int>{1, 2, 9});
  CHECK_THROWS_AS(io::read_idx_labels(dir / "missing.gz"), IoError);
  CHECK_THROWS_AS(io::read_idx_labels(dir.path()), IoError);

  CHECK_THAT(idx_error(""), Catch::Contains("too short"));
  CHECK_THAT(idx_error(std::string("\x01\x00\x08\x03", 4)), Catch::Contains("bad magic"));
  CHECK_THAT(idx_error(idx_bytes(0x0D, {1, 2, 3}, std::string(24, '\0'))), Catch::Contains("float"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {3}, "abc")), Catch::Contains("expected 3"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {1, 2, 3}, "abc"), true), Catch::Contains("truncated data"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {1, 2, 3}, pixels + "x")), Catch::Contains("1 trailing bytes"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {1, 2, 3}, pixels).substr(0, 10)), Catch::Contains("truncated header"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {0xffffffff, 0xffffffff, 0xffffffff}, "")), Catch::Contains("overflows"));
  CHECK_THAT(idx_error(idx_bytes(0x08, {1, 0, 3}, "")), Catch::Contains("image size"));
  const std::string gz = gzip(img);
  CHECK_THAT(idx_error(gz.substr(0, gz.size() - 12)), Catch::Contains("truncated gzip"));
  CHECK_THAT(idx_error(gz + "junk"), Catch::Contains("trailing bytes after the gzip"));
  std::string corrupt = gz;
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0xff);
  corrupt[13] = static_cast<char>(corrupt[13] ^ 0xff);
  CHECK_THAT(idx_error(corrupt), Catch::Contains("gzip"));
  // A gzip bomb stops at the limit.
  write_bytes(dir / "bomb.gz", gzip(idx_bytes(0x08, {1 << 20}, std::string(1 << 20, '\0'))));
  CHECK_THROWS_WITH(io::read_idx_u8(dir / "bomb.gz", 1, 4000), Catch::Contains("more than the limit"));
}
