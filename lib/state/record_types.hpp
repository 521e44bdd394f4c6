#pragma once
// The closed sets of values the state file stores as text: record statuses and runtime object
// types. Code branches on these enums; the text (to_string) is what the state file holds, shows
// and always held, so no migration is involved. Depends on nothing in lib/.

#include <optional>
#include <string>
#include <string_view>

namespace ltb::state {

/// The status of a lab, node, link or runtime object record. Labs: deploying, running, failed,
/// removing, stopped (every node stopped by `ltb stop`). Nodes: creating, created (made, links or
/// exec not yet done), running, failed, stopped (kept, not running: `ltb stop`). Links: creating,
/// up, failed. Objects: creating, created, removing.
enum class RecordStatus { creating, created, running, failed, removing, deploying, up, stopped };

/// The type of a recorded runtime object.
enum class ObjectType {
  container,
  network, // Docker network
  veth,    // a host-side interface (veth end, tap)
  bridge,  // Open vSwitch bridge
  port,
  domain, // libvirt domain
  dhcp,   // the lab's dnsmasq for its VMs
  capture,
  mirror,       // OVS mirror of a segment capture
  capture_port, // its mirror port
  relay,        // the lab's userspace impairment relay (net/relay.hpp)
  netns,        // a named network namespace: the lab's parking namespace (`ltb stop`)
  parked,       // a stopped node's link interface, parked in it (detail: what it carried)
  firewall,     // a confined lab's host firewall rules (net/host_firewall.hpp)
  linux_bridge, // a Linux bridge ltb made for a bridge node (one that existed is not recorded)
  host_end,     // a link's end in the host's namespace, named by the lab file (host, bridge)
  /// A device link's device (containerlab's macvlan, dummy, vxlan): name the interface, parent
  /// the node it is in ("" = the host's namespace), detail topology::describe_device.
  link_device,
  /// The lab's published-port proxies (net/port_proxy.hpp): one record, name "docker-proxy",
  /// runtime id how many of them run.
  port_proxy,
};

const char *to_string(RecordStatus status);
const char *to_string(ObjectType type);

/// The inverse of to_string; nullopt for text no ltb writes.
std::optional<RecordStatus> parse_record_status(std::string_view text);
std::optional<ObjectType> parse_object_type(std::string_view text);

} // namespace ltb::state
