#include "schedule/daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace ltb::schedule {

namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::optional<long> read_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) {
    return std::nullopt;
  }
  char *end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (end == buf || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

} // namespace

std::string scheduler_lock_path(const std::string &state_path) {
  return state_path + ".schedule.lock";
}

Result<SchedulerLock> SchedulerLock::acquire(const std::string &state_path) {
  const std::string file = scheduler_lock_path(state_path);
  SchedulerLock lock;
  lock.m_fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock.m_fd < 0) {
    const int err = errno;
    return fail(fmt::format("cannot open the scheduler's lock file {}: {}", file, errno_text(err)),
                err == EACCES || err == EPERM || err == EROFS ? "run as root or pass --state PATH"
                                                              : "");
  }
  while (::flock(lock.m_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) {
      continue;
    }
    if (err == EWOULDBLOCK) {
      auto pid = read_pid(lock.m_fd);
      return fail(fmt::format("another scheduler (pid {}) already runs on state file {}",
                              pid ? std::to_string(*pid) : "unknown", state_path),
                  "one scheduler per state file: stop that one first (kill PID), or leave the "
                  "work to it");
    }
    return fail(fmt::format("cannot lock {}: {}", file, errno_text(err)));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(lock.m_fd, 0) != 0 ||
      ::pwrite(lock.m_fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    return fail(
        fmt::format("cannot write to the scheduler's lock file {}: {}", file, errno_text(err)));
  }
  return lock;
}

std::optional<long> SchedulerLock::holder(const std::string &state_path) {
  const std::string file = scheduler_lock_path(state_path);
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  std::optional<long> pid;
  // A shared lock succeeds only when nobody holds the exclusive one.
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else if (errno == EWOULDBLOCK) {
    pid = read_pid(fd);
    if (!pid) {
      pid = 0;
    }
  }
  ::close(fd);
  return pid;
}

SchedulerLock::SchedulerLock(SchedulerLock &&other) noexcept
    : m_fd(std::exchange(other.m_fd, -1)) {}

SchedulerLock &SchedulerLock::operator=(SchedulerLock &&other) noexcept {
  if (this != &other) {
    SchedulerLock old(std::move(*this));
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

SchedulerLock::~SchedulerLock() {
  if (m_fd >= 0) {
    // Explicit unlock: a child forked without exec (the deploy's helpers) shares the open file
    // description and would otherwise keep the scheduler locked.
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }
}

// --- Waiter --------------------------------------------------------------------------------------

Result<Waiter> Waiter::open(const std::string &state_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path path = fs::absolute(state_path, ec);
  Waiter waiter;
  waiter.m_prefix = path.filename().string();
  waiter.m_inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (waiter.m_inotify < 0) {
    return fail(
        fmt::format("cannot watch the state file {}: inotify: {}", state_path, errno_text(errno)),
        "raise fs.inotify.max_user_instances, or run `ltb schedule run --once` from a "
        "timer (ltb schedule install)");
  }
  // The directory, not the file: SQLite writes the -wal file beside it, and creates and deletes
  // it as connections come and go.
  const std::string dir = path.parent_path().string();
  if (::inotify_add_watch(waiter.m_inotify, dir.c_str(),
                          IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
    return fail(
        fmt::format("cannot watch directory {} of the state file: {}", dir, errno_text(errno)),
        "raise fs.inotify.max_user_watches, or run `ltb schedule run --once` from a timer "
        "(ltb schedule install)");
  }
  waiter.m_timer = ::timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (waiter.m_timer < 0) {
    return fail(fmt::format("cannot create a timer: {}", errno_text(errno)));
  }
  return waiter;
}

Result<WakeReason> Waiter::wait(std::int64_t until_ms, const std::atomic<bool> *stop) {
  itimerspec spec{};
  spec.it_value.tv_sec = until_ms / 1000;
  spec.it_value.tv_nsec = (until_ms % 1000) * 1'000'000;
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) {
    spec.it_value.tv_nsec = 1; // zero would disarm the timer
  }
  // CANCEL_ON_SET: a changed wall clock ends the wait, and the caller computes it afresh.
  if (::timerfd_settime(m_timer, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, nullptr) !=
      0) {
    return fail(fmt::format("cannot set the scheduler's timer: {}", errno_text(errno)));
  }
  sigset_t block;
  sigset_t old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  sigset_t during = old;
  sigdelset(&during, SIGINT);
  sigdelset(&during, SIGTERM);
  WakeReason reason = WakeReason::time;
  for (;;) {
    if (stop && stop->load()) {
      reason = WakeReason::stopped;
      break;
    }
    pollfd fds[2] = {{m_timer, POLLIN, 0}, {m_inotify, POLLIN, 0}};
    int n = ::ppoll(fds, 2, nullptr, &during);
    if (n < 0) {
      if (errno == EINTR) {
        continue; // the flag decides
      }
      const int err = errno;
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return fail(fmt::format("the scheduler's wait failed: {}", errno_text(err)));
    }
    bool changed = false;
    if (fds[1].revents & POLLIN) {
      alignas(inotify_event) char buf[4096];
      for (;;) {
        ssize_t len = ::read(m_inotify, buf, sizeof(buf));
        if (len <= 0) {
          break;
        }
        for (ssize_t off = 0; off < len;) {
          const auto *event = reinterpret_cast<const inotify_event *>(buf + off);
          if (event->len > 0 && std::strncmp(event->name, m_prefix.c_str(), m_prefix.size()) == 0 &&
              std::strstr(event->name, ".lock") == nullptr) {
            changed = true;
          }
          off += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
      }
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t expirations = 0;
      // ECANCELED: the clock was set; either way it is time to look again.
      (void)::read(m_timer, &expirations, sizeof(expirations));
      reason = WakeReason::time;
      break;
    }
    if (changed) {
      reason = WakeReason::changed;
      break;
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return reason;
}

Waiter::Waiter(Waiter &&other) noexcept
    : m_inotify(std::exchange(other.m_inotify, -1)), m_timer(std::exchange(other.m_timer, -1)),
      m_prefix(std::move(other.m_prefix)) {}

Waiter &Waiter::operator=(Waiter &&other) noexcept {
  if (this != &other) {
    Waiter old(std::move(*this));
    m_inotify = std::exchange(other.m_inotify, -1);
    m_timer = std::exchange(other.m_timer, -1);
    m_prefix = std::move(other.m_prefix);
  }
  return *this;
}

Waiter::~Waiter() {
  if (m_inotify >= 0) {
    ::close(m_inotify);
  }
  if (m_timer >= 0) {
    ::close(m_timer);
  }
}

} // namespace ltb::schedule
