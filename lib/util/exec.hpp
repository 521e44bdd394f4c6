#pragma once
// The one way ltb starts another program: an argv vector (never a shell string), stdout and stderr
// drained concurrently, a timeout, the exit status with both outputs.

#include "util/error.hpp"

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ltb::util {

struct ExecOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::string stdin_data; // written to the child's stdin, then closed
};

struct ExecResult {
  int exit_code = -1; // -1 when killed by a signal or the timeout
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// Runs argv[0] (looked up in PATH) and waits. Fails only when the program cannot be started; a
/// non-zero exit is a value for the caller to judge.
Result<ExecResult> run(const std::vector<std::string> &argv, const ExecOptions &options = {});

/// A program started to run beside ltb (the daemon's per-request `ltb`), its standard streams
/// ltb's to feed and drain: three pipes, or one pseudo-terminal (in == out, err == -1) when
/// asked for a terminal.
struct SpawnOptions {
  std::vector<std::string> env; // KEY=VALUE, added to (or replacing in) ltb's own environment
  bool pty = false;
  bool inherit_output = false;   // stdout and stderr are ltb's own (out and err are then -1)
  bool dies_with_parent = false; // SIGTERM when ltb ends, even by SIGKILL (PR_SET_PDEATHSIG)
  unsigned short rows = 24;
  unsigned short cols = 80;
};

/// ltb's environment with ADDED (KEY=VALUE) added or replacing what it has: a child's.
std::vector<std::string> environment_with(const std::vector<std::string> &added);

struct Child {
  pid_t pid = -1;
  int in = -1;  // write end of its stdin (the pty's master with a terminal)
  int out = -1; // read end of its stdout (the same master with a terminal)
  int err = -1; // read end of its stderr (-1 with a terminal: it writes to the terminal)
  /// Read end of a pipe that a command of the fork server writes its exit code to (an int) just
  /// before it exits: known without waiting for the reap. -1 otherwise; the reap still counts.
  int status = -1;
};

/// A child's standard streams before it starts: ltb's ends as `ours` (pid unset) and the
/// child's (stdin, stdout, stderr; the one terminal with a pty) as `theirs`, all close-on-exec.
struct ChildStreams {
  Child ours;
  std::vector<int> theirs;
  void close_all(); // both sides (a start that failed)
};
Result<ChildStreams> make_streams(const std::string &program, const SpawnOptions &options);

/// Starts argv[0] (a path, or looked up in PATH) with the given streams, in its own process group
/// (a session of its own with a terminal), and returns at once. The caller closes the fds and
/// reaps the child with wait_child().
Result<Child> spawn(const std::vector<std::string> &argv, const SpawnOptions &options = {});

/// The exit code of a child spawn() started (128 + signal when a signal ended it); blocks unless
/// `block` is false, then nullopt-like -2 while it still runs.
int wait_child(pid_t pid, bool block = true);

/// Sets a terminal's size (the pty of spawn()).
void set_terminal_size(int fd, unsigned short rows, unsigned short cols);

} // namespace ltb::util
