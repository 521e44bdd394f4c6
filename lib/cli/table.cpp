#include "cli/table.hpp"

#include <algorithm>

namespace ltb::cli {

std::string format_table(const std::vector<std::string> &header,
                         const std::vector<std::vector<std::string>> &rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string> &row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header);
  for (const auto &row : rows) {
    measure(row);
  }
  std::string out;
  auto emit = [&](const std::vector<std::string> &row) {
    std::string line;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    out += line + "\n";
  };
  emit(header);
  for (const auto &row : rows) {
    emit(row);
  }
  return out;
}

} // namespace ltb::cli
