#include "cli/completion.hpp"

namespace ltb::cli {
std::string completion_script(const CLI::App &, const std::string &) { return {}; }
} // namespace ltb::cli
