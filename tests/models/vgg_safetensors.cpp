// VGG weights files: timm names, save/load round trips with class names, and FormatErrors for
// missing, extra and mis-shaped tensors (each naming the tensor, and both shapes for a shape).
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/io/safetensors.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr;
namespace fs = std::filesystem;

namespace {


struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("gradattr_vgg_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& f) const { return path / f; }
};

// The fixture's tensors in file order.
std::vector<io::NamedTensor> fixture_tensors() {
  const auto f = io::read_safetensors(gradattr::testing::data_file("vgg_tiny/model.safetensors"));
  std::vector<io::NamedTensor> ts;
  for (const auto& n : f.names) ts.push_back({n, f.tensor(n)});
  return ts;
}

Tensor<float>& get(std::vector<io::NamedTensor>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return std::get<Tensor<float>>(t.tensor);
  FAIL("no tensor " << name);
  throw 0;
}

void remove_tensor(std::vector<io::NamedTensor>& ts, const std::string& name) {
  std::erase_if(ts, [&](const io::NamedTensor& t) { return t.name == name; });
}

std::string load_error(const TempDir& dir, const std::vector<io::NamedTensor>& ts,
                       const std::map<std::string, std::string>& meta = {}) {
  const auto p = dir / "bad.safetensors";
  io::write_safetensors(p, ts, meta);
  try {
    (void)models::vgg_from_safetensors<float>(p);
  } catch (const FormatError& e) {
    return e.what();
  }
  FAIL("no FormatError");
  return {};
}

const Tensor<float> kInput = testing::random_tensor<float>({2, 3, 64, 64}, 21);

}  // namespace

TEST_CASE("vgg safetensors: timm names give the same model", "[models][vgg][io]") {
  TempDir dir;
  auto ts = fixture_tensors();
  std::vector<io::NamedTensor> timm;
  for (auto& t : ts) {
    if (t.name.rfind("features.", 0) == 0) timm.push_back(t);
  }
  const auto& w0 = get(ts, "classifier.0.weight");  // [64, 32·49] -> the 7x7 conv [64, 32, 7, 7]
  timm.push_back({"pre_logits.fc1.weight", w0.clone().reshape({64, 32, 7, 7})});
  timm.push_back({"pre_logits.fc1.bias", get(ts, "classifier.0.bias")});
  timm.push_back({"pre_logits.fc2.weight", get(ts, "classifier.3.weight").clone().reshape({64, 64, 1, 1})});
  timm.push_back({"pre_logits.fc2.bias", get(ts, "classifier.3.bias")});
  timm.push_back({"head.fc.weight", get(ts, "classifier.6.weight")});
  timm.push_back({"head.fc.bias", get(ts, "classifier.6.bias")});
  io::write_safetensors(dir / "timm.safetensors", timm);

  const auto tv = models::vgg_from_safetensors<float>(gradattr::testing::data_file("vgg_tiny/model.safetensors"));
  const auto tm = models::vgg_from_safetensors<float>(dir / "timm.safetensors");
  CHECK(tm.config().depth() == 19);
  CHECK(tm.config().hidden == tv.config().hidden);
  CHECK(tm.layer_names() == tv.layer_names());
  REQUIRE_CLOSE(tm.forward(kInput), tv.forward(kInput), 0, 0);

  SECTION("a timm head of the wrong shape names the tensor") {
    remove_tensor(timm, "pre_logits.fc2.weight");
    timm.push_back({"pre_logits.fc2.weight", Tensor<float>({64, 64, 3, 3})});
    const auto msg = load_error(dir, timm);
    CHECK_THAT(msg, Catch::Contains("'pre_logits.fc2.weight' has shape [64, 64, 3, 3], expected [64, 64, 1, 1]"));
  }
  SECTION("a missing timm tensor is named") {
    remove_tensor(timm, "head.fc.bias");
    CHECK_THAT(load_error(dir, timm), Catch::Contains("missing tensor 'head.fc.bias'"));
  }
}

TEST_CASE("vgg safetensors: save and load round-trip weights and class names", "[models][vgg][io]") {
  TempDir dir;
  auto m = models::vgg<float>(13, {.width_scale = 1.0 / 32, .in_channels = 1, .hidden = {12, 9}, .num_classes = 4});
  m.set_class_names({"cat", "dog, big", "b\"ird", "näme"});
  models::save_vgg_safetensors(dir / "m.safetensors", m, {{"note", "trained"}});
  const auto f = io::read_safetensors(dir / "m.safetensors");
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.metadata.at("note") == "trained");
  CHECK(f.dtype("features.0.weight") == "F32");
  const auto back = models::vgg_from_safetensors<float>(f);
  CHECK(back.class_names() == m.class_names());
  CHECK(back.config().depth() == 13);
  CHECK(back.config().in_channels == 1);
  CHECK(back.config().hidden == std::vector<std::int64_t>{12, 9});
  const auto pa = std::as_const(m).parameters(), pb = back.parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    CHECK(pa[i].name == pb[i].name);
    REQUIRE_CLOSE(pa[i].tensor, pb[i].tensor, 0, 0);
  }
  const auto x = testing::random_tensor<float>({1, 1, 32, 32}, 3);
  REQUIRE_CLOSE(back.forward(x), m.forward(x), 0, 0);

  // double models save F64.
  const auto md = models::vgg<double>(11, {.width_scale = 1.0 / 32, .hidden = {4, 4}, .num_classes = 3});
  models::save_vgg_safetensors(dir / "d.safetensors", md);
  CHECK(io::read_safetensors(dir / "d.safetensors").dtype("classifier.6.bias") == "F64");
  CHECK(models::vgg_from_safetensors<double>(dir / "d.safetensors").class_names().empty());
}

TEST_CASE("vgg safetensors: class names as JSON or lines", "[models][vgg][io]") {
  CHECK(models::parse_class_names("[\"a\", \"b c\"]") == std::vector<std::string>{"a", "b c"});
  CHECK(models::parse_class_names("a\nb c\r\nd\n") == std::vector<std::string>{"a", "b c", "d"});
  CHECK(models::parse_class_names(models::format_class_names({"x", "[y]"})) == std::vector<std::string>{"x", "[y]"});
  CHECK_THROWS_AS(models::parse_class_names("[1, 2]"), FormatError);
  CHECK_THROWS_AS(models::parse_class_names("[\"a\""), FormatError);
  TempDir dir;
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += "class " + std::to_string(i) + "\n";
  const auto p = dir / "named.safetensors";
  io::write_safetensors(p, fixture_tensors(), {{"classes", ten}});
  const auto m = models::vgg_from_safetensors<float>(p);
  REQUIRE(m.class_names().size() == 10);
  CHECK(m.class_names()[9] == "class 9");
  CHECK_THAT(load_error(dir, fixture_tensors(), {{"classes", "a\nb"}}), Catch::Contains("2 names for 10 classes"));
}

TEST_CASE("vgg safetensors: missing, extra and mis-shaped tensors are FormatErrors naming them", "[models][vgg][io]") {
  TempDir dir;
  auto ts = fixture_tensors();
  SECTION("missing conv weight") {
    remove_tensor(ts, "features.2.weight");
    CHECK_THAT(load_error(dir, ts), Catch::Contains("missing tensor 'features.2.weight'"));
  }
  SECTION("missing conv bias") {
    remove_tensor(ts, "features.34.bias");
    CHECK_THAT(load_error(dir, ts), Catch::Contains("missing tensor 'features.34.bias'"));
  }
  SECTION("missing linear bias") {
    remove_tensor(ts, "classifier.3.bias");
    CHECK_THAT(load_error(dir, ts), Catch::Contains("missing tensor 'classifier.3.bias'"));
  }
  SECTION("missing first conv") {
    remove_tensor(ts, "features.0.weight");
    remove_tensor(ts, "features.0.bias");
    CHECK_THAT(load_error(dir, ts), Catch::Contains("features.0.weight"));
  }
  SECTION("a whole conv missing breaks the layout") {
    remove_tensor(ts, "features.7.weight");
    remove_tensor(ts, "features.7.bias");
    const auto msg = load_error(dir, ts);
    CHECK_THAT(msg, Catch::Contains("features.5"));
    CHECK_THAT(msg, Catch::Contains("features.10"));
  }
  SECTION("extra tensor") {
    ts.push_back({"extra.weight", Tensor<float>({3})});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("unexpected tensor 'extra.weight'"));
  }
  SECTION("extra classifier tensor") {
    ts.push_back({"classifier.1.weight", Tensor<float>({3})});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("unexpected tensor 'classifier.1.weight'"));
  }
  SECTION("batch-norm style tensor") {
    ts.push_back({"features.1.running_mean", Tensor<float>({4})});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("unexpected tensor 'features.1.running_mean'"));
  }
  SECTION("conv input channels that do not chain") {
    get(ts, "features.5.weight") = Tensor<float>({8, 7, 3, 3});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("'features.5.weight' has shape [8, 7, 3, 3], expected [8, 4, 3, 3]"));
  }
  SECTION("conv kernel not 3x3") {
    get(ts, "features.10.weight") = Tensor<float>({16, 8, 5, 5});
    CHECK_THAT(load_error(dir, ts),
               Catch::Contains("'features.10.weight' has shape [16, 8, 5, 5], expected [16, 8, 3, 3]"));
  }
  SECTION("conv bias") {
    get(ts, "features.0.bias") = Tensor<float>({5});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("'features.0.bias' has shape [5], expected [4]"));
  }
  SECTION("first linear does not take the 7x7 map") {
    get(ts, "classifier.0.weight") = Tensor<float>({64, 1500});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("'classifier.0.weight' has shape [64, 1500], expected [64, 1568]"));
  }
  SECTION("linear widths that do not chain") {
    get(ts, "classifier.6.weight") = Tensor<float>({10, 63});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("'classifier.6.weight' has shape [10, 63], expected [10, 64]"));
  }
  SECTION("linear bias") {
    get(ts, "classifier.6.bias") = Tensor<float>({11});
    CHECK_THAT(load_error(dir, ts), Catch::Contains("'classifier.6.bias' has shape [11], expected [10]"));
  }
}
