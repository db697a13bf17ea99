#pragma once
// gradattr merge and gradattr export: the sweep databases after the sweep (docs/sweep.md).
//   merge a.sqlite b.sqlite ... --out c.sqlite    the shards of one run into one database
//   export results.sqlite --csv summary.csv [--maps maps.npy] [--method M] [--run N]
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/sweep/store.hpp>

#include "common.hpp"

namespace gradattr_cli {

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string out;
};

inline int run_merge(const MergeArgs& a) {
  if (a.inputs.size() < 2) throw UsageError("merge needs at least two databases");
  if (a.out.empty()) throw UsageError("--out c.sqlite is required");
  const auto s = gradattr::sweep::merge_databases(a.inputs, a.out);
  say("merged %zu databases into %s: %lld image(s), %lld row(s)%s\n", a.inputs.size(), a.out.c_str(),
      static_cast<long long>(s.images), static_cast<long long>(s.rows),
      s.duplicates ? (" (" + std::to_string(s.duplicates) + " identical row(s) held twice, kept once)").c_str() : "");
  return 0;
}

struct ExportArgs {
  std::string db, csv, maps, method;
  std::optional<std::int64_t> run;
};

inline int run_export(const ExportArgs& a) {
  if (a.csv.empty() && a.maps.empty()) throw UsageError("give --csv FILE and/or --maps FILE");
  if (!a.method.empty()) {
    (void)flag_value("--method", [&] { return gradattr::parse_method(a.method); });
  }
  check_outputs({{"--csv", a.csv}, {"--maps", a.maps}}, false);
  gradattr::sweep::ExportOptions o{a.csv, a.maps, a.method, a.run};
  const auto rows = gradattr::sweep::export_results(a.db, o);
  say("exported %lld row(s) of %s%s%s%s%s\n", static_cast<long long>(rows), a.db.c_str(), a.csv.empty() ? "" : " to ",
      a.csv.empty() ? "" : a.csv.c_str(), a.maps.empty() ? "" : ", maps to ", a.maps.empty() ? "" : a.maps.c_str());
  return 0;
}

}  // namespace gradattr_cli
