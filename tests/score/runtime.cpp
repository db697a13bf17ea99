// Run-time choice of a score policy: parse_score_kind and dispatch_score.
#include "gradattr/score/runtime.hpp"

#include <string>

#include "support/testing.hpp"

using namespace gradattr;

TEST_CASE("parse_score_kind accepts pre, post, log and rejects the rest", "[score]") {
  REQUIRE(parse_score_kind("pre") == ScoreKind::Pre);
  REQUIRE(parse_score_kind("post") == ScoreKind::Post);
  REQUIRE(parse_score_kind("log") == ScoreKind::LogSoftmax);
  REQUIRE(parse_score_kind("logsoftmax") == ScoreKind::LogSoftmax);
  REQUIRE_THROWS_AS(parse_score_kind("Post"), ArgumentError);
  REQUIRE_THROWS_AS(parse_score_kind(""), ArgumentError);
  REQUIRE_THROWS_WITH(parse_score_kind("softmax"), Catch::Contains("expected pre, post or log"));
  for (auto k : {ScoreKind::Pre, ScoreKind::Post, ScoreKind::LogSoftmax}) REQUIRE(parse_score_kind(to_string(k)) == k);
}

namespace {
template <ScoreSpace P>
struct Method {
  std::string name() const { return "method<" + std::string(P::name) + ">"; }
};
}  // namespace

TEST_CASE("dispatch_score instantiates a template on the chosen policy", "[score]") {
  auto run = [](ScoreKind k) {
    return dispatch_score(k, [](auto policy) {
      using P = decltype(policy);
      return Method<P>{}.name();
    });
  };
  REQUIRE(run(ScoreKind::Pre) == "method<pre>");
  REQUIRE(run(ScoreKind::Post) == "method<post>");
  REQUIRE(run(ScoreKind::LogSoftmax) == "method<log>");
  // The policy value is usable too.
  const Tensor<double> z({1, 2}, {0, 0});
  const std::vector<std::int64_t> c{1};
  const double s = dispatch_score(parse_score_kind("post"), [&](auto p) { return p.score(z, c)[0]; });
  REQUIRE(s == 0.5);
}
