#pragma once
// Choosing a score policy at run time (the CLI's --score pre|post|log): parse the name into a
// ScoreKind, then dispatch_score(kind, f) calls the generic callable f with a value of the
// matching policy type, so the caller can instantiate templates on it:
//
//   auto kind = gradattr::parse_score_kind(arg);                 // throws ArgumentError
//   gradattr::dispatch_score(kind, [&](auto policy) {
//     using P = decltype(policy);
//     GradCam<P> cam(model, layer);  ...
//   });
//
// Every branch of f must return the same type (dispatch_score returns it).
#include <string>
#include <string_view>
#include <utility>

#include "gradattr/core/error.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::score {

enum class ScoreKind { Pre, Post, LogSoftmax };

// The policy's name: "pre", "post" or "log".
constexpr std::string_view to_string(ScoreKind kind) noexcept {
  switch (kind) {
    case ScoreKind::Pre: return Pre::name;
    case ScoreKind::Post: return Post::name;
    case ScoreKind::LogSoftmax: return LogSoftmax::name;
  }
  return "?";
}

// "pre" | "post" | "log" (exactly; also "logsoftmax" and "log-softmax" for LogSoftmax).
// Anything else throws ArgumentError listing the accepted names.
inline ScoreKind parse_score_kind(std::string_view s) {
  if (s == Pre::name) return ScoreKind::Pre;
  if (s == Post::name) return ScoreKind::Post;
  if (s == LogSoftmax::name || s == "logsoftmax" || s == "log-softmax") return ScoreKind::LogSoftmax;
  throw ArgumentError("unknown score space '" + std::string(s) + "' (expected pre, post or log)");
}

template <class F>
decltype(auto) dispatch_score(ScoreKind kind, F&& f) {
  switch (kind) {
    case ScoreKind::Pre: return std::forward<F>(f)(Pre{});
    case ScoreKind::Post: return std::forward<F>(f)(Post{});
    case ScoreKind::LogSoftmax: break;
  }
  return std::forward<F>(f)(LogSoftmax{});
}

}  // namespace gradattr::score

namespace gradattr {
using score::dispatch_score;
using score::parse_score_kind;
using score::ScoreKind;
}  // namespace gradattr
