#include "util/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace ltb::util {
namespace fs = std::filesystem;

namespace {

struct ReadDeleter {
  void operator()(struct archive *a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(struct archive *a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry *e) const { archive_entry_free(e); }
};
using ReadHandle = std::unique_ptr<struct archive, ReadDeleter>;
using WriteHandle = std::unique_ptr<struct archive, WriteDeleter>;
using EntryHandle = std::unique_ptr<archive_entry, EntryDeleter>;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

std::string archive_message(struct archive *a) {
  const char *text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

constexpr std::size_t k_chunk = 64 * 1024;

Status write_all(int fd, const char *data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(std::strerror(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

// Opens the archive for reading: tar in any of its dialects, plain or compressed with a filter
// libarchive has built in (no external programs).
Result<ReadHandle> open_reader(const fs::path &file) {
  ReadHandle a(archive_read_new());
  if (!a) {
    return fail("cannot allocate a tar reader");
  }
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_bzip2(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), k_chunk) != ARCHIVE_OK) {
    return fail(fmt::format("cannot read '{}' as a tar archive: {}", file.string(),
                            archive_message(a.get())),
                "give a tar file (plain or gzip/xz/zstd/bzip2 compressed)");
  }
  return a;
}

// The entry's name made canonical ("./a/b" -> "a/b", "a/" -> "a"), or an error saying why it is
// refused.
Result<std::string> entry_name(const fs::path &file, archive_entry *e) {
  const char *raw = archive_entry_pathname(e);
  if (raw == nullptr) {
    raw = archive_entry_pathname_utf8(e);
  }
  if (raw == nullptr) {
    return fail(fmt::format("'{}': an entry has no readable name", file.string()),
                "the archive is damaged or was not written by ltb");
  }
  std::string name = raw;
  while (name.starts_with("./")) {
    name.erase(0, 2);
  }
  while (name.size() > 1 && name.ends_with('/')) {
    name.pop_back();
  }
  if (name == "." || name.empty()) {
    return std::string{}; // the archive's own root directory
  }
  if (auto ok = safe_archive_name(name); !ok) {
    return fail(
        fmt::format("'{}': refusing entry '{}': {}", file.string(), raw, ok.error().message),
        "an archive ltb imports holds only relative names inside it; this one was not "
        "written by ltb or was altered");
  }
  return name;
}

const char *type_name(unsigned type) {
  switch (type) {
  case AE_IFLNK:
    return "a symbolic link";
  case AE_IFCHR:
    return "a character device";
  case AE_IFBLK:
    return "a block device";
  case AE_IFIFO:
    return "a FIFO";
  case AE_IFSOCK:
    return "a socket";
  default:
    return "not a regular file";
  }
}

// Walks the archive's entries, checking each against the rules and the limits, and hands each
// regular file to `on_file(name, mode, size, read_data)` (size: as the header says), which may
// then read its data through `read_data`; what it does not read is skipped. Directories are
// skipped.
template <class OnFile>
Status walk(const fs::path &file, const TarLimits &limits, OnFile &&on_file) {
  LTB_TRY(a, open_reader(file));
  std::set<std::string> seen;
  std::uint64_t total = 0;
  std::size_t count = 0;
  for (;;) {
    archive_entry *e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) {
      break;
    }
    if (r < ARCHIVE_WARN) {
      return fail(fmt::format("'{}' is not a readable tar archive: {}", file.string(),
                              archive_message(a.get())),
                  "the file is damaged or not a tar archive");
    }
    LTB_TRY(name, entry_name(file, e));
    const char *label = archive_entry_pathname(e);
    if (archive_entry_hardlink(e) != nullptr) {
      return fail(fmt::format("'{}': refusing entry '{}': it is a hard link", file.string(), label),
                  "ltb imports only regular files and directories");
    }
    unsigned type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      continue;
    }
    if (type != AE_IFREG) {
      return fail(
          fmt::format("'{}': refusing entry '{}': it is {}", file.string(), label, type_name(type)),
          "ltb imports only regular files and directories");
    }
    if (name.empty()) {
      return fail(fmt::format("'{}': an entry named '{}' is a file", file.string(), label),
                  "the archive is damaged or was not written by ltb");
    }
    if (!seen.insert(name).second) {
      return fail(fmt::format("'{}': entry '{}' appears twice", file.string(), name),
                  "the archive was altered; export it again");
    }
    if (++count > limits.max_entries) {
      return fail(fmt::format("'{}' has more than {} files", file.string(), limits.max_entries),
                  "the archive is not one ltb wrote");
    }
    if (archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > 0 &&
        static_cast<std::uint64_t>(archive_entry_size(e)) > limits.max_entry_bytes) {
      return fail(fmt::format("'{}': entry '{}' is {} bytes, more than the limit of {}",
                              file.string(), name, archive_entry_size(e), limits.max_entry_bytes),
                  "the archive is not one ltb wrote, or the file is too large to import");
    }
    std::uint64_t entry_bytes = 0;
    auto read_data = [&](auto &&sink) -> Status {
      std::array<char, k_chunk> buffer{};
      for (;;) {
        la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
        if (n < 0) {
          return fail(fmt::format("'{}': cannot read entry '{}': {}", file.string(), name,
                                  archive_message(a.get())),
                      "the archive is damaged; export it again");
        }
        if (n == 0) {
          return {};
        }
        entry_bytes += static_cast<std::uint64_t>(n);
        total += static_cast<std::uint64_t>(n);
        if (entry_bytes > limits.max_entry_bytes) {
          return fail(fmt::format("'{}': entry '{}' is larger than the limit of {} bytes",
                                  file.string(), name, limits.max_entry_bytes),
                      "the archive is not one ltb wrote, or the file is too large to import");
        }
        if (total > limits.max_total_bytes) {
          return fail(fmt::format("'{}' holds more than the limit of {} bytes", file.string(),
                                  limits.max_total_bytes),
                      "the archive is not one ltb wrote, or it is too large to import");
        }
        LTB_CHECK(sink(buffer.data(), static_cast<std::size_t>(n)));
      }
    };
    std::uint32_t mode = static_cast<std::uint32_t>(archive_entry_perm(e)) & 0755;
    const auto size = archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > 0
                          ? static_cast<std::uint64_t>(archive_entry_size(e))
                          : std::uint64_t{0};
    LTB_CHECK(on_file(name, mode, size, read_data));
  }
  return {};
}

} // namespace

Status safe_archive_name(std::string_view name) {
  if (name.empty()) {
    return fail("the name is empty");
  }
  if (name.front() == '/') {
    return fail("the name is absolute");
  }
  if (name.find('\0') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    return fail("the name holds a NUL or a backslash");
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view part = name.substr(start, end - start);
    if (part.empty()) {
      return fail("the name has an empty component ('//' or a trailing '/')");
    }
    if (part == "..") {
      return fail("the name goes up a directory ('..')");
    }
    if (part == ".") {
      return fail("the name has a '.' component");
    }
    start = end + 1;
  }
  return {};
}

Status write_tar(const fs::path &file, const std::vector<TarEntry> &entries) {
  std::set<std::string> seen;
  for (const auto &entry : entries) {
    if (auto ok = safe_archive_name(entry.name); !ok) {
      return fail(
          fmt::format("cannot put '{}' into a tar archive: {}", entry.name, ok.error().message));
    }
    if (!seen.insert(entry.name).second) {
      return fail(fmt::format("cannot put '{}' into a tar archive twice", entry.name));
    }
  }
  fs::path tmp = file;
  tmp += fmt::format(".tmp-{}", ::getpid());
  WriteHandle a(archive_write_new());
  if (!a) {
    return fail("cannot allocate a tar writer");
  }
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    return fail(fmt::format("cannot write '{}': {}", file.string(), archive_message(a.get())),
                "check that the directory exists and is writable");
  }
  auto fail_and_remove = [&](std::string message) -> Status {
    a.reset();
    std::error_code ec;
    fs::remove(tmp, ec);
    return fail(fmt::format("cannot write '{}': {}", file.string(), message));
  };
  for (const auto &entry : entries) {
    EntryHandle e(archive_entry_new());
    archive_entry_set_pathname(e.get(), entry.name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), entry.mode & 0755);
    archive_entry_set_mtime(e.get(), 0, 0); // the same content gives the same bytes
    std::unique_ptr<Fd> source;
    std::uint64_t size = entry.data.size();
    if (!entry.source.empty()) {
      source = std::make_unique<Fd>(::open(entry.source.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st {};
      if (source->fd < 0 || ::fstat(source->fd, &st) != 0) {
        return fail_and_remove(
            fmt::format("cannot read '{}': {}", entry.source.string(), std::strerror(errno)));
      }
      if (!S_ISREG(st.st_mode)) {
        return fail_and_remove(fmt::format("'{}' is not a regular file", entry.source.string()));
      }
      size = static_cast<std::uint64_t>(st.st_size);
    }
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return fail_and_remove(archive_message(a.get()));
    }
    if (!source) {
      if (size > 0 && archive_write_data(a.get(), entry.data.data(), entry.data.size()) !=
                          static_cast<la_ssize_t>(entry.data.size())) {
        return fail_and_remove(archive_message(a.get()));
      }
      continue;
    }
    std::array<char, k_chunk> buffer{};
    std::uint64_t done = 0;
    while (done < size) {
      ssize_t n = ::read(source->fd, buffer.data(),
                         static_cast<std::size_t>(std::min<std::uint64_t>(size - done, k_chunk)));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return fail_and_remove(
            fmt::format("'{}' changed while it was being archived", entry.source.string()));
      }
      if (archive_write_data(a.get(), buffer.data(), static_cast<std::size_t>(n)) != n) {
        return fail_and_remove(archive_message(a.get()));
      }
      done += static_cast<std::uint64_t>(n);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return fail_and_remove(archive_message(a.get()));
  }
  a.reset();
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fail(fmt::format("cannot write '{}': {}", file.string(), ec.message()));
  }
  return {};
}

Result<std::vector<TarEntry>> read_tar(const fs::path &file, const TarLimits &limits) {
  return scan_tar(file, limits, [](std::string_view) { return true; });
}

Result<std::vector<TarEntry>> scan_tar(const fs::path &file, const TarLimits &limits,
                                       const std::function<bool(std::string_view)> &wanted) {
  std::vector<TarEntry> out;
  std::uint64_t skipped = 0; // bytes not read, counted against the total all the same
  LTB_CHECK(walk(file, limits,
                 [&](const std::string &name, std::uint32_t mode, std::uint64_t size,
                     auto &&read_data) -> Status {
                   TarEntry entry{name, {}, {}, mode, size};
                   if (!wanted(name)) {
                     skipped += size;
                     if (skipped > limits.max_total_bytes) {
                       return fail(fmt::format("'{}' holds more than the limit of {} bytes",
                                               file.string(), limits.max_total_bytes),
                                   "the archive is not one ltb wrote, or it is too large to "
                                   "import");
                     }
                     out.push_back(std::move(entry));
                     return Status{};
                   }
                   LTB_CHECK(read_data([&](const char *data, std::size_t n) -> Status {
                     entry.data.append(data, n);
                     return {};
                   }));
                   entry.size = entry.data.size();
                   out.push_back(std::move(entry));
                   return Status{};
                 }));
  return out;
}

Result<std::vector<std::string>> extract_tar(const fs::path &file, const fs::path &dir,
                                             const TarLimits &limits) {
  std::vector<fs::path> made; // files and directories this call created, in order
  std::vector<std::string> names;
  auto undo = [&] {
    std::error_code ec;
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
      fs::remove(*it, ec);
    }
  };
  auto make_dirs = [&](const fs::path &target) -> Status {
    std::vector<fs::path> missing;
    for (fs::path p = target; !p.empty() && !fs::exists(p); p = p.parent_path()) {
      missing.push_back(p);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      std::error_code ec;
      if (!fs::create_directory(*it, ec) && ec) {
        return fail(fmt::format("cannot create '{}': {}", it->string(), ec.message()));
      }
      made.push_back(*it);
    }
    if (!fs::is_directory(fs::symlink_status(target))) {
      return fail(fmt::format("'{}' is not a directory", target.string()));
    }
    return {};
  };
  auto status = [&]() -> Status {
    LTB_CHECK(make_dirs(dir));
    return walk(
        file, limits,
        [&](const std::string &name, std::uint32_t mode, std::uint64_t,
            auto &&read_data) -> Status {
          fs::path target = dir / name;
          LTB_CHECK(make_dirs(target.parent_path()));
          Fd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        mode | 0600));
          if (out.fd < 0) {
            return fail(
                fmt::format("cannot create '{}': {}", target.string(), std::strerror(errno)),
                "extract into an empty directory");
          }
          made.push_back(target);
          LTB_CHECK(read_data([&](const char *data, std::size_t size) -> Status {
            if (auto ok = write_all(out.fd, data, size); !ok) {
              return fail(fmt::format("cannot write '{}': {}", target.string(), ok.error().message),
                          "check the free space of the disk");
            }
            return {};
          }));
          names.push_back(name);
          return Status{};
        });
  }();
  if (!status) {
    undo();
    return tl::unexpected(status.error());
  }
  return names;
}

} // namespace ltb::util
