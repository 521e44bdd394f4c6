#pragma once
// Deploying and removing one lab, the work behind `ltb up` and `ltb down`, callable by other code
// (the scheduler deploys a reservation "exactly as ltb up"). These functions print only progress
// (per globals.quiet); outcomes and errors come back as values for the caller to print or record.

#include "cli/context.hpp"
#include "topology/model.hpp"

#include <string>
#include <vector>

namespace ltb::cli {

struct DeployOptions {
  bool dry_run = false;
  int workers = 8;
  std::string owner; // recorded on the lab; "" = current_user()
  /// false: no per-node progress lines, not even failures (the outcome carries the errors);
  /// notices still go to stderr. For the scheduler, whose log has one line per action.
  bool progress = true;
};

struct DeployOutcome {
  std::string lab;
  bool up_to_date = false;          // nothing to do (also with dry_run)
  std::vector<std::string> planned; // dry_run: one description per action
  std::string subnet;               // management subnet
  std::size_t actions = 0;
  int done = 0;
  int failed = 0;
  int skipped = 0;
  bool interrupted = false;
  std::vector<std::string> errors; // one per failed action
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// `ltb up` of an already loaded topology: lock, observe, plan, apply. An Error only when it could
/// not start (lock held, Docker or libvirt not answering, no free subnet); failed actions are in
/// the outcome.
Result<DeployOutcome> deploy_lab(const Globals &globals, Connection &connection,
                                 const topology::Topology &desired,
                                 const DeployOptions &options = {});

/// Loads topology text stored earlier (a reservation's) and deploys it as lab `lab`. `file` names
/// it in diagnostics and is recorded as the lab's file; relative paths resolve against `base_dir`
/// ("" = the current directory). An invalid topology is an Error carrying the diagnostics.
Result<DeployOutcome> deploy_text(const Globals &globals, Connection &connection,
                                  const std::string &topology_text, const std::string &lab,
                                  const std::string &file, const std::string &base_dir,
                                  const DeployOptions &options = {});

struct RemoveOutcome {
  std::string lab;
  bool nothing = false; // no record and nothing found
  int done = 0;
  int failed = 0;
  int skipped = 0;
  bool interrupted = false;
  std::vector<std::string> errors;
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// `ltb down --lab LAB`: removes what the state file records and what runtime labels show.
Result<RemoveOutcome> remove_lab(const Globals &globals, Connection &connection,
                                 const std::string &lab, bool progress = true);

/// One line saying why a deploy or removal failed (the first error, and how many more).
std::string failure_summary(const std::vector<std::string> &errors, bool interrupted);

} // namespace ltb::cli
