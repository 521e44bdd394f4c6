#pragma once
// The one way ltb starts another program: an argv vector (never a shell string), stdout and stderr
// drained concurrently, a timeout, the exit status with both outputs.

#include <chrono>
#include <string>
#include <vector>

#include "util/error.hpp"

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

} // namespace ltb::util
