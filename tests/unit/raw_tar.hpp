#pragma once
// Tar archives written by hand with libarchive, bypassing write_tar's checks, as an attacker
// would: for the tests of what reading and importing archives refuse.

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <filesystem>
#include <string>
#include <sys/sysmacros.h>
#include <vector>

namespace ltb::raw_tar {

// One raw entry for a hand-made (possibly hostile) archive.
struct Raw {
  std::string name;
  unsigned type = AE_IFREG;
  std::string data = {};
  std::string link = {};     // symlink target
  std::string hardlink = {}; // hard link target
};

inline Raw file(std::string name, std::string data) {
  return Raw{std::move(name), AE_IFREG, std::move(data)};
}
inline Raw special(std::string name, unsigned type) {
  return Raw{std::move(name), type};
}

// Writes a tar with libarchive directly, bypassing write_tar's checks, as an attacker would.
inline void write_raw(const std::filesystem::path &file, const std::vector<Raw> &entries,
                      bool gzip = false) {
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) {
    archive_write_add_filter_gzip(a);
  }
  REQUIRE(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK);
  for (const auto &r : entries) {
    archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, r.name.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, 0644);
    if (!r.link.empty()) {
      archive_entry_set_symlink(e, r.link.c_str());
    }
    if (!r.hardlink.empty()) {
      archive_entry_set_hardlink(e, r.hardlink.c_str());
    }
    if (r.type == AE_IFCHR) {
      archive_entry_set_rdev(e, makedev(1, 3));
    }
    archive_entry_set_size(
        e, r.type == AE_IFREG && r.hardlink.empty() ? static_cast<la_int64_t>(r.data.size()) : 0);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (r.type == AE_IFREG && !r.data.empty()) {
      archive_write_data(a, r.data.data(), r.data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

} // namespace ltb::raw_tar
