// The method registry (attribution/runtime.hpp, GRADATTR_METHODS): the run-time dispatch builds
// the method each row names, parse_method and the names agree, and README.md's method table is
// exactly the registry (same rows, same order), so the documentation cannot drift from the code.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gradattr/attribution/runtime.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;

namespace {

std::vector<std::string> split_row(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '|') {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return cells;
}

}  // namespace

TEST_CASE("registry: names are unique, parse back, and the list is complete", "[attribution][registry]") {
  std::set<std::string> names, labels;
  for (const MethodInfo& m : kMethodInfo) {
    names.insert(std::string(m.name));
    labels.insert(std::string(m.display));
    CHECK(parse_method(m.name) == m.method);
    CHECK(to_string(m.method) == m.name);
    CHECK(is_layer_method(m.method) == m.layer_method);
    CHECK(!m.description.empty());
  }
  CHECK(names.size() == kMethodInfo.size());
  CHECK(labels.size() == kMethodInfo.size());
  CHECK(kAllMethods.size() == kMethodInfo.size());
  REQUIRE_THROWS_WITH(parse_method("gradcan"), Catch::Contains("valid: " + method_names_list()));
}

TEST_CASE("registry: run_method runs the method each row names", "[attribution][registry]") {
  const auto model = testing::toy_cnn<double>();
  const Tensor<double> x = testing::toy_input<double>(2);
  RunOptions o;
  o.steps = 3;
  o.samples = 2;
  o.layer = "relu";
  for (const MethodInfo& m : kMethodInfo) {
    INFO(m.name);
    const Attribution<double> r = run_method(m.method, score::ScoreKind::Post, model, x, Target{}, o);
    CHECK(r.method == m.name);
    // A layer method's map is [N, H, W] at the layer; an input method's has the input's rank.
    CHECK(r.raw.rank() == (m.layer_method ? 3 : 4));
  }
}

TEST_CASE("registry: README.md's method table is the registry", "[attribution][registry]") {
  std::ifstream in(std::string(GRADATTR_SOURCE_DIR) + "/README.md");
  REQUIRE(in);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| name | label | explains | what it computes |", 0) == 0) {
      in_table = true;
      std::getline(in, line);  // |---|
      continue;
    }
    if (!in_table) continue;
    if (line.empty() || line[0] != '|') break;
    rows.push_back(split_row(line));
  }
  REQUIRE(rows.size() == kMethodInfo.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const MethodInfo& m = kMethodInfo[i];
    INFO("README row " << i + 1);
    REQUIRE(rows[i].size() == 4);
    CHECK(rows[i][0] == "`" + std::string(m.name) + "`");
    CHECK(rows[i][1] == m.display);
    CHECK(rows[i][2] == (m.layer_method ? "layer" : "input"));
    CHECK(rows[i][3] == m.description);
  }
}
