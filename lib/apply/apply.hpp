#pragma once
// Performs a plan against the real (or fake) backends, recording every object in state before or
// as it is created. Depends on plan/, state/, runtime/, net/, topology/.

#include <atomic>
#include <string>
#include <vector>

#include "apply/executor.hpp"
#include "apply/progress.hpp"
#include "net/dhcp.hpp"
#include "net/netlink.hpp"
#include "net/ovs.hpp"
#include "net/redirect.hpp"
#include "plan/plan.hpp"
#include "runtime/docker/docker.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "state/store.hpp"
#include "topology/model.hpp"

namespace ltb::apply {

/// Every outside system apply/ touches. The first five need a connection and are opened by the
/// caller; the last three hold no connection, so they default to the real, stateless ones. Unit
/// tests set all of them to fakes (tests/unit/fakes/).
struct Backends {
  runtime::ContainerRuntime *docker = nullptr;
  net::Netlink *netlink = nullptr;
  net::Ovs *ovs = nullptr;
  state::Store *store = nullptr;
  runtime::VmRuntime *vms = nullptr; // only for labs with VM nodes
  net::HostNet *host = &net::host_net();                   // namespaces, taps, tc redirects
  net::Dhcp *dhcp = &net::host_dhcp();                     // the per-lab dnsmasq
  runtime::Overlays *overlays = &runtime::host_overlays(); // VM disks (qemu-img)
};

struct ApplyOptions {
  int workers = 8;
  const std::atomic<bool> *interrupted = nullptr;
  std::string owner;   // user name recorded on the lab and as a label
  std::string lab_dir; // per-lab files (inline startup configs)
};

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

/// `ltb up`: records the lab, runs the plan, marks the lab running or failed.
ApplyReport apply_up(const plan::Plan &plan, const topology::Topology &desired, Backends &backends,
                     Progress &progress, const ApplyOptions &options);

/// Makes the plan's management network ahead of the other actions, after recording the lab as
/// apply_up does: an automatically chosen subnet that another process took meanwhile is then
/// found (ErrorKind::address_in_use) before anything depends on it. On failure the lab is
/// recorded as failed, without the subnet tried.
Status apply_network_first(const plan::Plan &plan, const topology::Topology &desired,
                           Backends &backends, const ApplyOptions &options);

/// `ltb down`: runs a teardown plan; forgets the lab when everything is gone.
ApplyReport apply_down(const plan::Plan &plan, Backends &backends, Progress &progress,
                       const ApplyOptions &options);

/// Which accelerator a VM gets: the node's setting, else $LTB_VM_ACCEL, else what a real boot
/// check found on this host before (recorded in state), else that check: a guest kernel started
/// under KVM must print within a few seconds, or software emulation is used.
Result<std::string> choose_accel(const topology::Node &node, runtime::VmRuntime &vms,
                                 state::Store &store, const std::string &probe_dir, bool &probed);

/// Which OVS datapath to use: the file's setting, else $LTB_OVS_DATAPATH, else what worked before on
/// this host (recorded in state), else "system" falling back to "netdev" with a notice.
net::Datapath choose_datapath(topology::OvsDatapath setting, state::Store &store, bool &probe);

} // namespace ltb::apply
