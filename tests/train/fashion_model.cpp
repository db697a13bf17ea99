// The shipped Fashion-MNIST VGG (examples/data/fashion_vgg.safetensors) and its trainer
// (examples/train_fashion). CI does not train: these check the shipped file against its shipped
// test images, and the training step on a few of those images.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../../examples/train_fashion/trainer.hpp"
#include "gradattr/io/image.hpp"
#include "gradattr/io/safetensors.hpp"
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/cut_helpers.hpp"

using namespace gradattr;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(GRADATTR_SOURCE_DIR) / "examples" / "data";

// The CLI's grey preprocessing (examples/cli/common.hpp, load_image_input): luminance of the
// RGB the image loader gives (grey PNGs are replicated to RGB), in [0, 1].
float luminance(const std::uint8_t* p) { return (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.0f; }

struct Samples {
  Tensor<float> x;  // [N, 1, 28, 28]
  std::vector<std::int64_t> labels;
};

// Every examples/data/fashion/<class>_<slug>_<k>.png, in name order, through io::read_image and
// the CLI's conversion.
Samples load_samples() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kData / "fashion"))
    if (e.path().extension() == ".png") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Samples s{Tensor<float>(Shape{static_cast<std::int64_t>(files.size()), 1, 28, 28}), {}};
  for (std::size_t n = 0; n < files.size(); ++n) {
    const std::string name = files[n].filename().string();
    const auto img = io::read_image(files[n]);
    REQUIRE(img.width == 28);
    REQUIRE(img.height == 28);
    const int cls = name[0] - '0';
    REQUIRE((cls >= 0 && cls <= 9 && name[1] == '_'));
    REQUIRE(name.substr(2, name.rfind('_') - 2) == train_fashion::slug(train_fashion::kClassNames[static_cast<std::size_t>(cls)]));
    s.labels.push_back(cls);
    for (int i = 0; i < 28 * 28; ++i) s.x[static_cast<std::int64_t>(n) * 784 + i] = luminance(&img.rgb[static_cast<std::size_t>(i) * 3]);
  }
  return s;
}

}  // namespace

TEST_CASE("A grey PNG round-trips through the CLI's luminance to the training values", "[train][fashion]") {
  // Training sees b / 255.f (io::idx_images_to_float); the CLI sees the luminance of (b, b, b).
  float worst = 0;
  for (int b = 0; b < 256; ++b) {
    const std::uint8_t p[3] = {static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(b)};
    worst = std::max(worst, std::abs(luminance(p) - static_cast<float>(b) / 255.f));
  }
  INFO("worst |luminance - b/255| = " << worst);
  REQUIRE(worst <= 1.2e-7f);  // at most one float ulp near 1
}

TEST_CASE("The shipped Fashion-MNIST VGG loads with its metadata and classifies its shipped images", "[train][fashion]") {
  const auto file = io::read_safetensors(kData / "fashion_vgg.safetensors");
  for (const char* key : {"classes", "gradattr.preprocess", "training.command", "training.seed", "training.epochs",
                          "training.test_accuracy", "gradattr.commit"}) {
    INFO(key);
    REQUIRE(file.metadata.count(key) == 1);
  }
  REQUIRE(file.metadata.at("gradattr.preprocess") == "grey:28x28");
  for (const auto& name : file.names) REQUIRE(file.dtype(name) == "F32");
  REQUIRE(std::stod(file.metadata.at("training.test_accuracy")) >= 0.91);

  const auto model = models::vgg_from_safetensors<float>(file);
  REQUIRE(model.class_names() == std::vector<std::string>(train_fashion::kClassNames.begin(), train_fashion::kClassNames.end()));
  const auto want = train_fashion::fashion_config();
  REQUIRE(model.config().features == want.features);
  REQUIRE(model.config().in_channels == 1);
  REQUIRE(model.config().pool_size == want.pool_size);
  REQUIRE(model.config().hidden == want.hidden);
  REQUIRE(model.output_shape(Shape{1, 1, 28, 28}, "input", "last_conv") == Shape{1, 64, 7, 7});

  const Samples s = load_samples();
  REQUIRE(s.labels.size() == 120);  // 12 per class
  for (int c = 0; c < 10; ++c) REQUIRE(std::count(s.labels.begin(), s.labels.end(), c) == 12);
  const Tensor<float> z = model.forward(s.x);
  int correct = 0;
  for (std::int64_t n = 0; n < z.dim(0); ++n) {
    const float* row = z.data() + n * 10;
    correct += (std::max_element(row, row + 10) - row) == s.labels[static_cast<std::size_t>(n)];
  }
  INFO(correct << " of " << s.labels.size() << " correct");
  REQUIRE(correct >= 102);  // >= 85%
}

// core/parallel.hpp keeps this model's small loops on the calling thread by default (they ran 2x
// slower on a team of 2). Which loops go parallel must never change a value: the logits and the
// input gradient at 2 threads with the library's two default thresholds, with every loop parallel
// (0), and at 1 thread are the same bits.
TEST_CASE("The Fashion VGG's outputs and input gradient do not depend on which loops go parallel", "[train][fashion][threads]") {
  const auto model = models::vgg_from_safetensors<float>(kData / "fashion_vgg.safetensors");
  const Samples s = load_samples();
  const Tensor<float> x = s.x.slice_batch(0).clone();
  auto run = [&] {
    ad::Tape<float> tape;
    auto vx = tape.variable(x);
    auto z = gradattr::testing::from_layer(model, vx, "input", tape);
    auto logit = ad::sum(ad::gather(z, {static_cast<std::int64_t>(s.labels[0])}));
    return std::pair{z.value().clone(), ad::grad(tape, logit, {vx})[0]};
  };
  const std::int64_t threshold = parallel_threshold();
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run();
  omp_set_num_threads(2);
  set_parallel_threshold(kDefaultParallelThreshold);
  const auto spinning = run();
  set_parallel_threshold(kPassiveParallelThreshold);
  const auto passive = run();
  set_parallel_threshold(0);
  const auto all = run();
  set_parallel_threshold(threshold);
  omp_set_num_threads(threads);
  for (const auto* r : {&spinning, &passive, &all}) {
    REQUIRE(std::memcmp(r->first.data(), one.first.data(), sizeof(float) * static_cast<std::size_t>(one.first.numel())) == 0);
    REQUIRE(std::memcmp(r->second.data(), one.second.data(), sizeof(float) * static_cast<std::size_t>(one.second.numel())) == 0);
  }
}

TEST_CASE("Two training steps are bitwise deterministic and lower the loss", "[train][fashion]") {
  const Samples s = load_samples();
  // A fixed subset of 32: every 4th image of the name-sorted list (3 of each class), plus two.
  train_fashion::Dataset d{s.x, s.labels};
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < 120; i += 4) order.push_back(i);
  order.push_back(1);
  order.push_back(5);
  const auto batch = train_fashion::make_batch(d, order, 0, static_cast<std::int64_t>(order.size()));

  auto run = [&] {
    auto model = models::vgg<float>(train_fashion::fashion_config(), 5);
    train_fashion::Optimizer opt = nn::Adam<float>({.lr = 1e-3});
    std::vector<float> losses;
    for (int step = 0; step < 2; ++step) losses.push_back(train_fashion::train_step(model, opt, batch).loss);
    losses.push_back(nn::cross_entropy(ad::Var<float>(model.forward(batch.x)), batch.labels).value()[0]);
    return losses;
  };
  const auto a = run(), b = run();
  REQUIRE(a.size() == 3);
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::memcmp(&a[i], &b[i], sizeof(float)) == 0);
  INFO("losses " << a[0] << " " << a[1] << " " << a[2]);
  REQUIRE(a[1] < a[0]);
  REQUIRE(a[2] < a[1]);
}

TEST_CASE("A missing or truncated Fashion-MNIST file is an error naming it", "[train][fashion]") {
  const fs::path missing = fs::temp_directory_path() / "gradattr-no-such-dataset-dir";
  try {
    (void)train_fashion::load_fashion(missing, "train");
    FAIL("no error");
  } catch (const IoError& e) {
    REQUIRE_THAT(e.what(), Catch::Contains((missing / "train-images-idx3-ubyte.gz").string()));
  }

  // Labels present, images truncated after the header.
  const fs::path dir = fs::temp_directory_path() / ("gradattr-truncated-idx-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "t10k-images-idx3-ubyte.gz", std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
    std::ofstream l(dir / "t10k-labels-idx1-ubyte.gz", std::ios::binary);
    const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 4};
    l.write(reinterpret_cast<const char*>(labels), sizeof labels);
  }
  try {
    (void)train_fashion::load_fashion(dir, "t10k");
    FAIL("no error");
  } catch (const FormatError& e) {
    REQUIRE_THAT(e.what(), Catch::Contains("t10k-images-idx3-ubyte.gz") && Catch::Contains("truncated"));
  }
  fs::remove_all(dir);
}
