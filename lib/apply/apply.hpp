#pragma once
// Performs a plan against the real (or fake) backends, recording every object in state before or
// as it is created. What differs per runtime and per kind of link lives in drivers/ (node and
// link drivers); the runner here dispatches to them. Depends on plan/, state/, runtime/, net/,
// topology/.

#include "apply/backends.hpp"
#include "apply/executor.hpp"
#include "event/progress.hpp"
#include "plan/plan.hpp"
#include "topology/model.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace ltb::apply {

// The applier reports through the front end's progress display (event/).
using event::Phase;
using event::Progress;

struct ActionReport {
  std::string description;
  TaskResult result;
};

struct ApplyReport {
  std::vector<ActionReport> actions;
  int done = 0;
  int failed = 0;
  int skipped = 0;
  bool interrupted = false;
  bool ok() const { return failed == 0 && skipped == 0 && !interrupted; }
};

/// The lab as `ltb up` records it when it starts ("deploying"), over what was recorded before.
state::LabRecord deploying_lab(std::optional<state::LabRecord> existing, const plan::Plan &plan,
                               const topology::Topology &desired, const std::string &owner);

/// `ltb up`: records the lab, runs the plan, marks the lab running or failed.
ApplyReport apply_up(const plan::Plan &plan, const topology::Topology &desired, Backends &backends,
                     Progress &progress, const ApplyOptions &options);

/// Makes the plan's management network ahead of the other actions, after recording the lab as
/// apply_up does: an automatically chosen subnet that another process took meanwhile is then
/// found (ErrorKind::address_in_use) before anything depends on it. On failure the lab is
/// recorded as failed, without the subnet tried.
Status apply_network_first(const plan::Plan &plan, const topology::Topology &desired,
                           Backends &backends, const ApplyOptions &options);

/// `ltb stop` / `ltb start`: runs a plan of plan::plan_lifecycle, then records the lab stopped
/// when all its
/// containers and VMs are, running again when one of them runs. `desired`: the lab's recorded
/// topology when it loads (link settings come from it), else null.
ApplyReport apply_lifecycle(const plan::Plan &plan, const topology::Topology *desired,
                            Backends &backends, Progress &progress, const ApplyOptions &options);

/// `ltb down`: runs a teardown plan; forgets the lab when everything is gone.
ApplyReport apply_down(const plan::Plan &plan, Backends &backends, Progress &progress,
                       const ApplyOptions &options);

/// `ltb link set|up|down`: runs a plan of set_impairment actions on links as recorded (no
/// desired topology; the lab's record is left as it is).
ApplyReport apply_link_settings(const plan::Plan &plan, Backends &backends, Progress &progress,
                                const ApplyOptions &options);

/// Who applies a lab's impairments (ApplyOptions::relay_mode): the file's setting, else
/// $LTB_IMPAIRMENTS (auto, kernel or relay), else how the lab's links were wired (their records'
/// impair_via), else the kernel when it has netem, else the relay: then `fell_back` is set and
/// the caller says so. A bad $LTB_IMPAIRMENTS is an error.
Result<bool> choose_relay_mode(topology::ImpairmentPath setting, net::Tc &tc,
                               const std::vector<state::LinkRecord> &links, bool &fell_back);

/// Which accelerator a VM gets: the node's setting, else $LTB_VM_ACCEL, else what a real boot
/// check found on this host before (recorded in state), else that check: a guest kernel started
/// under KVM must print within a few seconds, or software emulation is used.
Result<std::string> choose_accel(const topology::Node &node, runtime::VmRuntime &vms,
                                 state::Store &store, const std::string &probe_dir, bool &probed);

/// Which OVS datapath to use: the file's setting, else $LTB_OVS_DATAPATH, else what worked before
/// on this host (recorded in state), else "system" falling back to "netdev" with a notice.
net::Datapath choose_datapath(topology::OvsDatapath setting, state::Store &store, bool &probe);

} // namespace ltb::apply
