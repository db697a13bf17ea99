#include <gradattr/gradattr.hpp>

float second_tu_sum() {
  gradattr::Tensor<float> t(gradattr::Shape{3, 2}, 1.5f);
  float s = 0;
  for (float v : t) s += v;
  return s;
}
