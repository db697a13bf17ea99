// A consumer of the installed/added gradattr: the umbrella header's tour, on a small seeded VGG.
#include <cstdio>

#include <gradattr/gradattr.hpp>

float second_tu_sum();

int main() {
  gradattr::models::VggOptions o;
  o.width_scale = 1.0 / 16;
  o.hidden = {16};
  o.num_classes = 3;
  const auto model = gradattr::models::vgg<float>(11, o);
  gradattr::Tensor<float> x(gradattr::Shape{1, 3, 32, 32}, 0.5f);
  gradattr::GradCam<gradattr::Post> cam(model, "last_conv");
  const gradattr::Attribution<float> r = cam(x);
  const auto heat = r.displayed(32, 32);
  if (heat.shape() != gradattr::Shape{1, 32, 32} || second_tu_sum() != 9.0f) return 1;
  std::printf("consumer ok: class %lld, y_c %.4f\n", static_cast<long long>(r.classes[0]), r.probability[0]);
  return 0;
}
