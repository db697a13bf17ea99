// API mistakes that must not compile (tests/compile_fail/CMakeLists.txt). Each CASE_<name> holds
// one mistake; tests build it and pass only when the compiler rejects it with the expected
// message. Built without any CASE_ macro, the file holds the correct spelling of every case and
// must compile: that control proves each failure comes from the mistake, not from a typo.
#include <cstdint>
#include <vector>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/models/vgg.hpp"

namespace ga = gradattr;

namespace {

ga::models::VggConfig tiny() {
  ga::models::VggConfig c;
  c.features = {4, ga::models::kVggPool};
  c.in_channels = 1;
  c.pool_size = 1;
  c.hidden = {};
  c.num_classes = 3;
  return c;
}

}  // namespace

int main() {
  const auto model = ga::models::vgg<float>(tiny(), 1);
  const auto model64 = ga::models::vgg<double>(tiny(), 1);
  const ga::Tensor<float> x({2, 1, 8, 8});
  const ga::Tensor<double> x64({2, 1, 8, 8});
#if defined(CASE_temporary_model)
  // The method keeps a view of its model: a temporary would dangle.
  ga::GradCam<ga::Post> cam(ga::models::vgg<float>(tiny(), 1), "features.1");
  (void)cam(x);
#elif defined(CASE_double_model_float_method)
  ga::GradCam<ga::Post> cam(model64, "features.1");  // GradCam<Post> computes in float
  (void)cam(x);
#elif defined(CASE_double_input_float_method)
  ga::GradCam<ga::Post> cam(model, "features.1");
  (void)cam(x64);  // a double input on a float method
#elif defined(CASE_per_image_braces)
  // One class per image is spelled Target::per_image({...}); a braced list is not a target.
  const ga::Target t{{0, 2}};
  (void)t;
#else
  ga::GradCam<ga::Post> cam(model, "features.1");
  ga::GradCam<ga::Post, double> cam64(model64, "features.1");
  (void)cam(x);
  (void)cam64(x64);
  const ga::Target t = ga::Target::per_image({0, 2});
  const ga::Target all{2};
  (void)t;
  (void)all;
#endif
  return 0;
}
