// vgg_logits: load VGG weights (torchvision or timm names, safetensors) or build a seeded VGG19,
// run one seeded random image through it and print the top-5 logits and the forward's timing.
//
//   vgg_logits [weights.safetensors] [--size S] [--repeat R]
//
// Without a weights file the model is torchvision's VGG19 with its initialisation from seed 0
// (143.7 M parameters: a few seconds to draw). The input is N(0, 1) from seed 1, [1, C, S, S]
// (S = 224 by default).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gradattr/models/vgg_safetensors.hpp"

int main(int argc, char** argv) {
  using namespace gradattr;
  using Clock = std::chrono::steady_clock;
  try {
    std::string weights;
    std::int64_t size = 224;
    int repeat = 3;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--size" && i + 1 < argc)
        size = std::atoll(argv[++i]);
      else if (a == "--repeat" && i + 1 < argc)
        repeat = std::max(1, std::atoi(argv[++i]));
      else if (a == "-h" || a == "--help") {
        std::puts("usage: vgg_logits [weights.safetensors] [--size S] [--repeat R]");
        return 0;
      } else
        weights = a;
    }

    const auto t0 = Clock::now();
    const models::Vgg<float> model =
        weights.empty() ? models::vgg19<float>(0) : models::vgg_from_safetensors<float>(weights);
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("model: VGG%d, %lld classes, %lld parameters (%s in %.2f s)\n", model.config().depth(),
                static_cast<long long>(model.num_classes()), static_cast<long long>(model.parameter_count()),
                weights.empty() ? "seeded" : weights.c_str(), load_s);

    Tensor<float> x = Tensor<float>::uninitialized({1, model.config().in_channels, size, size});
    std::mt19937_64 rng(1);
    std::normal_distribution<double> normal;
    for (auto& v : x) v = static_cast<float>(normal(rng));

    Tensor<float> z;
    std::vector<double> times;
    for (int r = 0; r < repeat; ++r) {
      const auto t = Clock::now();
      z = model.forward(x);
      times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
    }
    std::sort(times.begin(), times.end());
    std::printf("forward [1, %lld, %lld, %lld]: median %.4f s, min %.4f s over %d runs\n",
                static_cast<long long>(x.dim(1)), static_cast<long long>(size), static_cast<long long>(size),
                times[times.size() / 2], times.front(), repeat);

    std::vector<std::int64_t> order(static_cast<std::size_t>(z.dim(1)));
    std::iota(order.begin(), order.end(), 0);
    const auto k = std::min<std::size_t>(5, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::int64_t a, std::int64_t b) { return z(0, a) > z(0, b); });
    for (std::size_t i = 0; i < k; ++i) {
      const auto c = order[i];
      const std::string name = model.class_names().empty() ? "" : "  " + model.class_names()[static_cast<std::size_t>(c)];
      std::printf("  #%zu class %lld logit %.5f%s\n", i + 1, static_cast<long long>(c), z(0, c), name.c_str());
    }
    return 0;
  } catch (const ArgumentError& e) {
    std::fprintf(stderr, "vgg_logits: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vgg_logits: %s\n", e.what());
    return 1;
  }
}
