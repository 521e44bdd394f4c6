#include "capture/target.hpp"

#include "plan/names.hpp"
#include "topology/diagnostics.hpp"
#include "topology/kinds.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace ltb::capture {

namespace {

using topology::Runtime;

const state::NodeRecord *find_node(const LabRecords &lab, const std::string &name) {
  auto it = std::find_if(lab.nodes.begin(), lab.nodes.end(),
                         [&](const state::NodeRecord &node) { return node.name == name; });
  return it == lab.nodes.end() ? nullptr : &*it;
}

Runtime runtime_of(const LabRecords &lab, const std::string &node) {
  const auto *record = find_node(lab, node);
  return topology::runtime_of_kind(record ? record->kind : std::string());
}

std::string bridge_of(const LabRecords &lab, const state::NodeRecord &node) {
  return node.runtime_id.empty() ? plan::bridge_name(lab.lab, node.name) : node.runtime_id;
}

std::string join(const std::vector<std::string> &items) {
  std::string out;
  for (const auto &item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

struct End {
  std::string node;
  std::string iface;
};

// One end of a recorded link, as seen from the capture: where its frames can be picked up.
// A container end is its interface in the container's namespace. A VM end is the VM's tap on the
// host (the guest's namespace is out of reach), or on a segment the bridge port its tap is
// joined to (the port itself where an older ltb made it). The end on a bridge is the bridge
// port, named after the other end.
Target end_target(const LabRecords &lab, const state::LinkRecord &link, const End &end,
                  const End &other) {
  Target target;
  target.lab = lab.lab;
  target.link = link.name;
  const Runtime runtime = runtime_of(lab, end.node);
  if (runtime == Runtime::ovs_bridge) {
    target.iface = plan::host_veth_name(lab.lab, link.key, other.node);
    target.label =
        fmt::format("{}:{} (port {}, link {})", end.node, end.iface, target.iface, link.name);
  } else if (runtime == Runtime::linux_bridge) {
    target.iface = end.iface; // the port, in the host's namespace under the file's name
    target.label = fmt::format("{}:{} (port, link {})", end.node, end.iface, link.name);
  } else if (runtime == Runtime::vm) {
    target.iface = plan::host_veth_name(lab.lab, link.key, end.node);
    target.label = fmt::format("{}:{} ({} {}, link {})", end.node, end.iface,
                               runtime_of(lab, other.node) == Runtime::ovs_bridge ? "port" : "tap",
                               target.iface, link.name);
  } else {
    target.node = end.node;
    target.iface = end.iface;
    target.label = fmt::format("{}:{} (link {})", end.node, end.iface, link.name);
  }
  return target;
}

Error unknown(const LabRecords &lab, const std::string &spec) {
  auto guess = topology::did_you_mean(spec, target_names(lab));
  return Error{fmt::format("lab '{}' has no link, interface or segment '{}'", lab.lab, spec),
               guess.empty() ? fmt::format("see `ltb inspect {}` for its links and nodes", lab.lab)
                             : fmt::format("did you mean '{}'?", guess),
               ExitCode::failed};
}

Result<Target> resolve_node_iface(const LabRecords &lab, const std::string &spec) {
  const auto colon = spec.find(':');
  const auto node_name = spec.substr(0, colon);
  const auto *node = find_node(lab, node_name);
  if (!node || colon + 1 >= spec.size()) {
    return fail(unknown(lab, spec));
  }
  // A vendor kind's alias (srl1:ethernet-1/1) is its Linux interface (e1-1).
  const auto iface = topology::linux_interface_name(node->kind, spec.substr(colon + 1));
  for (const auto &link : lab.links) {
    const End a{link.a_node, link.a_iface};
    const End b{link.b_node, link.b_iface};
    if (a.node == node_name && a.iface == iface) {
      return end_target(lab, link, a, b);
    }
    if (b.node == node_name && b.iface == iface) {
      return end_target(lab, link, b, a);
    }
  }
  if (topology::runtime_of_kind(node->kind) != Runtime::container) {
    // Only link ends of these are reachable from the host (see end_target).
    return fail(unknown(lab, spec));
  }
  // Any other interface of a container (eth0, or one an exec command made): whether it exists
  // shows when the capture opens it.
  Target target;
  target.lab = lab.lab;
  target.node = node_name;
  target.iface = iface;
  target.label = spec;
  return target;
}

Result<Target> resolve_segment(const LabRecords &lab, const state::NodeRecord &node,
                               const std::string &port_node) {
  Target target;
  target.kind = TargetKind::segment;
  target.lab = lab.lab;
  target.bridge_node = node.name;
  target.bridge = bridge_of(lab, node);
  target.label = fmt::format("segment {}", node.name);
  if (port_node.empty()) {
    return target;
  }
  std::set<std::string> attached;
  for (const auto &link : lab.links) {
    const bool a_here = link.a_node == node.name;
    const bool b_here = link.b_node == node.name;
    if (!a_here && !b_here) {
      continue;
    }
    const auto &other = a_here ? link.b_node : link.a_node;
    attached.insert(other);
    if (other == port_node) {
      target.ports.push_back(plan::host_veth_name(lab.lab, link.key, other));
    }
  }
  if (target.ports.empty()) {
    std::vector<std::string> names(attached.begin(), attached.end());
    // A typo gets a guess; a real node that is simply not on the segment gets the list.
    auto guess =
        find_node(lab, port_node) ? std::string() : topology::did_you_mean(port_node, names);
    return fail(fmt::format("node '{}' has no port on segment {} of lab '{}'", port_node, node.name,
                            lab.lab),
                !guess.empty()  ? fmt::format("did you mean '{}'?", guess)
                : names.empty() ? fmt::format("segment {} has no ports", node.name)
                                : fmt::format("the nodes on {}: {}", node.name, join(names)),
                ExitCode::usage);
  }
  std::sort(target.ports.begin(), target.ports.end());
  target.port_node = port_node;
  target.label = fmt::format("segment {} (ports of {})", node.name, port_node);
  return target;
}

} // namespace

Result<Target> resolve(const LabRecords &lab, const std::string &spec,
                       const std::string &port_node) {
  if (spec.empty()) {
    return fail("no capture target given", "name a link, NODE:IFACE or a segment", ExitCode::usage);
  }
  const auto *segment = find_node(lab, spec);
  if (segment && topology::runtime_of_kind(segment->kind) != Runtime::ovs_bridge) {
    segment = nullptr;
  }
  if (!port_node.empty() && !segment) {
    return fail(fmt::format("--port {} applies to a segment, and '{}' is not one", port_node, spec),
                "give the name of an ovs-bridge node, or leave out --port", ExitCode::usage);
  }
  if (spec.find(':') != std::string::npos) {
    return resolve_node_iface(lab, spec);
  }
  const state::LinkRecord *link = nullptr;
  for (const auto &record : lab.links) {
    if (record.name == spec) {
      link = &record;
    }
  }
  if (link && segment) {
    return fail(fmt::format("'{}' in lab '{}' is both a link and a segment", spec, lab.lab),
                fmt::format("for the link, name one of its ends: {}:{} or {}:{}", link->a_node,
                            link->a_iface, link->b_node, link->b_iface),
                ExitCode::usage);
  }
  if (segment) {
    return resolve_segment(lab, *segment, port_node);
  }
  if (link) {
    const End a{link->a_node, link->a_iface};
    const End b{link->b_node, link->b_iface};
    // A container's end when there is one: inside the namespace, as the node sees its traffic.
    // The bridge end of a segment link is never chosen: its port is the other end's host side.
    const auto rank = [&](const std::string &node) {
      const Runtime runtime = runtime_of(lab, node);
      return !topology::is_workload(runtime) ? 2 : runtime == Runtime::vm ? 1 : 0;
    };
    return rank(a.node) <= rank(b.node) ? end_target(lab, *link, a, b)
                                        : end_target(lab, *link, b, a);
  }
  if (const auto *node = find_node(lab, spec)) {
    std::vector<std::string> ends;
    for (const auto &record : lab.links) {
      if (record.a_node == spec) {
        ends.push_back(spec + ":" + record.a_iface);
      }
      if (record.b_node == spec) {
        ends.push_back(spec + ":" + record.b_iface);
      }
    }
    std::sort(ends.begin(), ends.end());
    return fail(fmt::format("'{}' is a {} node of lab '{}', not a link or segment", spec,
                            node->kind, lab.lab),
                ends.empty() ? fmt::format("capture one of its interfaces: {}:eth0", spec)
                             : "capture one of its interfaces: " + join(ends),
                ExitCode::usage);
  }
  return fail(unknown(lab, spec));
}

std::vector<std::string> target_names(const LabRecords &lab) {
  std::set<std::string> names;
  for (const auto &link : lab.links) {
    names.insert(link.name);
    names.insert(link.a_node + ":" + link.a_iface);
    names.insert(link.b_node + ":" + link.b_iface);
  }
  for (const auto &node : lab.nodes) {
    if (topology::runtime_of_kind(node.kind) == Runtime::ovs_bridge) {
      names.insert(node.name);
    }
  }
  return {names.begin(), names.end()};
}

Result<std::size_t> find_lab(const std::vector<LabRecords> &labs, const std::string &spec) {
  std::vector<std::size_t> found;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < labs.size(); ++i) {
    auto resolved = resolve(labs[i], spec);
    // A target that names something of the lab but is not capturable as given (a node without
    // its interface) still says which lab is meant; resolve() then explains.
    if (resolved || resolved.error().code == ExitCode::usage) {
      found.push_back(i);
    }
    for (auto &name : target_names(labs[i])) {
      names.push_back(std::move(name));
    }
  }
  if (found.size() == 1) {
    return found.front();
  }
  if (found.empty()) {
    if (labs.empty()) {
      return fail(fmt::format("no lab is running to capture '{}' in", spec),
                  "start one with `ltb up FILE`, or pass --lab LAB");
    }
    auto guess = topology::did_you_mean(spec, names);
    return fail(fmt::format("no link, interface or segment '{}' in any running lab", spec),
                guess.empty() ? "see `ltb inspect LAB` for the links and segments of a lab"
                              : fmt::format("did you mean '{}'?", guess));
  }
  std::vector<std::string> lab_names;
  for (auto i : found) {
    lab_names.push_back(labs[i].lab);
  }
  return fail(fmt::format("'{}' is in several labs ({})", spec, join(lab_names)),
              "say which with --lab LAB", ExitCode::usage);
}

} // namespace ltb::capture
