#pragma once
// Reads one Markdown table out of a document, so tests can check that a table
// in README.md (or docs/*.md) lists exactly what a registry in the code lists.
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gradattr::testing {

// The cells of one table row "| a | b |" → {"a", "b"}, each trimmed of spaces. "\|" is a literal
// '|' inside a cell (GitHub Markdown's escape).
inline std::vector<std::string> markdown_row_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (line[i] == '|') {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return cells;
}

// The body rows of the first table in `path` whose header line starts with `header_prefix` (the
// |---| line skipped; the table ends at the first line not starting with '|'). Throws when the
// file cannot be read; an absent table gives no rows, which the caller's size check reports.
inline std::vector<std::vector<std::string>> markdown_table(const std::string& path, const std::string& header_prefix) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (!in_table && line.rfind(header_prefix, 0) == 0) {
      in_table = true;
      std::getline(in, line);  // |---|
      continue;
    }
    if (!in_table) continue;
    if (line.empty() || line[0] != '|') break;
    rows.push_back(markdown_row_cells(line));
  }
  return rows;
}

}  // namespace gradattr::testing
