// models::vgg: the family's layout and names, aliases, initialisation, cut points, input-size
// errors, batch independence, thread sharing, and a finite-difference check of a whole small VGG.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/gradcheck.hpp"
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/cut_helpers.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"
#include "support/errors.hpp"

using namespace gradattr;
using models::Vgg;

namespace {


// Tiny widths (2, 4, 8, 16, 16), a 8-8 head and 10 classes: every shape small, every path real.
models::VggOptions tiny(std::uint64_t seed = 1) {
  return models::VggOptions{.width_scale = 1.0 / 32, .hidden = {8, 8}, .num_classes = 10, .seed = seed};
}

using testing::error_of;

}  // namespace

TEST_CASE("vgg: the family's layouts in torchvision's naming", "[models][vgg]") {
  struct Case {
    int depth, convs, features;
  };
  for (const Case c : {Case{11, 8, 21}, Case{13, 10, 25}, Case{16, 13, 31}, Case{19, 16, 37}}) {
    INFO("VGG" << c.depth);
    const auto m = models::vgg<float>(c.depth, tiny());
    CHECK(m.config().depth() == c.depth);
    const auto names = m.layer_names();
    // features.0 .. features.(n-1), avgpool, flatten, classifier.0 .. classifier.6
    REQUIRE(names.size() == static_cast<std::size_t>(c.features + 2 + 7));
    for (int i = 0; i < c.features; ++i) CHECK(names[static_cast<std::size_t>(i)] == "features." + std::to_string(i));
    CHECK(names[static_cast<std::size_t>(c.features)] == "avgpool");
    CHECK(names[static_cast<std::size_t>(c.features) + 1] == "flatten");
    for (int i = 0; i < 7; ++i)
      CHECK(names[static_cast<std::size_t>(c.features) + 2 + static_cast<std::size_t>(i)] ==
            "classifier." + std::to_string(i));
    int convs = 0;
    for (const auto& e : m.layers()) convs += std::holds_alternative<nn::Conv2d<float>>(e.layer);
    CHECK(convs == c.convs);
    CHECK(m.num_classes() == 10);
    CHECK(m.forward(testing::random_tensor<float>({2, 3, 32, 32}, 3)).shape() == Shape{2, 10});
  }
  // Parameter names are torchvision's state_dict names, in its order.
  const auto m = models::vgg<float>(19, tiny());
  const auto ps = m.parameters();
  REQUIRE(ps.size() == 2 * (16 + 3));
  CHECK(ps[0].name == "features.0.weight");
  CHECK(ps[1].name == "features.0.bias");
  CHECK(ps[31].name == "features.34.bias");
  CHECK(ps[32].name == "classifier.0.weight");
  CHECK(ps[32].tensor.shape() == Shape{8, 16 * 49});
  CHECK(ps.back().name == "classifier.6.bias");
  // The standard VGG19's parameter count (143,667,240), from the config without allocating it.
  const auto c = models::vgg_config(19);
  std::int64_t count = 0, prev = 3;
  for (auto v : c.features)
    if (v != models::kVggPool) count += v * prev * 9 + v, prev = v;
  count += 4096 * (512 * 49) + 4096 + 4096 * 4096 + 4096 + 1000 * 4096 + 1000;
  CHECK(count == 143667240);
  CHECK(c.depth() == 19);
  CHECK_THROWS_AS(models::vgg_cfg(17), ArgumentError);
}

TEST_CASE("vgg: other input channels, class counts and heads", "[models][vgg]") {
  auto o = tiny();
  o.in_channels = 1;
  o.num_classes = 7;
  o.hidden = {5};
  const auto m = models::vgg<double>(11, o);
  CHECK(m.num_classes() == 7);
  CHECK(m.layer_names().back() == "classifier.3");
  CHECK(m.forward(testing::random_tensor<double>({1, 1, 40, 36}, 4)).shape() == Shape{1, 7});
}

TEST_CASE("vgg: aliases", "[models][vgg][names]") {
  const auto m19 = models::vgg<float>(19, tiny());
  CHECK(m19.resolve_layer("block5_conv4") == "features.35");
  CHECK(m19.resolve_layer("conv5_4") == "features.35");
  CHECK(m19.resolve_layer("block5_pool") == "features.36");
  CHECK(m19.resolve_layer("block1_conv1") == "features.1");
  CHECK(m19.resolve_layer("block1_pool") == "features.4");
  CHECK(m19.resolve_layer("block3_conv4") == "features.17");
  CHECK(m19.resolve_layer("conv3_4") == "features.17");
  CHECK(m19.resolve_layer("features") == "features.35");
  CHECK(m19.resolve_layer("last_conv") == "features.35");
  CHECK(m19.resolve_layer("features.20") == "features.20");
  CHECK(m19.resolve_layer("input") == "input");
  CHECK(m19.last_conv_layer() == "features.35");
  const auto m16 = models::vgg<float>(16, tiny());
  CHECK(m16.resolve_layer("block5_conv3") == "features.29");
  CHECK(m16.resolve_layer("last_conv") == "features.29");
  CHECK(m16.resolve_layer("block5_pool") == "features.30");
  // An alias cuts exactly where its canonical name does.
  const auto x = testing::random_tensor<float>({1, 3, 32, 32}, 5);
  REQUIRE_CLOSE(gradattr::testing::activation_at(m19, x, "block4_conv2"), gradattr::testing::activation_at(m19, x, "features.22"), 0, 0);
}

TEST_CASE("vgg: an unknown layer's error lists the valid names", "[models][vgg][names]") {
  const auto m = models::vgg<float>(19, tiny());
  const auto msg = error_of<ArgumentError>([&] { (void)m.resolve_layer("features.99"); });
  CHECK_THAT(msg, Catch::Contains("unknown layer 'features.99'"));
  for (const char* n : {"input", "features.0", "features.36", "avgpool", "flatten", "classifier.6", "block5_conv4",
                        "block5_pool", "conv5_4", "last_conv"})
    CHECK_THAT(msg, Catch::Contains(n));
  const auto x = testing::random_tensor<float>({1, 3, 32, 32}, 5);
  CHECK_THROWS_AS(gradattr::testing::activation_at(m, x, "block6_conv1"), ArgumentError);
  ad::Tape<float> tape;
  CHECK_THROWS_AS(gradattr::testing::from_layer(m, tape.variable(x), "nope", tape), ArgumentError);
}

TEST_CASE("vgg: an input below the receptive field is a ShapeError naming the layer, before any work",
          "[models][vgg][shapes]") {
  const auto m = models::vgg<float>(19, tiny());
  const auto convs = kernels::call_count(kernels::KernelId::conv2d_forward);
  const auto pools = kernels::call_count(kernels::KernelId::max_pool2d_forward);
  // 8x8: the pools give 4, 2, 1, then features.27 has no 2x2 window.
  const auto msg = error_of<ShapeError>([&] { (void)m.forward(testing::random_tensor<float>({1, 3, 8, 8}, 1)); });
  CHECK_THAT(msg, Catch::Contains("features.27"));
  CHECK_THAT(msg, Catch::Contains("[1, 3, 8, 8]"));
  CHECK_THAT(msg, Catch::Contains(">= 32"));
  CHECK(kernels::call_count(kernels::KernelId::conv2d_forward) == convs);
  CHECK(kernels::call_count(kernels::KernelId::max_pool2d_forward) == pools);
  // Wrong channel count: the first conv, named.
  CHECK_THAT(error_of<ShapeError>([&] { (void)m.forward(testing::random_tensor<float>({1, 1, 32, 32}, 1)); }),
             Catch::Contains("features.0"));
  // forward_from checks the activation against the rest of the network.
  ad::Tape<float> tape;
  auto a = tape.variable(testing::random_tensor<float>({1, 16, 1, 1}, 2));
  CHECK_THAT(error_of<ShapeError>([&] { (void)gradattr::testing::from_layer(m, a, "features.35", tape); }), Catch::Contains("features.36"));
  // 31x31 fails too, 32x32 is the smallest input.
  CHECK_THROWS_AS(m.forward(testing::random_tensor<float>({1, 3, 31, 31}, 1)), ShapeError);
  CHECK(m.output_shape(Shape{1, 3, 32, 32}) == Shape{1, 10});
  CHECK(m.output_shape(Shape{1, 3, 64, 64}, "input", "features.35") == Shape{1, 16, 4, 4});
}

TEST_CASE("vgg: torchvision's initialisation, deterministic for a seed", "[models][vgg][init]") {
  auto o = tiny(42);
  o.width_scale = 1.0 / 4;  // conv widths 16 ... 128: enough samples for the statistics
  o.hidden = {256, 256};
  const auto a = models::vgg<float>(16, o), b = models::vgg<float>(16, o);
  o.seed = 43;
  const auto c = models::vgg<float>(16, o);
  const auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    REQUIRE_CLOSE(pa[i].tensor, pb[i].tensor, 0, 0);
    const Tensor<float>& t = pa[i].tensor;
    double s = 0, s2 = 0;
    for (float v : t) s += v, s2 += double(v) * v;
    const double n = static_cast<double>(t.numel()), mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
    if (t.rank() == 1) {
      CHECK(s2 == 0);  // biases zero
      continue;
    }
    CHECK(pc[i].tensor[0] != t[0]);
    const double want = t.rank() == 4 ? std::sqrt(2.0 / static_cast<double>(t.dim(0) * 9)) : 0.01;
    CHECK(std::abs(mean) < 5 * want / std::sqrt(n));
    CHECK(sd == Approx(want).epsilon(t.numel() > 20000 ? 0.02 : 0.08));
  }
}

TEST_CASE("vgg: forward == forward_from(forward_until(x, L), L) at every layer", "[models][vgg][cut]") {
  const auto m = models::vgg_from_safetensors<float>(gradattr::testing::data_file("vgg_tiny/model.safetensors"));
  const auto x = testing::random_tensor<float>({1, 3, 32, 40}, 9);
  const auto z = m.forward(x);
  auto names = m.layer_names();
  names.insert(names.begin(), "input");
  for (const auto& L : names) {
    INFO("layer " << L);
    const auto a = gradattr::testing::activation_at(m, x, L);
    ad::Tape<float> tape;
    REQUIRE_CLOSE(gradattr::testing::from_layer(m, a, L, tape).value(), z, 0, 0);  // constant: nothing recorded
    CHECK(tape.size() == 0);
    auto va = tape.variable(a);
    const auto zt = gradattr::testing::from_layer(m, va, L, tape);
    REQUIRE_CLOSE(zt.value(), z, 0, 0);
    if (L != "classifier.6") CHECK(zt.tracked());
  }
  REQUIRE_CLOSE(gradattr::testing::activation_at(m, x, "classifier.6"), z, 0, 0);
  REQUIRE_CLOSE(gradattr::testing::activation_at(m, x, "input"), x, 0, 0);
}

TEST_CASE("vgg: each image's logits do not depend on the rest of the batch", "[models][vgg]") {
  const auto m = models::vgg_from_safetensors<float>(gradattr::testing::data_file("vgg_tiny/model.safetensors"));
  const auto x = testing::random_tensor<float>({3, 3, 48, 48}, 11);
  const auto z = m.forward(x);
  for (std::int64_t n = 0; n < 3; ++n) {
    INFO("image " << n);
    REQUIRE_CLOSE(m.forward(x.slice_batch(n).clone()), z.slice_batch(n).clone(), 1e-5, 1e-5);
  }
}

TEST_CASE("vgg: a const model is shared by threads, each call with its own tape", "[models][vgg][threads]") {
  const auto m = models::vgg_from_safetensors<double>(gradattr::testing::data_file("vgg_tiny/model_f64.safetensors"));
  const auto x = testing::random_tensor<double>({1, 3, 32, 32}, 12);
  auto run = [&] {
    ad::Tape<double> tape;
    auto vx = tape.variable(x);
    auto s = ad::sum(ad::gather(gradattr::testing::from_layer(m, vx, "input", tape), {3}));
    return ad::grad(tape, s, {vx})[0];
  };
  const auto ref = run();
  Tensor<double> g1, g2;
  std::thread t1([&] { g1 = run(); }), t2([&] { g2 = run(); });
  t1.join();
  t2.join();
  REQUIRE_CLOSE(g1, ref, 0, 0);
  REQUIRE_CLOSE(g2, ref, 0, 0);
}

TEST_CASE("vgg: gradcheck of a logit with respect to the input of a small double VGG", "[models][vgg][gradcheck]") {
  auto o = tiny(7);
  o.width_scale = 1.0 / 64;  // widths 1, 2, 4, 8, 8
  o.hidden = {6, 6};
  o.in_channels = 1;  // 1024 input elements, two forwards each
  const auto m = models::vgg<double>(11, o);
  const auto x = ad::kink_free_random(Shape{1, 1, 32, 32}, 13);
  const auto r = ad::gradcheck(
      [&](const std::vector<ad::Var<double>>& v) {
        ad::Tape<double> unused;  // the finite-difference calls pass constants
        ad::Tape<double>& tape = v[0].tracked() ? *v[0].tape() : unused;
        return ad::sum(ad::gather(gradattr::testing::from_layer(m, v[0], "input", tape), {4}));
      },
      {x});
  INFO(r.str());
  CHECK(r.passed);
}
