#include "state/dirs.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <sys/stat.h>
#include <system_error>

namespace ltb::state::detail {

Status make_dirs(const std::string &dir, const std::string &what) {
  if (dir.empty()) {
    return {};
  }
  // mkdir(2) one component at a time rather than std::filesystem::create_directories, which
  // always asks for 0777.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix == "/") {
      continue;
    }
    if (::mkdir(prefix.c_str(), 0755) == 0) {
      continue;
    }
    const int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      continue;
    }
    std::string help;
    if (err == EACCES || err == EPERM || err == EROFS) {
      help = "run as root or pass --state PATH";
    } else if (err == EEXIST || err == ENOTDIR) {
      help = fmt::format("'{}' exists and is not a directory; move it away or pass --state PATH",
                         prefix);
    } else {
      help = "pass --state PATH to keep the state file elsewhere";
    }
    return fail(fmt::format("cannot create directory {} for {}: {}", prefix, what,
                            err == EEXIST
                                ? "a file of that name exists"
                                : std::error_code(err, std::generic_category()).message()),
                help);
  }
  return {};
}

} // namespace ltb::state::detail
