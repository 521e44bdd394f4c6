#pragma once
// A test seam for crash testing (tests/fault): named points in ltb's work at which a test may
// have the process killed with SIGKILL, the way a power cut or `kill -9` would end it.
//
// Off unless the environment asks (one getenv, read once):
//   LTB_FAULT_KILL=SITE:N   SIGKILL the process when SITE is reached for the Nth time (N from 1);
//                           SITE `any` counts every site together.
//   LTB_FAULT_STOP=SITE:N   stop the process with SIGSTOP there instead, so that a test can act
//                           while ltb is between two steps (stop a service, say), then let it go
//                           on with SIGCONT.
//   LTB_FAULT_TRACE=FILE    append "SITE N" for every point reached, so that a test can count
//                           an operation's points before it picks where to kill.
// Sites: `state-write` (a state transaction's writes are made, before its commit),
// `state-commit` (just after the commit), `action` (an apply action has run, before its result is
// recorded), `action-recorded` (after its result is recorded). The environment is the caller's
// own: a process can only be made to kill or stop itself.

#include <string_view>

namespace ltb::util::fault {

/// Marks that the process is at SITE. Does nothing unless LTB_FAULT_KILL, LTB_FAULT_STOP or
/// LTB_FAULT_TRACE is set.
void point(std::string_view site);

} // namespace ltb::util::fault
