#pragma once
// Shorthands for tests of chain models (nn::Sequential, VGG, ToyCnn), whose cuts carry nothing:
// the activation at a layer, and the rest of the network from an activation at a layer.
#include <string>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/models/classifier.hpp"

namespace gradattr::testing {

template <class M>
Tensor<typename M::scalar_type> activation_at(const M& m, const Tensor<typename M::scalar_type>& x,
                                              const std::string& layer) {
  return m.forward_until(x, layer).activation.value();
}

template <class M>
ad::Var<typename M::scalar_type> from_layer(const M& m, const ad::Var<typename M::scalar_type>& a,
                                            const std::string& layer, ad::Tape<typename M::scalar_type>& tape) {
  return m.forward_from(models::Cut<typename M::scalar_type>{m.resolve_layer(layer), a, {}}, tape);
}

}  // namespace gradattr::testing
