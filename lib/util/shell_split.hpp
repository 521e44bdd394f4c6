#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::util {
/// Splits a command line the way a POSIX shell splits words (quotes and backslashes; no
/// expansion). nullopt when a quote is left open.
std::optional<std::vector<std::string>> shell_split(std::string_view text);

/// argv as one POSIX shell command line (for ssh, which runs a string): words quoted with '...'
/// where they need it. shell_split() gives argv back.
std::string shell_join(const std::vector<std::string> &argv);
} // namespace ltb::util
