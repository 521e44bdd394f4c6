#pragma once
// What `ltb capture` captures. capture/ holds packet capture: target names resolved against a
// lab's records (this file, pure), Open vSwitch mirrors for segments (mirror.hpp), the capture
// records in state and their cleanup (records.hpp), and libpcap itself (live.hpp). Depends on
// state/, plan/ (names), topology/ (did-you-mean), net/ (namespaces) and util/.

#include "state/store.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace ltb::capture {

/// One lab as recorded: what target names resolve against.
struct LabRecords {
  std::string lab;
  std::vector<state::NodeRecord> nodes;
  std::vector<state::LinkRecord> links;
};

enum class TargetKind {
  interface, // one interface, in a container's namespace or on the host
  segment,   // an Open vSwitch bridge, captured through a mirror
};

struct Target {
  TargetKind kind = TargetKind::interface;
  std::string lab;
  std::string node;  // interface: the container whose namespace holds `iface`; "" = the host's
  std::string iface; // interface: its name there
  std::string link;  // the link's name, when the target is a link or one of its ends
  std::string bridge_node;        // segment: the ovs-bridge node
  std::string bridge;             // segment: its Open vSwitch bridge
  std::string port_node;          // segment with --port: that node
  std::vector<std::string> ports; // segment with --port: the node's ports on the bridge
  std::string label; // for messages: "r1:eth1 (link r1-r2)", "segment sw1 (port of h1)"
};

/// Resolves `spec`, one of: a link name ("r1-r2"), NODE:IFACE ("r1:eth1", or a bridge's
/// "sw1:p2"), or a segment ("sw1"). `port_node` (--port) narrows a segment to one node's ports.
/// Unknown names fail with a did-you-mean over target_names().
Result<Target> resolve(const LabRecords &lab, const std::string &spec,
                       const std::string &port_node = {});

/// Every name a target can have in the lab: links, NODE:IFACE of each link end, segments.
std::vector<std::string> target_names(const LabRecords &lab);

/// The lab of a target given without --lab: the one lab among `labs` where it resolves. Fails
/// (usage) when several labs have it, and with a did-you-mean over all of them when none does.
Result<std::size_t> find_lab(const std::vector<LabRecords> &labs, const std::string &spec);

} // namespace ltb::capture
