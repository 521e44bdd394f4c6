#pragma once
// The planner: a pure function of (desired topology, recorded state, observed runtime) that yields
// the actions to converge, with their dependencies. No I/O here; apply/ performs the actions.
// Depends on topology/, state/ (record types only) and util/.

#include "plan/reason.hpp"
#include "state/store.hpp"
#include "topology/model.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ltb::plan {

struct ObservedContainer {
  std::string id;
  std::string name;
  std::string state; // Docker's: "running", "exited", "created", ...
  std::string config_hash;
  std::string health = {}; // Docker's health with a healthcheck ("healthy", ...); else empty
};

struct ObservedBridge {
  std::string name;
  std::set<std::string> ports;
};

/// The host firewall of a confined lab (net/host_firewall.hpp): the host refuses what the lab's
/// nodes start towards it over `interface`, its management bridge; with `dhcp`, DHCP requests to
/// the lab's dnsmasq pass.
struct FirewallRules {
  std::string interface;
  bool dhcp = false;
  std::vector<std::string> links = {}; // the lab's host link interfaces, as wildcards

  bool operator==(const FirewallRules &) const = default;
};

/// A confined lab's host firewall: its management bridge, and its host link interfaces by
/// their prefixes (veth_prefix, bridge_prefix).
FirewallRules firewall_rules(const std::string &lab, bool dhcp);

/// A Docker network that mgmt.network names, which exists and was not made by ltb for this lab:
/// the lab's nodes join it, and ltb never changes or removes it.
struct ExternalNetwork {
  std::string name;
  std::string id;
  std::string subnet;       // IPv4 CIDR; empty when it has none
  std::string gateway;      // its IPv4 gateway, where Docker says
  std::string lab = {};     // the ltb lab whose network it is (its ltb.lab label), if any
  std::string subnet6 = {}; // its IPv6 subnet, when IPv6 is enabled on it
  bool operator==(const ExternalNetwork &) const = default;
};

/// What runs now for one lab, found by labels and external_ids (not from state).
struct Observed {
  std::map<std::string, ObservedContainer> containers; // by node name
  std::set<std::string> networks;                      // the lab's Docker networks, by name
  std::map<std::string, std::string> network_subnets;  // their subnets (CIDR), where known
  std::map<std::string, std::string> network_subnets6; // their IPv6 subnets, where enabled
  /// The network mgmt.network names, when it exists and is not the lab's own (see above).
  std::optional<ExternalNetwork> external_network = std::nullopt;
  std::map<std::string, ObservedBridge> bridges;       // by node name
  /// The Linux bridges of the lab's bridge nodes (recorded ones) that exist, by node name.
  std::map<std::string, ObservedBridge> linux_bridges;
  /// The containers of the lab's ext-container nodes (recorded ones) that exist, by node name.
  std::map<std::string, ObservedContainer> external;
  std::map<std::string, ObservedContainer> vms;        // libvirt domains by node name (id = uuid)
  std::vector<std::string> host_links; // host interfaces with the lab's prefixes (for teardown)
  /// The lab's DHCP server (for VMs), when one runs: the hosts it serves (net/dhcp.hpp).
  std::optional<std::string> dhcp_hosts;
  /// The lab's impairment relay when it has links to serve (net/relay.hpp): whether it runs.
  std::optional<bool> relay_running;
  /// The impairment path this run takes (apply::choose_relay_mode), when known: a link wired for
  /// the other one (its record's impair_via), where the two wire it differently, is rewired.
  std::optional<bool> relay_mode = std::nullopt;
  /// The lab's published-port proxies (net/port_proxy.hpp), when any is recorded in the lab
  /// directory: the lines of those that run ("" when none does).
  std::optional<std::string> published_ports = std::nullopt;
  /// The lab's host firewall rules when every one is in place (found by their comment), and
  /// whether any of its rules is there at all (complete or not).
  std::optional<FirewallRules> firewall = std::nullopt;
  bool firewall_present = false;
};

/// What the state file says about one lab.
struct Recorded {
  std::optional<state::LabRecord> lab;
  std::vector<state::NodeRecord> nodes;
  std::vector<state::LinkRecord> links;
  std::vector<state::ObjectRecord> objects;
};

enum class ActionKind {
  create_network,
  remove_network,
  create_bridge,
  remove_bridge,
  create_node,
  remove_node,
  wire_links,   // one p2p link, or one node's links to one bridge (one ovs-vsctl call)
  unwire_links, // one p2p link, or every link of one bridge
  run_exec,     // a node's exec commands, after its links are wired
  remove_host_link,
  create_vm, // a libvirt domain, with taps for its point-to-point links made first
  remove_vm, // the domain, its overlay disk and its taps (links: the node's recorded link keys)
  configure_dhcp, // start the lab's DHCP server for its VMs, or restart it with new reservations
  remove_dhcp,    // stop it (the lab has no VM left, or goes)
  resume_relay,   // start the lab's impairment relay again on its links (it died)
  remove_relay,   // stop it and remove its files (the lab goes)
  stop_node,      // `ltb stop`: keep the node's namespace and links, stop it (kept, not removed)
  start_node,     // `ltb start`: start a stopped node, bring its parked interfaces back
  remove_netns,   // a kept (or parking) namespace, with whatever is still parked in it
  set_impairment, // apply one link's impairments and carrier (links[0]) without rewiring it;
                  // `node` is its bridge node for a segment link
  configure_firewall, // a confined lab's host firewall rules (Plan::firewall), before its nodes
  remove_firewall,    // remove them (the lab goes, after its nodes)
  publish_ports,      // make the lab's port proxies those of Plan::published_ports
  remove_ports,       // stop them all (no port left to publish, or the lab goes)
};

struct Action {
  ActionKind kind;
  std::string node;               // node, bridge node, or the node whose exec runs
  std::vector<std::string> links; // link keys (wire/unwire)
  std::string name;               // network, container or interface name
  Why why;                        // shown by describe(): "new", "removed from the file", ...
  std::vector<std::size_t> deps;  // indices of actions that must succeed first
};

/// A link as ltb will build it.
struct PlannedLink {
  std::string key;
  std::string name;
  topology::Endpoint a;
  topology::Endpoint b;
  int mtu = 0;
  std::string bridge_node; // the ovs-bridge end ("" for container-to-container)
  /// A host link: its end on the host (a bridge node's or the host's), whose interface is made
  /// in the host's namespace under the name the file gives; "" for other links.
  std::string host_node = {};
  std::string host_bridge = {}; // the Linux bridge that end is a port of ("" for the host's)
  /// A device link (containerlab's macvlan, dummy, vxlan, vxlan-stitch): one device in the
  /// node at end a; end b is the implicit node of its type (topology::LinkKind). In a plan of
  /// recorded links, the kind comes from the record of its device (state::ObjectType::
  /// link_device), and the parameters are not known.
  topology::LinkKind kind = topology::LinkKind::veth;
  topology::LinkDevice device = {};
  /// The device's parameters as recorded with it (topology::describe_device).
  std::string device_spec() const { return topology::describe_device(kind, device, b.iface); }
  std::string node_end() const { return host_node == a.node ? b.node : a.node; }
  const topology::Endpoint &host_end() const { return host_node == a.node ? a : b; }
  // Impairments of the packets leaving end a / end b and the carrier, as they are to be after
  // this plan: the file's, or a run-time change (`ltb link set`) that the file does not replace
  // (see link_settings()); and what the state file says is applied now.
  topology::Impairments impair_a = {};
  topology::Impairments impair_b = {};
  topology::Impairments applied_a = {};
  topology::Impairments applied_b = {};
  topology::Impairments file_a = {}; // what the file asks, recorded for `ltb link set --reset`
  topology::Impairments file_b = {};
  std::optional<topology::Impairments> override_a = {}; // run-time changes that stay
  std::optional<topology::Impairments> override_b = {};
  bool down = false;     // `ltb link down`: both ends without carrier
  bool was_down = false; // recorded down before this plan
  std::string container_end() const { return bridge_node == a.node ? b.node : a.node; }
  /// The settings differ from what is recorded as applied (configure must act).
  bool settings_change() const {
    return impair_a != applied_a || impair_b != applied_b || down != was_down;
  }
};

/// Fills LINK's impairments and carrier from the file's link (null: the link is not in the file,
/// its recorded file values stand) and its record (null: a new link). Per direction, the file
/// wins when it sets impairments there (the run-time change is dropped); otherwise a run-time
/// change stays. The carrier is always the recorded one: the file has no say in it.
void link_settings(PlannedLink &link, const topology::Link *file, const state::LinkRecord *record);

/// The settings columns of a link's record as they are once LINK is configured, applied through
/// VIA ("kernel" or "relay").
state::LinkRecord settings_record(const std::string &lab, const PlannedLink &link,
                                  const std::string &via);

struct Plan {
  std::string lab;
  std::string network;                          // management network name
  /// containerlab's prefix of the lab's container names (plan::container_name; nullopt: ltb's).
  std::optional<std::string> container_prefix = std::nullopt;
  /// The management network exists and is not ltb's (ExternalNetwork): never created or
  /// removed; nodes without a fixed address get Docker's (`addresses` lacks them).
  bool network_external = false;
  std::string network_id;                       // its Docker id, when external
  std::string subnet;                           // management subnet (CIDR)
  std::string gateway;                          // its first host address
  std::map<std::string, std::string> addresses; // node -> management IPv4
  /// Dual stack (mgmt.ipv6-subnet): the IPv6 subnet and gateway ("" = Docker's), and the nodes'
  /// fixed IPv6 addresses (mgmt-ipv6; the others get Docker's). subnet6 "" = IPv4 only.
  std::string subnet6 = {};
  std::string gateway6 = {};
  std::map<std::string, std::string> addresses6 = {};
  std::map<std::string, PlannedLink> links;     // by key, desired links (up) or recorded (down)
  std::string dhcp_hosts; // the DHCP reservations of the lab's VMs (configure_dhcp)
  /// Ports published by ltb's proxies (an isolated management network; see published_ports()):
  /// what publish_ports makes run. Containers of such a lab get no Docker port bindings.
  std::string published_ports;
  bool ports_by_proxy = false;
  FirewallRules firewall; // what configure_firewall installs (a confined lab)
  std::vector<Action> actions;
  bool teardown = false;

  bool empty() const { return actions.empty(); }
};

/// Plans `ltb up`. `used_subnets` are subnets taken by other labs and Docker networks, consulted
/// only when the lab has no subnet yet. Fails when no free management subnet is left, or when the
/// file asks for something ltb cannot build (for example a link between two bridges).
Result<Plan> plan_up(const topology::Topology &desired, const Recorded &recorded,
                     const Observed &observed, const std::vector<std::string> &used_subnets);

/// Plans `ltb down`: everything recorded or observed for the lab goes.
Plan plan_down(const std::string &lab, const Recorded &recorded, const Observed &observed);

/// Plans `ltb stop` (stop = true) or `ltb start` of the lab's containers and VMs, or of `nodes`
/// when not empty (each must be a recorded container or VM node: a usage error names the one
/// that is not). One independent action per node that is not already so: a stopped node
/// observed not running is not stopped again; a node that runs as recorded and has nothing
/// parked is not started again. The plan's links are the recorded ones. Starting nodes of a
/// confined lab whose host firewall rules are not all observed makes them first.
Result<Plan> plan_lifecycle(const std::string &lab, const Recorded &recorded,
                            const Observed &observed, const std::vector<std::string> &nodes,
                            bool stop);

/// A VM's NICs are fixed when its domain is made, so its links are part of what, changed, means
/// recreating it: the node's configuration hash plus its interfaces and what they lead to.
/// LEGACY: the hash an older ltb gave a VM whose segment NICs were the bridge ports themselves
/// (made by libvirt), before they were taps of ltb's joined to the ports.
std::string vm_config_hash(const topology::Topology &desired, const topology::Node &node,
                           bool legacy = false);

/// The VM's data interfaces in guest NIC order (natural sort of the names: eth2 before eth10),
/// each with its link.
std::vector<std::pair<std::string, const topology::Link *>>
vm_interfaces(const topology::Topology &desired, const std::string &node);

/// The DHCP reservations of a lab's VMs (NIC 0's MAC -> management address), as dnsmasq's hosts
/// file: one "mac,ipv4,node" line per VM, sorted by MAC. Empty when the lab has no VM.
std::string dhcp_hosts(const topology::Topology &desired,
                       const std::map<std::string, std::string> &addresses);

/// The ports a lab publishes through proxies (its management network is ltb's and isolated:
/// Docker publishes nothing from it), as net::PublishedPort lines: one per port of every
/// container node with a management address, sorted. Empty when there is none, or when the
/// network has external access or is not ltb's (Docker publishes them).
std::string published_ports(const topology::Topology &desired,
                            const std::map<std::string, std::string> &addresses,
                            bool network_external);

/// What differs between a node's record and what runs for it (its container, domain or bridge,
/// by the record's kind): unfinished (the record is not running), missing, not_running (detail:
/// the runtime's state) or replaced; nullopt when it runs as recorded. `ltb up` recreates such a
/// node; with `bridges_known` false, a bridge's absence is not held against it.
std::optional<Why> node_drift(const state::NodeRecord &record, const Observed &observed,
                              bool bridges_known = true);

/// A node's state as `ltb status` shows it: "running" when it runs as recorded, "stopped" when it
/// was stopped by `ltb stop` and is, else the
/// unfinished record's status ("creating"), "missing", the runtime's state ("exited") or
/// "replaced".
std::string node_state(const state::NodeRecord &record, const Observed &observed,
                       bool bridges_known);

/// After `ltb up`: one message per desired node that is not observed running (its container,
/// domain or bridge missing or stopped); empty when the lab converged. Nodes in `stopped` (recorded
/// stopped by `ltb stop`) must be observed stopped instead.
std::vector<std::string> not_converged(const topology::Topology &desired, const Observed &observed,
                                       const std::set<std::string> &stopped = {});

/// Whether a runtime state (Docker's or libvirt's) is a stopped one that `ltb start` starts
/// again: "exited", "created", "shutoff".
bool is_stopped_state(const std::string &state);

/// One line per action for --dry-run and logs, e.g. "create node r1 (new)".
std::string describe(const Action &action, const Plan &plan);

} // namespace ltb::plan
