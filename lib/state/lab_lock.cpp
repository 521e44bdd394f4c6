// LabLock: one flock(2)ed file per lab beside the state file. flock rather than an SQLite row
// because the kernel drops it when the holder dies, so a crashed `ltb up` never leaves a lab
// locked. Lock files are never deleted: unlinking a file another process has open and is about to
// lock would let two processes hold "the" lock on two different inodes.

#include "state/dirs.hpp"
#include "state/store.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fmt/format.h>
#include <string>
#include <sys/file.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>

namespace ltb::state {
namespace {

constexpr auto k_poll_interval = std::chrono::milliseconds(50);

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// The pid the holder wrote, or "" when it has not written it yet (or the file is foreign).
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) {
    return {};
  }
  std::string text(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return {};
  }
  return text;
}

} // namespace

Result<LabLock> LabLock::acquire(const std::string &state_path, const std::string &lab,
                                 int wait_seconds) {
  // The loader only admits safe names; this guard keeps a bug elsewhere from escaping the
  // locks directory.
  if (lab.empty() || lab == "." || lab == ".." || lab.find('/') != std::string::npos ||
      lab.find('\0') != std::string::npos) {
    return fail(fmt::format("cannot lock lab '{}': the name is not a valid file name", lab),
                "use a lab name of letters, digits, '-', '_' and '.'", ExitCode::usage);
  }
  const std::string dir = state_path + ".locks";
  return lock_file(dir, fmt::format("{}/{}.lock", dir, lab), fmt::format("lab '{}'", lab),
                   wait_seconds);
}

Result<LabLock> LabLock::acquire_admission(const std::string &state_path, int wait_seconds) {
  const std::string dir = state_path + ".locks";
  return lock_file(dir, dir + "/.admission.lock", "the admission of labs", wait_seconds);
}

Result<LabLock> LabLock::lock_file(const std::string &dir, const std::string &file,
                                   const std::string &what, int wait_seconds) {
  LTB_CHECK(detail::make_dirs(dir, fmt::format("the lock of {}", what)));

  LabLock lock;
  lock.m_fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock.m_fd < 0) {
    const int err = errno;
    return fail(fmt::format("cannot open lock file {} of {}: {}", file, what, errno_text(err)),
                err == EACCES || err == EPERM || err == EROFS ? "run as root or pass --state PATH"
                                                              : "");
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  for (;;) {
    if (::flock(lock.m_fd, LOCK_EX | LOCK_NB) == 0) {
      break;
    }
    const int err = errno;
    if (err == EINTR) {
      continue;
    }
    if (err != EWOULDBLOCK) {
      return fail(fmt::format("cannot lock {} ({}): {}", what, file, errno_text(err)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      const std::string pid = holder_pid(lock.m_fd);
      return fail(fmt::format("{} is locked by another ltb process (pid {})", what,
                              pid.empty() ? "unknown" : pid),
                  "wait for it to finish, or pass --wait SECONDS");
    }
    std::this_thread::sleep_for(k_poll_interval);
  }

  // Only for the message of whoever waits next; the lock itself is the flock.
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(lock.m_fd, 0) != 0 ||
      ::pwrite(lock.m_fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    return fail(fmt::format("cannot write to lock file {} of {}: {}", file, what, errno_text(err)));
  }
  return lock;
}

LabLock::LabLock(LabLock &&other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

LabLock &LabLock::operator=(LabLock &&other) noexcept {
  if (this != &other) {
    LabLock old(std::move(*this));
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

LabLock::~LabLock() {
  if (m_fd >= 0) {
    // Explicit unlock: a child forked without exec shares the open file description, and a
    // plain close would leave the lab locked for as long as that child lives.
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }
}

} // namespace ltb::state
