#pragma once
// The one place that opens backends: the state file, Docker, netlink, Open vSwitch and libvirt,
// once per request.

#include "apply/apply.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <memory>

namespace ltb::service {

/// Real backends, connected; ovs/netlink are created but only used on demand.
struct Connection {
  std::unique_ptr<state::Store> store;
  std::unique_ptr<runtime::ContainerRuntime> docker;
  std::unique_ptr<net::Netlink> netlink;
  std::unique_ptr<net::Ovs> ovs;
  std::unique_ptr<runtime::VmRuntime> vms; // connected by connect_vms() when a lab has VMs
  /// Confined labs' host firewall rules: the host's (net::host_firewall()) unless set.
  std::unique_ptr<net::HostFirewall> firewall;
  apply::Backends backends() const {
    apply::Backends b{docker.get(), netlink.get(), ovs.get(), store.get(), vms.get()};
    if (firewall) {
      b.firewall = firewall.get();
    }
    return b;
  }
  /// Connects to libvirt. `required`: fail when it does not answer; else stay without it.
  Status connect_vms(bool required);
};

/// Opens the state file and, with `docker`, connects to Docker.
Result<Connection> connect(const Context &context, bool docker = true);

/// Only the state file.
Result<std::unique_ptr<state::Store>> open_store(const Context &context);

} // namespace ltb::service
