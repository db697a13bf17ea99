#pragma once
// The methods the CLI runs, compiled once per score space in their own translation units
// (methods_<space>.cpp), so that a build on several cores compiles them in parallel instead of
// in main.cpp alone (docs/architecture.md, "Build time"). main.cpp includes this header first:
// the extern declarations keep it from instantiating them again.
//
// The model types run_method is called on: the model (float), its shifted twin (audit), and both
// again in double (audit --double). A score space added to GRADATTR_SCORES without a
// methods_<space>.cpp fails to link (an undefined run_method_in), not silently.
#include <gradattr/attribution/runtime.hpp>
#include <gradattr/models/equivalent.hpp>
#include <gradattr/score/runtime.hpp>

#include "common.hpp"

// X(Policy, M) for every model type the CLI runs methods on.
#define GRADATTR_CLI_MODEL_TYPES(X, Policy)                           \
  X(Policy, gradattr_cli::AnyModel<float>)                            \
  X(Policy, gradattr::models::Shifted<const gradattr_cli::AnyModel<float>&>) \
  X(Policy, gradattr_cli::AnyModel<double>)                           \
  X(Policy, gradattr::models::Shifted<const gradattr_cli::AnyModel<double>&>)

#define GRADATTR_CLI_EXTERN_ONE(Policy, M) extern template GRADATTR_RUN_METHOD_IN(Policy, M);
#define GRADATTR_CLI_DEFINE_ONE(Policy, M) template GRADATTR_RUN_METHOD_IN(Policy, M);

#define GRADATTR_CLI_EXTERN_SPACE(e, policy, description) \
  GRADATTR_CLI_MODEL_TYPES(GRADATTR_CLI_EXTERN_ONE, gradattr::score::policy)
GRADATTR_SCORES(GRADATTR_CLI_EXTERN_SPACE)
#undef GRADATTR_CLI_EXTERN_SPACE

// In methods_<space>.cpp: GRADATTR_CLI_INSTANTIATE(gradattr::score::Pre) and so on.
#define GRADATTR_CLI_INSTANTIATE(Policy) GRADATTR_CLI_MODEL_TYPES(GRADATTR_CLI_DEFINE_ONE, Policy)
