#pragma once
// What apply/ and its drivers are handed: the outside systems (Backends) and the options of one
// run. Depends on plan/, state/, runtime/, net/.

#include "apply/executor.hpp"
#include "net/dhcp.hpp"
#include "net/host_firewall.hpp"
#include "net/netlink.hpp"
#include "net/ovs.hpp"
#include "net/port_proxy.hpp"
#include "net/redirect.hpp"
#include "net/relay.hpp"
#include "net/tc.hpp"
#include "plan/plan.hpp"
#include "runtime/docker/docker.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "state/store.hpp"

#include <atomic>
#include <functional>
#include <string>

namespace ltb::apply {

/// Every outside system apply/ touches. The first five need a connection and are opened by the
/// caller; the others hold no connection, so they default to the real, stateless ones. Unit
/// tests set all of them to fakes (tests/unit/fakes/).
struct Backends {
  runtime::ContainerRuntime *docker = nullptr;
  net::Netlink *netlink = nullptr;
  net::Ovs *ovs = nullptr;
  state::Store *store = nullptr;
  runtime::VmRuntime *vms = nullptr;                       // only for labs with VM nodes
  net::HostNet *host = &net::host_net();                   // namespaces, taps, tc redirects
  net::Dhcp *dhcp = &net::host_dhcp();                     // the per-lab dnsmasq
  runtime::Overlays *overlays = &runtime::host_overlays(); // VM disks (qemu-img)
  net::Relay *relay = &net::host_relay();                  // the per-lab userspace impairment relay
  net::Tc *tc = &net::host_tc(); // netem/tbf impairments and link ends' up/down state
  net::HostFirewall *firewall = &net::host_firewall(); // confined labs' iptables rules
  net::PortProxies *ports = &net::host_port_proxies(); // published ports of isolated labs
};

/// A VM node that a snapshot restore makes again as the snapshot holds it (service/snapshots).
struct VmRestore {
  std::string layer;       // its disk builds on this frozen layer, not on its image; "" = image
  std::string memory_file; // it resumes from this memory state instead of booting; "" = boots
  std::string saved_disk;  // the disk file the memory state names (replaced by the new disk)
};

struct ApplyOptions {
  int workers = 8;
  const std::atomic<bool> *interrupted = nullptr;
  std::string owner;   // user name recorded on the lab and as a label
  std::string lab_dir; // per-lab files (inline startup configs)
  /// Impairments through the userspace relay (no netem here, or settings.impairments: relay):
  /// point-to-point links are host-joined. See choose_impairment_path().
  bool relay_mode = false;
  /// `ltb stop`: seconds a node gets to stop by itself (SIGTERM, ACPI) before it is killed; -1 =
  /// the runtime's default (Docker's 10 s, 30 s for a VM).
  int stop_timeout = -1;
  /// Called as each action of the plan ends (done, failed or skipped), from a worker thread, one
  /// call at a time: the service records ltb's events from it (node created, removed, ...).
  std::function<void(const plan::Action &, const TaskResult &)> on_action;
  /// By node: VMs that are made from a snapshot (a restore).
  std::map<std::string, VmRestore> vm_restores;
};

} // namespace ltb::apply
