#pragma once
// What `ltb schedule run` needs besides the state machine: one scheduler per state file (a flock
// beside it), and a sleep that ends at the next event, when the state file changes, or on
// SIGINT/SIGTERM, with no polling: a CLOCK_REALTIME timerfd (absolute, so a changed clock or a
// suspend does not stretch the sleep) and inotify on the state file's directory, in one ppoll().

#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace ltb::schedule {

/// The lock file of the scheduler of a state file: STATE.schedule.lock.
std::string scheduler_lock_path(const std::string &state_path);

/// Held by the one scheduler of a state file for its lifetime; the kernel drops it when the
/// holder dies.
class SchedulerLock {
public:
  /// Fails at once (no waiting) when another scheduler holds it; the error names its pid.
  static Result<SchedulerLock> acquire(const std::string &state_path);
  /// The pid of the scheduler holding the lock now, if any (does not take it).
  static std::optional<long> holder(const std::string &state_path);

  SchedulerLock(SchedulerLock &&other) noexcept;
  SchedulerLock &operator=(SchedulerLock &&other) noexcept;
  SchedulerLock(const SchedulerLock &) = delete;
  SchedulerLock &operator=(const SchedulerLock &) = delete;
  ~SchedulerLock();

private:
  SchedulerLock() = default;
  int m_fd = -1;
};

enum class WakeReason { time, changed, stopped };

/// Sleeps until a time, a change of the state file, or a stop request.
class Waiter {
public:
  static Result<Waiter> open(const std::string &state_path);

  /// Waits until `until_ms` (unix milliseconds), a write to the state file (or its WAL), or until
  /// `*stop` is set by a SIGINT/SIGTERM handler. Signals are unblocked only inside the wait, so
  /// a signal arriving just before it is not lost.
  Result<WakeReason> wait(std::int64_t until_ms, const std::atomic<bool> *stop);

  Waiter(Waiter &&other) noexcept;
  Waiter &operator=(Waiter &&other) noexcept;
  Waiter(const Waiter &) = delete;
  Waiter &operator=(const Waiter &) = delete;
  ~Waiter();

private:
  Waiter() = default;
  int m_inotify = -1;
  int m_timer = -1;
  std::string m_prefix; // the state file's name: "state.db" also matches state.db-wal
};

} // namespace ltb::schedule
