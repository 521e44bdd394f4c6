#pragma once
// Deploying and removing one lab: the work behind `ltb up` and `ltb down`, and what the scheduler
// does at a reservation's start and end. Outcomes and errors come back as values; progress and
// notices go to the session's event sink.

#include "service/backends.hpp"
#include "service/service.hpp"
#include "topology/loader.hpp"
#include "topology/model.hpp"

#include <string>
#include <vector>

namespace ltb::service {

struct DeployRequest {
  bool dry_run = false;
  int workers = 8;
  std::string owner; // recorded on the lab; "" = the caller
  /// Apply the capacity rule of an `ltb up` (see admit_up() in reservations.hpp); `until` is the
  /// text of --until ("" = none). The scheduler deploys reserved labs and leaves this off.
  bool admit = false;
  std::string until;
  /// Recorded as the lab's source (state::LabRecord::source): "template:NAME@VERSION" for a lab
  /// deployed from the template store, "" for a file.
  std::string source;
  /// A snapshot restore's VMs: made from the snapshot's disk layers and memory (by node).
  std::map<std::string, apply::VmRestore> vm_restores;
  /// Deploy the lab confined whoever the caller is: the scheduler deploying a reservation that a
  /// user who is not an admin made. Only ever adds confinement (see deploys_confined()).
  bool confined = false;
  /// The topology file and what it references are the daemon's per-request copy: the lab keeps
  /// a copy of its own (lab_files_dir()) and records that as its file.
  bool keep_files = false;
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
  std::vector<Error> errors; // one per failed action, with its help
  /// "node N: exec `CMD` exited with status S: ..." for each exec command that failed and was
  /// gone past (settings.exec-failures: continue), as the nodes' records keep them.
  std::vector<std::string> exec_failures;
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// Docker's words for an image pull that failed, without the registry's address: "its registry
/// cannot be reached from this host (no such host)" for a network failure, else as Docker says.
std::string pull_failure(const std::string &message);

/// The options to load a topology that the session's caller deploys with: confined
/// (topology::LoadOptions::confined) unless the caller is an admin.
topology::LoadOptions load_options(const Session &session, topology::LoadOptions options = {});

/// Whether lab LAB deploys confined (ltb-topology(5), CONFINEMENT): the caller is not an admin,
/// the request says so, the lab is recorded confined, or it is deployed for an owner
/// (DeployRequest::owner) who is not an admin. Nothing in a topology turns it off, and
/// once a lab is confined it stays so whoever deploys it again.
Result<bool> deploys_confined(const Session &session, state::Store &store, const std::string &lab,
                              const DeployRequest &request);

/// `ltb up` of an already loaded topology: lock, admit (with request.admit), observe, plan, record
/// the lab's claim, apply. An Error only when it could not start (lock held, capacity refused,
/// Docker or libvirt not answering, no free subnet, a confined lab whose topology uses what only
/// admins may); failed actions are in the outcome.
Result<DeployOutcome> deploy_lab(const Session &session, Connection &connection,
                                 const topology::Topology &desired,
                                 const DeployRequest &request = {});

/// Loads topology text stored earlier (a reservation's) and deploys it as lab `lab`. `file` names
/// it in diagnostics and is recorded as the lab's file; relative paths resolve against `base_dir`
/// ("" = the current directory). An invalid topology is an Error carrying the diagnostics.
Result<DeployOutcome> deploy_text(const Session &session, Connection &connection,
                                  const std::string &topology_text, const std::string &lab,
                                  const std::string &file, const std::string &base_dir,
                                  const DeployRequest &request = {});

/// `ltb up --all`: brings recorded lab LAB back in line with the topology its record keeps (after
/// a reboot, say): the text as it was deployed, read with its paths where they were then (the
/// lab's own copy for a lab deployed through the daemon, the pinned version's files for a
/// template's), for the lab's owner. A lab with no recorded text (recorded by an older ltb) is an
/// Error that says to deploy it from its file.
Result<DeployOutcome> redeploy_recorded(const Session &session, Connection &connection,
                                        const state::LabRecord &lab, DeployRequest request = {});

struct RemoveOutcome {
  std::string lab;
  bool nothing = false; // no record and nothing found
  int done = 0;
  int failed = 0;
  int skipped = 0;
  bool interrupted = false;
  std::vector<Error> errors; // one per failed action, with its help
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// `ltb down --lab LAB`: removes what the state file records and what runtime labels show.
Result<RemoveOutcome> remove_lab(const Session &session, Connection &connection,
                                 const std::string &lab);

/// One line saying why a deploy or removal failed (the first error, and how many more).
std::string failure_summary(const std::vector<Error> &errors, bool interrupted);

} // namespace ltb::service
