#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::util {
/// Splits a command line the way a POSIX shell splits words (quotes and backslashes; no
/// expansion). nullopt when a quote is left open.
std::optional<std::vector<std::string>> shell_split(std::string_view text);
} // namespace ltb::util
