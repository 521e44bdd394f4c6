#pragma once
// Reading what a lab has: recorded (state file) and observed (Docker labels, OVS external_ids,
// host interfaces by prefix).

#include "apply/apply.hpp"
#include "plan/plan.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ltb::apply {

Result<plan::Recorded> read_recorded(state::Store &store, const std::string &lab);

struct ObserveOptions {
  bool bridges = false;    // ask Open vSwitch (needed when the lab has or had bridges)
  bool host_links = false; // list host interfaces with the lab's prefixes (teardown)
  bool networks = true;    // list the lab's Docker networks (`ltb status` does not show them)
  std::string lab_dir;     // when set, look for the lab's DHCP server (net/dhcp.hpp) there,
                           // and for its host firewall rules (net/host_firewall.hpp)
};

Result<plan::Observed> observe(const std::string &lab, Backends &backends,
                               const ObserveOptions &options);

/// The Docker network called `name` when one exists and does not carry lab `lab`'s label: a
/// network ltb did not make for this lab, which it may join but never change or remove.
Result<std::optional<plan::ExternalNetwork>>
foreign_network(Backends &backends, const std::string &lab, const std::string &name);

/// Subnets in use on this host: every Docker network's, and every other recorded lab's.
Result<std::vector<std::string>> used_subnets(Backends &backends, const std::string &except_lab);

} // namespace ltb::apply
