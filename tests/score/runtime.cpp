// Run-time choice of a score policy: parse_score_kind and dispatch_score.
#include "gradattr/score/runtime.hpp"

#include <fstream>
#include <string>
#include <vector>

#include "support/markdown_table.hpp"
#include "support/testing.hpp"

using namespace gradattr;

TEST_CASE("parse_score_kind accepts pre, post, log, centered and rejects the rest", "[score]") {
  REQUIRE(parse_score_kind("pre") == ScoreKind::Pre);
  REQUIRE(parse_score_kind("centered") == ScoreKind::Centered);
  REQUIRE(parse_score_kind("post") == ScoreKind::Post);
  REQUIRE(parse_score_kind("log") == ScoreKind::LogSoftmax);
  REQUIRE(parse_score_kind("logsoftmax") == ScoreKind::LogSoftmax);
  REQUIRE_THROWS_AS(parse_score_kind("Post"), ArgumentError);
  REQUIRE_THROWS_AS(parse_score_kind(""), ArgumentError);
  REQUIRE_THROWS_WITH(parse_score_kind("softmax"), Catch::Contains("valid: pre, post, log, centered"));
  REQUIRE(score::score_names_list("|") == "pre|post|log|centered");
  for (auto k : kAllScoreKinds) REQUIRE(parse_score_kind(to_string(k)) == k);
  REQUIRE(kAllScoreKinds.size() == 4);
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
  REQUIRE(run(ScoreKind::Centered) == "method<centered>");
  // kScoreInfo's name and shift invariance are the dispatched policy's own.
  for (const auto& i : score::kScoreInfo)
    dispatch_score(i.kind, [&](auto policy) {
      using P = decltype(policy);
      CHECK(i.name == P::name);
      CHECK(i.shift_invariant == P::shift_invariant);
    });
  // The policy value is usable too.
  const Tensor<double> z({1, 2}, {0, 0});
  const std::vector<std::int64_t> c{1};
  const double s = dispatch_score(parse_score_kind("post"), [&](auto p) { return p.score(z, c)[0]; });
  REQUIRE(s == 0.5);
}

// README.md's score-space table is GRADATTR_SCORES (same rows, same order).
TEST_CASE("README.md's score-space table is the list of score spaces", "[score]") {
  const auto rows =
      testing::markdown_table(std::string(GRADATTR_SOURCE_DIR) + "/README.md", "| score | shift-invariant | S |");
  REQUIRE(rows.size() == score::kScoreInfo.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& s = score::kScoreInfo[i];
    INFO("README row " << i + 1);
    REQUIRE(rows[i].size() == 3);
    CHECK(rows[i][0] == "`" + std::string(s.name) + "`");
    CHECK(rows[i][1] == (s.shift_invariant ? "yes" : "no"));
    CHECK(rows[i][2] == s.description);
  }
}
