// explain_one: one method, three score spaces. Runs GradCam<Pre>, GradCam<Post> and
// GradCam<LogSoftmax> on one image and prints y_c, z_c and how much the maps agree.
//
//   explain_one [WEIGHTS.safetensors INPUT.npy [LAYER]]
//
// With no arguments it builds a small seeded VGG (random weights, 10 classes) and a seeded
// random 64×64 image, so it runs anywhere. The only change between the three explanations is
// the policy type: GradCam<Pre> / GradCam<Post> / GradCam<LogSoftmax>.
// Expected: the Post and LogSoftmax displayed maps agree (their raw maps differ by the factor
// y_c > 0), while Pre's differs by the competitor term Σ_j y_j ∂z_j/∂A (docs/methods.md §1–2).
#include <cmath>
#include <cstdio>
#include <exception>
#include <random>
#include <string>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/io/npy.hpp"
#include "gradattr/models/vgg_safetensors.hpp"

using namespace gradattr;

namespace {

// max |a − b| over two displayed maps in [0, 1), and the Pearson correlation.
struct Agreement {
  double max_abs = 0, pearson = 0;
};
Agreement agree(const Tensor<float>& a, const Tensor<float>& b) {
  Agreement r;
  double ma = 0, mb = 0;
  const auto n = static_cast<double>(a.numel());
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    r.max_abs = std::max(r.max_abs, std::abs(static_cast<double>(a[i]) - b[i]));
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  r.pearson = saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 1.0;
  return r;
}

int run(int argc, char** argv) {
  models::Vgg<float> model = [&] {
    if (argc >= 3) return models::vgg_from_safetensors<float>(argv[1]);
    // a VGG-11 at 1/8 width, 10 classes, seeded random weights
    return models::vgg<float>(11, {.width_scale = 1 / 8., .hidden = {32}, .num_classes = 10, .seed = 7});
  }();
  Tensor<float> x;
  if (argc >= 3) {
    x = io::read_npy_f32(argv[2]);
  } else {
    x = Tensor<float>({1, 3, 64, 64});
    std::mt19937 rng(3);
    std::normal_distribution<float> n01(0.f, 1.f);
    for (auto& v : x) v = n01(rng);
  }
  const std::string layer = argc >= 4 ? std::string(argv[3]) : default_cam_layer(model);

  const auto pre = GradCam<Pre>(model, layer)(x);
  const auto post = GradCam<Post>(model, layer)(x);
  const auto log = GradCam<LogSoftmax>(model, layer)(x);
  const auto H = x.dim(2), W = x.dim(3);
  const auto dpre = pre.displayed(H, W), dpost = post.displayed(H, W), dlog = log.displayed(H, W);

  std::printf("layer %s, class %lld\n", post.layer.c_str(), static_cast<long long>(post.classes[0]));
  std::printf("z_c = %.6f   y_c = %.6f   log y_c = %.6f\n", post.logit[0], post.probability[0], log.score[0]);
  if (!post.warning.empty()) std::printf("warning: %s\n", post.warning.c_str());
  double ratio = 0;  // raw Post / (y_c raw LogSoftmax), should be 1
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < post.raw.numel(); ++i)
    if (std::abs(log.raw[i]) > 1e-6) {
      ratio += post.raw[i] / (post.probability[0] * log.raw[i]);
      ++count;
    }
  std::printf("raw Post / (y_c raw LogSoftmax), mean over the map: %.6f\n", count ? ratio / count : 1.0);
  const auto pl = agree(dpost, dlog), pp = agree(dpost, dpre);
  std::printf("displayed maps  Post vs LogSoftmax: max|diff| %.2e  pearson %.6f\n", pl.max_abs, pl.pearson);
  std::printf("displayed maps  Post vs Pre:        max|diff| %.2e  pearson %.6f\n", pp.max_abs, pp.pearson);
  std::printf("(Post vs LogSoftmax differ only through the display's eps 1e-7 added to max - min,\n"
              " which is not scale-free, and float rounding)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "explain_one: %s\n", e.what());
    return 1;
  }
}
