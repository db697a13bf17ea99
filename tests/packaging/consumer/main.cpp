#include <cstdio>

#include <gradattr/gradattr.hpp>

float second_tu_sum();

int main() {
  gradattr::Tensor<float> t(gradattr::Shape{2, 3}, 1.5f);
  float s = 0;
  for (float v : t) s += v;
  if (s != 9.0f || second_tu_sum() != 9.0f) return 1;
  std::puts("consumer ok");
  return 0;
}
