#pragma once
// Reference ReLU. NaN propagates as in torch.relu: relu(NaN) = NaN; its gradient is 0.
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

template <class T>
void relu_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = x[i] < T{0} ? T{0} : x[i];
}

// dx = dy where the forward output y > 0, else 0 (assigned). At 0 the gradient is 0, as PyTorch.
template <class T>
void relu_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  for (std::int64_t i = 0; i < dy.numel(); ++i) dx[i] = y[i] > T{0} ? dy[i] : T{0};
}

}  // namespace gradattr::kernels::reference
