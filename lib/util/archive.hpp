#pragma once
// Tar archives (libarchive) for bundles that leave the host and come back: writing named entries,
// and reading or extracting them with limits. Reading treats the archive as hostile: absolute
// names, `..`, links, devices and FIFOs are refused before anything is written, and sizes are
// capped so that a crafted archive cannot fill the disk or memory.

#include "util/error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::util {

/// One regular file of an archive: its name inside the archive (relative, '/'-separated) and its
/// content, either in memory (`data`) or streamed from a file on disk (`source`, when not empty).
struct TarEntry {
  std::string name;
  std::string data;
  std::filesystem::path source;
  std::uint32_t mode = 0644;
  std::uint64_t size = 0; // read entries only: the content's size (also when it was not read)
};

/// What a reader accepts. Sizes are of the uncompressed content.
struct TarLimits {
  std::uint64_t max_entry_bytes = std::uint64_t{1} << 30; // 1 GiB
  std::uint64_t max_total_bytes = std::uint64_t{4} << 30; // 4 GiB
  std::size_t max_entries = 10000;
};

/// Writes a POSIX (pax) tar of `entries` to `file`, uncompressed. The file appears whole or not at
/// all (written beside it, then renamed). Entry names must pass `safe_archive_name`.
Status write_tar(const std::filesystem::path &file, const std::vector<TarEntry> &entries);

/// Reads every regular file of the tar at `file` (plain, gzip, xz or zstd compressed) into memory,
/// in archive order. Directory entries are skipped; anything else that is not a regular file
/// (symlinks, hard links, devices, FIFOs), an unsafe name, a name twice, or a limit passed is an
/// error naming the entry, and nothing is returned.
Result<std::vector<TarEntry>> read_tar(const std::filesystem::path &file,
                                       const TarLimits &limits = {});

/// Like read_tar, but reads into memory only the files `wanted` picks; the others are listed with
/// their name and size and an empty `data` (skipped, not read). Every entry is checked all the
/// same, so a hostile archive is refused before anything is taken out of it.
Result<std::vector<TarEntry>> scan_tar(const std::filesystem::path &file, const TarLimits &limits,
                                       const std::function<bool(std::string_view)> &wanted);

/// Like read_tar, but streams each file into `dir` (created if missing) under its name, with
/// parent directories as needed; returns the names written. On error, the files written so far
/// are removed again.
Result<std::vector<std::string>> extract_tar(const std::filesystem::path &file,
                                             const std::filesystem::path &dir,
                                             const TarLimits &limits = {});

/// Whether `name` is safe to create under a directory: not empty, relative, no `.` or `..`
/// component, no empty component, no backslash or NUL. Returns the reason when it is not.
Status safe_archive_name(std::string_view name);

} // namespace ltb::util
