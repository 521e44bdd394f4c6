#pragma once
// A topology's files that must outlive the command that brought them. Through the daemon, the
// topology file and every file it references are a per-request copy that goes when the command
// ends; a lab (re-read by `ltb exec --label`, `ltb save`, `ltb start`) and a reservation (deployed
// later by the scheduler) keep their own copy, which the daemon made and a user cannot change.

#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <string>

namespace ltb::service {

/// Copies the regular files and directories under FROM (no symbolic links: a request's directory
/// has none) to DIR, replacing what DIR held in one rename: a reader sees the old copy or the new
/// one, never half of one. DIR's parent must exist.
Status keep_files(const std::string &from, const std::string &dir);

/// A lab's copy of its topology's files: `<lab dir>/.files` (a node name cannot start with '.').
std::string lab_files_dir(const Context &context, const std::string &lab);

/// A reservation's copy of the files under FROM, by content: `<state dir>/reservation-files/
/// <digest>`, shared by reservations of the same files (`--count`). Copies that no reservation
/// that may still deploy refers to are removed. Call it inside the transaction that records the
/// reservation, so that no other process removes the copy before the record refers to it.
Result<std::string> keep_reservation_files(const Context &context, state::Store &store,
                                           const std::string &from);

} // namespace ltb::service
