#pragma once
// The use cases of ltb, one function (or small class) each, shared by every front end (the CLI
// today, a daemon's API next). Each takes a request struct, the caller, a cancellation token and
// an event sink; none reads cli::Globals, environment variables or stderr, and none installs a
// signal handler. May use everything in lib/ except cli/.

#include "event/progress.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ltb::service {

class ContainerCache;

/// Who asks: a Unix user, by the uid the kernel vouches for (the CLI's own uid, or the daemon's
/// SO_PEERCRED), with the role and groups ltb's user table gives it. Recorded as the owner of what
/// they make. root is always an admin; an admin sees and acts on everything, a user on their own.
struct Caller {
  uid_t uid = 0;
  std::string name;
  bool admin = true;
  /// The Unix groups ltb knows this user through (quota resolution: user, then group, then the
  /// default).
  std::vector<std::string> groups;
};

/// Where the service keeps its state: the state file (locks, lab directories and templates live
/// beside it) and how long to wait for a lab's lock.
struct Context {
  std::string state_path;
  int wait_seconds = 60;
  /// Docker's container listings kept by a long-lived front end (`ltb serve`), which follows
  /// Docker's events to know when they change; none in the CLI.
  std::shared_ptr<ContainerCache> container_cache{};
  /// The per-lab directory beside the state file (inline configs, access files).
  std::string lab_dir(const std::string &lab) const;
};

/// A request to stop early, set by a front end (the CLI's SIGINT handler) and polled by long
/// operations. `arm` runs when a cancellable phase starts (the first watch()): the CLI installs
/// its signal handler only then, so that Ctrl-C before it still ends the process at once.
class CancelToken {
public:
  CancelToken() = default;
  explicit CancelToken(std::function<void()> arm) : m_arm(std::move(arm)) {}
  CancelToken(const CancelToken &) = delete;
  CancelToken &operator=(const CancelToken &) = delete;

  /// Async-signal-safe.
  void cancel() noexcept { m_cancelled.store(true); }
  bool cancelled() const noexcept { return m_cancelled.load(); }
  /// The flag for a cancellable phase to poll (apply::ApplyOptions::interrupted).
  const std::atomic<bool> *watch();

private:
  std::atomic<bool> m_cancelled{false};
  std::function<void()> m_arm;
  bool m_armed = false;
};

/// What a use case tells its caller while it runs: progress of actions and notices. The CLI's
/// implementation prints them (per --quiet); the scheduler's keeps its log to one line per action.
class EventSink {
public:
  virtual ~EventSink() = default;
  /// Something the user should know that is not the outcome ("notice: ..."), one line.
  virtual void notice(const std::string &line) = 0;
  /// The display of one plan's actions on `nodes`; its notice() lines are shown whatever the
  /// sink's other settings.
  virtual std::unique_ptr<event::Progress> progress(const std::vector<std::string> &nodes) = 0;
};

/// What every use case takes besides its request: where, who, how to stop, where events go.
struct Session {
  const Context &context;
  const Caller &caller;
  CancelToken &cancel;
  EventSink &events;
};

/// A sink that shows nothing (tests, dry runs of other code).
class NullSink : public EventSink {
public:
  void notice(const std::string &) override {}
  std::unique_ptr<event::Progress> progress(const std::vector<std::string> &nodes) override;
};

} // namespace ltb::service
