#pragma once
// A request's command: `ltb ARGV` started for a caller as the daemon's child (a fork of the fork
// server's pristine copy when there is one, else an exec), with the caller's identity and remote
// mode in its environment; and the whole run of one whose output is collected, for the answers
// that are not a stream (the web UI's buffered `POST /v1/commands`).

#include "server/command.hpp"
#include "service/service.hpp"
#include "util/error.hpp"
#include "util/exec.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::server {

struct ChildRequest {
  std::string ltb_binary;
  std::string state_path;
  std::vector<std::string> argv; // without the program and --state
  std::string dir;               // the request's private directory ("" = none)
  std::string cwd;               // its working directory ("" = the daemon's)
  std::map<std::string, std::string> origins;
  std::optional<Terminal> tty;
};

struct RunningChild {
  util::Child child;
  std::function<int(pid_t, bool)> wait; // util::wait_child, or the fork server's
};

/// Starts the command for CALLER (its uid is the child's LTB_CALLER_UID).
Result<RunningChild> start_child(const ChildRequest &request, const service::Caller &caller);

struct ChildOutput {
  int code = 0;
  std::string out;
  std::string err;
  bool truncated = false; // an output went over the limit (the command was stopped then)
};

/// Runs a started child with no input until it ends, collecting up to LIMIT bytes of each
/// output. A STOP set meanwhile (the daemon ending) interrupts it as Ctrl-C would, then kills it
/// after GRACE.
ChildOutput collect_child(RunningChild &running, std::size_t limit, const std::atomic<bool> &stop,
                          std::chrono::milliseconds grace);

/// Ends a child that is no longer wanted (a client gone): SIGINT to its process group, SIGKILL
/// after GRACE, reaped. Its fds are the caller's to close.
void stop_child(RunningChild &running, std::chrono::milliseconds grace);

} // namespace ltb::server
