#pragma once
// Stopping and starting a lab's nodes without removing them: the work behind `ltb stop`, `ltb
// start` and `ltb restart`. A stopped container keeps its file system, a stopped VM its domain and
// disk; links survive (a container's link interfaces wait in its kept namespace while it is
// stopped). Starting is admitted like `ltb up`: within a reserved lab's window, or when it leaves
// no reservation short.

#include "event/event.hpp"
#include "schedule/time.hpp"
#include "service/backends.hpp"
#include "service/service.hpp"

#include <string>
#include <vector>

namespace ltb::service {

enum class LifecycleAction { stop, start, restart };

struct LifecycleRequest {
  std::string lab;                // "" = the caller's only lab (only running one for stop,
                                  // only stopped one for start)
  std::vector<std::string> nodes; // empty = every container and VM of the lab
  int timeout_seconds = -1;       // stop: grace period before a kill (-1 = the runtime's)
  int workers = 8;
};

struct LifecycleOutcome {
  std::string lab;
  std::vector<std::string> stopped; // nodes this request stopped
  std::vector<std::string> started; // nodes this request started
  int done = 0;
  int failed = 0;
  int skipped = 0;
  bool interrupted = false;
  std::vector<Error> errors; // one per failed action, with its help
  bool nothing() const { return stopped.empty() && started.empty() && failed == 0; }
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// What a pass of `ltb stop`/`start`/`restart` did, as events for `ltb events`: node stopped (or
/// started) for each node in `nodes`, with the attribute "command" (stop, start, restart).
std::vector<event::Event> lifecycle_events(const std::string &lab,
                                           const std::vector<std::string> &nodes, bool stopped,
                                           LifecycleAction action);

/// `ltb stop`, `ltb start` or `ltb restart` (stop, then start, of the same nodes; nothing else of
/// the lab is touched). An Error when it could not begin: unknown lab or node, the lab's lock
/// held, a start refused by admission, Docker or libvirt not answering.
Result<LifecycleOutcome> change_lab(const Session &session, Connection &connection,
                                    LifecycleAction action, const LifecycleRequest &request);

/// Whether lab `lab` may start now, and so take CPUs and memory again: a lab deployed by a
/// reservation only within its window; a lab without one when starting leaves no admitted
/// reservation short (the rule of an unreserved `ltb up`). Holds the admission lock while it
/// checks.
Status admit_start(const Session &session, state::Store &store, const state::LabRecord &lab,
                   schedule::Instant now);

} // namespace ltb::service
