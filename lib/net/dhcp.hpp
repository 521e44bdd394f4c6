#pragma once
// The per-lab DHCP server on the management bridge: a dnsmasq that hands each VM's first NIC the
// address recorded in state, by MAC (a static reservation; no dynamic pool). Disk images of real
// devices ask DHCP for their management address; kernel-boot guests get it on the command line
// too. Its files live in one directory (the lab's): dnsmasq.hosts (what it serves, for ltb),
// dnsmasq.pid, dnsmasq.leases, dnsmasq.log. ltb started the process, so ltb ends it, by the pid it recorded, after checking that
// the pid still is that dnsmasq.

#include "util/error.hpp"

#include <string>
#include <vector>

namespace ltb::net {

struct DhcpServerState {
  bool running = false;
  int pid = 0;
  std::string hosts_text; // what the running server serves (its hosts file); empty if not running
};

/// Whether the lab's server runs: its pid file names a live dnsmasq started with this directory.
DhcpServerState dhcp_server_state(const std::string &dir);

struct DhcpServerSpec {
  std::string dir;        // the lab directory
  std::string interface;  // the management bridge
  std::string subnet;     // CIDR of the management network
  std::string router;     // default gateway handed out; empty = none (isolated network)
  std::string hosts_text; // lines "mac,ip,name" (plan::dhcp_hosts), each a --dhcp-host
};

/// Starts the server, or restarts a running one when its reservations changed.
Status dhcp_server_apply(const DhcpServerSpec &spec);

/// Stops the lab's server (when it runs) and removes its files. Ok when there is none.
Status dhcp_server_stop(const std::string &dir);

/// The three calls above behind one seam, so that unit tests of apply/ run on a fake.
class Dhcp {
public:
  virtual ~Dhcp() = default;
  virtual DhcpServerState state(const std::string &dir) = 0;
  virtual Status apply(const DhcpServerSpec &spec) = 0;
  virtual Status stop(const std::string &dir) = 0;
};

/// The real one (dnsmasq processes). Stateless, so one instance serves all.
Dhcp &host_dhcp();

/// The dnsmasq command line for a spec (for tests and --dry-run).
std::vector<std::string> dnsmasq_argv(const DhcpServerSpec &spec);

} // namespace ltb::net
