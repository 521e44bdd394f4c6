#pragma once
// Directory creation shared by the store and the lab locks (private to lib/state).

#include "util/error.hpp"

#include <string>

namespace ltb::state::detail {

/// Creates dir and its missing parents with mode 0755 (less the umask). `what` names the file the
/// directory is for, so that the error says why ltb wanted it.
Status make_dirs(const std::string &dir, const std::string &what);

} // namespace ltb::state::detail
