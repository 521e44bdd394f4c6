#pragma once
#include <string>
#include <vector>

namespace ltb::cli {
/// Left-aligned columns separated by two spaces, header first.
std::string format_table(const std::vector<std::string> &header,
                         const std::vector<std::vector<std::string>> &rows);
} // namespace ltb::cli
