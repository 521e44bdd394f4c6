#pragma once
// The host firewall of a confined lab (a non-admin's): the host refuses what its nodes start
// towards it over the lab's management bridge, IPv4 and IPv6, except DHCP to ltb's own dnsmasq
// when the lab has VMs; replies to what the host started (ltb ssh, exec, capture) pass. What
// reaches the host's own stack from the lab's link interfaces in the host namespace (veths and
// taps joined by redirects or the impairment relay, OVS bridges' own interfaces) is dropped:
// they are plumbing, and the relay, redirects, OVS and captures take frames before it. The
// rules live in one chain of the filter table, LTB-INPUT, that INPUT jumps to first; each rule
// carries the comment "ltb:LAB" (":dhcp" added when the lab's DHCP is let through), so that
// `ltb down` finds a lab's rules without its state. Changes go through iptables-restore
// --noflush, one transaction per address family, under a host-wide lock (ltb processes only;
// Docker keeps to its own chains).

#include "util/error.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace ltb::net {

/// ltb's chain in the filter table of both address families.
inline constexpr const char *k_firewall_chain = "LTB-INPUT";

struct HostFirewallSpec {
  std::string lab;
  std::string interface; // the lab's management bridge (plan::mgmt_bridge_name)
  bool dhcp = false;     // let DHCP requests reach the lab's dnsmasq (IPv4, udp 67)
  /// The lab's link interfaces in the host namespace, as iptables wildcards ("lvabcdef+").
  std::vector<std::string> links = {};
  bool operator==(const HostFirewallSpec &) const = default;
};

struct HostFirewallState {
  bool present = false;  // some rule of the lab is there (either family)
  bool complete = false; // the rules of `spec` are all there, in both families, reached from INPUT
  HostFirewallSpec spec; // what the rules say (when present): interface and dhcp
};

enum class IpFamily { v4, v6 };

/// The lab's rules of one family, each the words after "-A LTB-INPUT", in order: on the
/// management bridge, replies accepted, (IPv6) neighbour discovery accepted, (IPv4, dhcp) DHCP
/// accepted, then TCP refused with a reset and everything else with an ICMP "administratively
/// prohibited"; then everything from each of the link interfaces dropped.
std::vector<std::vector<std::string>> host_firewall_rules(const HostFirewallSpec &spec,
                                                          IpFamily family);

/// The comment that tags the lab's rules: "ltb:LAB", or "ltb:LAB:dhcp".
std::string host_firewall_comment(const HostFirewallSpec &spec);

/// What `iptables -S` (or ip6tables) output says about the filter table: whether ltb's chain
/// exists, whether INPUT jumps to it, and the lab's rules (the words after "-A LTB-INPUT", as
/// the shell would split them).
struct FirewallListing {
  std::string lab;
  bool chain = false;
  std::size_t jumps = 0; // rules '-A INPUT -j LTB-INPUT'
  std::vector<std::vector<std::string>> lab_rules;
  std::size_t other_rules = 0;       // rules of ltb's chain that are not the lab's
  std::vector<std::string> comments; // the lab's rules' comments, in order
};
FirewallListing parse_firewall_listing(const std::string &listing, const std::string &lab);

/// The iptables-restore --noflush input that makes the lab's rules of one family those of SPEC
/// (or none, with `remove`): makes the chain and the jump when missing, deletes the lab's old
/// rules, appends the new ones; with `remove`, drops the jump and the chain when nothing else
/// is left in it.
std::string host_firewall_restore(const FirewallListing &listing, const HostFirewallSpec &spec,
                                  IpFamily family, bool remove);

/// The state of the lab's rules from the listings of both families.
HostFirewallState host_firewall_state(const FirewallListing &v4, const FirewallListing &v6);

/// The host's firewall behind one seam, so that unit tests of apply/ run on a fake.
class HostFirewall {
public:
  virtual ~HostFirewall() = default;
  /// The lab's rules as they are now. Fails when the tables cannot be read (not root, no
  /// iptables).
  virtual Result<HostFirewallState> state(const std::string &lab) = 0;
  /// Makes the lab's rules those of SPEC in both families. On failure none of the lab's rules
  /// is left.
  virtual Status apply(const HostFirewallSpec &spec) = 0;
  /// Removes the lab's rules (ok when there are none), and ltb's chain once it is empty.
  virtual Status remove(const std::string &lab) = 0;
  /// Lets the host forward what host bridge BRIDGE (a bridge node's) bridges, as containerlab
  /// does: with br_netfilter loaded, bridged frames pass the FORWARD chain, whose policy Docker
  /// sets to DROP. Rules in and out of the bridge, first in FORWARD, in both families, with the
  /// comment "ltb:LAB:bridge:BRIDGE"; ok when they are there already.
  virtual Status allow_bridge(const std::string &lab, const std::string &bridge) = 0;
  /// Removes those rules (ok when there are none).
  virtual Status forget_bridge(const std::string &lab, const std::string &bridge) = 0;
};

/// The real one (iptables and ip6tables). Stateless, so one instance serves all.
HostFirewall &host_firewall();

} // namespace ltb::net
