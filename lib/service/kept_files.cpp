#include "service/kept_files.hpp"

#include "schedule/ledger.hpp"
#include "util/hash.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace ltb::service {

namespace fs = std::filesystem;

namespace {

/// The files under FROM, relative, sorted.
Result<std::vector<fs::path>> files_under(const fs::path &from) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const auto status = it->symlink_status(ec);
    if (ec) {
      break;
    }
    if (fs::is_symlink(status)) {
      return fail(fmt::format("{}: a symbolic link among a topology's files", it->path().string()),
                  "this is a bug in ltb: a request's files are regular files");
    }
    if (fs::is_regular_file(status)) {
      out.push_back(it->path().lexically_relative(from));
    }
  }
  if (ec) {
    return fail(fmt::format("cannot list {}: {}", from.string(), ec.message()),
                "check the daemon's runtime directory");
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status copy_tree(const fs::path &from, const fs::path &to, const std::vector<fs::path> &files) {
  std::error_code ec;
  fs::create_directories(to, ec);
  for (const auto &file : files) {
    const auto target = to / file;
    fs::create_directories(target.parent_path(), ec);
    fs::copy_file(from / file, target, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return fail(fmt::format("cannot keep a copy of {} in {}: {}", (from / file).string(),
                              target.string(), ec.message()),
                  "check the free space and permissions beside the state file");
    }
  }
  return {};
}

} // namespace

Status keep_files(const std::string &from, const std::string &dir) {
  LTB_TRY(files, files_under(from));
  const std::string fresh = fmt::format("{}.new-{}", dir, ::getpid());
  const std::string old = fmt::format("{}.old-{}", dir, ::getpid());
  std::error_code ec;
  fs::remove_all(fresh, ec);
  if (auto copied = copy_tree(from, fresh, files); !copied) {
    fs::remove_all(fresh, ec);
    return copied;
  }
  // Two renames, the first of which a reader may see between (DIR absent for a moment): still
  // never a mix of two copies. renameat2(RENAME_EXCHANGE) would close that gap.
  const bool had = fs::exists(dir, ec);
  if (had && ::rename(dir.c_str(), old.c_str()) != 0) {
    const auto error = std::strerror(errno);
    fs::remove_all(fresh, ec);
    return fail(fmt::format("cannot replace {}: {}", dir, error), "check its permissions");
  }
  if (::rename(fresh.c_str(), dir.c_str()) != 0) {
    const auto error = std::strerror(errno);
    if (had) {
      (void)::rename(old.c_str(), dir.c_str());
    }
    fs::remove_all(fresh, ec);
    return fail(fmt::format("cannot replace {}: {}", dir, error), "check its permissions");
  }
  fs::remove_all(old, ec);
  return {};
}

std::string lab_files_dir(const Context &context, const std::string &lab) {
  return (fs::path(context.lab_dir(lab)) / ".files").string();
}

Result<std::string> keep_reservation_files(const Context &context, state::Store &store,
                                           const std::string &from) {
  const fs::path root = fs::path(context.state_path).parent_path() / "reservation-files";
  LTB_TRY(files, files_under(from));
  // The digest of the names and contents: the same files, the same copy.
  std::string summary;
  for (const auto &file : files) {
    std::ifstream in(fs::path(from) / file, std::ios::binary);
    std::ostringstream data;
    data << in.rdbuf();
    summary += fmt::format("{}\n{}\n", file.string(), util::sha256_hex(data.str()));
  }
  const auto dir = root / util::sha256_hex(summary).substr(0, 32);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return fail(fmt::format("cannot make {}: {}", root.string(), ec.message()),
                "check the permissions beside the state file");
  }
  if (!fs::is_directory(dir, ec)) {
    LTB_CHECK(keep_files(from, dir.string()));
  }
  // Copies no reservation needs any more: every one that refers to them has ended or was
  // cancelled (a failed one may deploy again when moved).
  LTB_TRY(all, store.reservations());
  std::set<std::string> needed{dir.string()};
  for (const auto &r : all) {
    if (!r.files_dir.empty() && r.state != schedule::k_ended && r.state != schedule::k_cancelled) {
      needed.insert(r.files_dir);
    }
  }
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!needed.count(it->path().string())) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
  return dir.string();
}

} // namespace ltb::service
