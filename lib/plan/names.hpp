#pragma once
// Names of the runtime objects ltb makes for a lab. Host-side names (bridges, veths) share a prefix
// derived from the lab name so that `ltb down` finds them even without state.

#include <optional>
#include <string>

namespace ltb::plan {

/// Docker container name of a node: ltb-<lab>-<node>. Also a VM's libvirt domain name.
std::string container_name(const std::string &lab, const std::string &node);

/// A container node's name under containerlab's `prefix` (a lab record's container_prefix):
/// ltb's own (above) without one, the node's name for "", <lab>-<node> for "__lab-name",
/// else <prefix>-<lab>-<node>. VMs keep ltb's names whatever the prefix.
std::string container_name(const std::string &lab, const std::string &node,
                           const std::optional<std::string> &prefix);

/// containerlab's prefix that names containers by the lab and node only.
inline constexpr const char *k_prefix_lab_name = "__lab-name";

/// Default management network name: ltb-<lab>.
std::string network_name(const std::string &lab);

/// Host bridge of the management network: "lm" + 6 hex of the lab (VM NICs attach to it).
std::string mgmt_bridge_name(const std::string &lab);

/// Open vSwitch bridge of an ovs-bridge node: "lb" + 6 hex of the lab + 6 hex of the node (14
/// bytes).
std::string bridge_name(const std::string &lab, const std::string &node);

/// Host-side veth of a link end attached to a bridge: "lv" + 6 hex of the lab + 6 hex of the end.
std::string host_veth_name(const std::string &lab, const std::string &link_key,
                           const std::string &end);

/// A VM's tap on a segment, or in relay mode the host-side peer of a container's segment link
/// end: no bridge port, but joined to the port's peer, host_veth_name(lab, key, bridge node), by
/// redirects or the relay. Same form as host_veth_name, so that `down` finds it by the lab's
/// prefix.
std::string segment_node_veth_name(const std::string &lab, const std::string &link_key,
                                   const std::string &node);

/// The lab's parking namespace (`ip netns` name), where `ltb stop` kept the link interfaces of
/// its stopped containers before it kept each container's own namespace (stopped_netns_name):
/// ltb-park-<lab>. Still read, for labs stopped by an older ltb.
std::string park_netns_name(const std::string &lab);

/// The record name of a parked link end (and, in the lab's parking namespace, the interface's
/// name): "lp" + 6 hex of the lab + 6 hex of the end (unique in a lab, unlike "eth1").
std::string park_iface_name(const std::string &lab, const std::string &link_key,
                            const std::string &end);

/// The `ip netns` name under which `ltb stop` keeps a stopped container's network namespace,
/// with its link interfaces in it, until `ltb start`: the container's name, ltb-<lab>-<node>.
std::string stopped_netns_name(const std::string &lab, const std::string &node);

/// MAC address of a VM's NIC (0 = management): stable per lab, node and index, in QEMU's
/// locally administered 52:54:00 range. The DHCP reservation of NIC 0 uses it.
std::string vm_mac(const std::string &lab, const std::string &node, int index);

/// Every host interface of the lab starts with one of these.
std::string bridge_prefix(const std::string &lab);
std::string veth_prefix(const std::string &lab);

/// Docker labels and OVS external_ids keys.
inline constexpr const char *k_label_lab = "ltb.lab";
inline constexpr const char *k_label_node = "ltb.node";
inline constexpr const char *k_label_owner = "ltb.owner";
inline constexpr const char *k_label_hash = "ltb.config-hash";
/// On VM domains only: the accelerator the VM was started with ("kvm" or "qemu").
inline constexpr const char *k_label_accel = "ltb.accel";
inline constexpr const char *k_ovs_lab = "ltb-lab";
inline constexpr const char *k_ovs_owner = "ltb-owner";

} // namespace ltb::plan
