#pragma once
// Choosing a score policy at run time (the CLI's --score pre|post|log|centered): parse the name
// into a ScoreKind, then dispatch_score(kind, f) calls the generic callable f with a value of the
// matching policy type, so the caller can instantiate templates on it:
//
//   auto kind = gradattr::parse_score_kind(arg);                 // throws ArgumentError
//   gradattr::dispatch_score(kind, [&](auto policy) {
//     using P = decltype(policy);
//     GradCam<P> cam(model, layer);  ...
//   });
//
// Every branch of f must return the same type (dispatch_score returns it).
//
// GRADATTR_SCORES below is the one list of the score spaces that can be chosen at run time: the
// ScoreKind enum, kScoreInfo (names, descriptions), kAllScoreKinds, parsing, the CLI's help, the
// audit's and the experiments' sets of score spaces and README.md's table (checked by
// tests/score/runtime.cpp) all derive from it. Adding one is writing its policy
// (policies.hpp) and adding one row. (Contrast is not in it: it needs a second class.)
#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "gradattr/core/error.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::score {

// X(Enum, Policy, "one-line description"); the CLI name is Policy::name.
#define GRADATTR_SCORES(X)                                                                 \
  X(Pre, Pre, "the logit z_c (pre-softmax)")                                               \
  X(Post, Post, "the probability y_c = softmax(z)_c (post-softmax)")                       \
  X(LogSoftmax, LogSoftmax, "the log-probability log y_c = z_c - logsumexp(z)")            \
  X(Centered, Centered, "the centred logit z_c - (1/n) sum_j z_j (shift-invariant, never saturates)")

enum class ScoreKind {
#define GRADATTR_SCORE_ENUM(e, policy, description) e,
  GRADATTR_SCORES(GRADATTR_SCORE_ENUM)
#undef GRADATTR_SCORE_ENUM
};

struct ScoreInfo {
  ScoreKind kind;
  std::string_view name;         // the policy's name, the CLI's --score value
  bool shift_invariant;          // the policy's shift_invariant
  std::string_view description;  // one line
};

inline constexpr std::array kScoreInfo = {
#define GRADATTR_SCORE_INFO(e, policy, description) ScoreInfo{ScoreKind::e, policy::name, policy::shift_invariant, description},
    GRADATTR_SCORES(GRADATTR_SCORE_INFO)
#undef GRADATTR_SCORE_INFO
};

inline constexpr std::array<ScoreKind, kScoreInfo.size()> kAllScoreKinds = [] {
  std::array<ScoreKind, kScoreInfo.size()> out{};
  for (std::size_t i = 0; i < kScoreInfo.size(); ++i) out[i] = kScoreInfo[i].kind;
  return out;
}();

constexpr const ScoreInfo& score_info(ScoreKind kind) noexcept {
  for (const ScoreInfo& i : kScoreInfo)
    if (i.kind == kind) return i;
  return kScoreInfo[0];  // unreachable for a valid enum value
}

// The policy's name: "pre", "post", "log", "centered".
constexpr std::string_view to_string(ScoreKind kind) noexcept { return score_info(kind).name; }

// The valid names joined by separator ("pre, post, log, centered").
inline std::string score_names_list(std::string_view separator = ", ") {
  std::string out;
  for (const ScoreInfo& i : kScoreInfo) out += std::string(out.empty() ? "" : separator) + std::string(i.name);
  return out;
}

// A policy's name exactly (also "logsoftmax" and "log-softmax" for LogSoftmax). Anything else
// throws ArgumentError listing the accepted names.
inline ScoreKind parse_score_kind(std::string_view s) {
  for (const ScoreInfo& i : kScoreInfo)
    if (s == i.name) return i.kind;
  if (s == "logsoftmax" || s == "log-softmax") return ScoreKind::LogSoftmax;
  throw ArgumentError("unknown score space '" + std::string(s) + "' (valid: " + score_names_list() + ")");
}

template <class F>
decltype(auto) dispatch_score(ScoreKind kind, F&& f) {
  switch (kind) {
#define GRADATTR_SCORE_CASE(e, policy, description) \
  case ScoreKind::e: return std::forward<F>(f)(policy{});
    GRADATTR_SCORES(GRADATTR_SCORE_CASE)
#undef GRADATTR_SCORE_CASE
  }
  throw ArgumentError("dispatch_score: unknown score kind");
}

}  // namespace gradattr::score

namespace gradattr {
using score::dispatch_score;
using score::kAllScoreKinds;
using score::parse_score_kind;
using score::ScoreKind;
}  // namespace gradattr
