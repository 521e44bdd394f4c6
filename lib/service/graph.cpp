#include "service/graph.hpp"

#include "service/backends.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "service/status.hpp"
#include "topology/impairments.hpp"
#include "topology/kinds.hpp"

#include <map>

namespace ltb::service {

namespace {

/// How a link is made, as `ltb inspect` names it: to a bridge a segment port, to a VM a tap, else
/// a veth pair.
std::string link_type(const std::string &a_kind, const std::string &b_kind) {
  const auto a = topology::runtime_of_kind(a_kind);
  const auto b = topology::runtime_of_kind(b_kind);
  if (a == topology::Runtime::ovs_bridge || b == topology::Runtime::ovs_bridge) {
    return "segment";
  }
  if (a == topology::Runtime::vm || b == topology::Runtime::vm) {
    return "tap";
  }
  return "veth";
}

/// containerlab's implicit nodes, which the state file does not record: the host (`host:`,
/// `mgmt-net:`) and the far ends of device links (`macvlan:`, `dummy:`, `vxlan:`, ...).
bool implicit_node(const std::string &node, const std::map<std::string, std::string> &known) {
  return !known.count(node) &&
         (node == topology::k_host_node || node == topology::k_mgmt_net_node ||
          topology::device_link_kind(node).has_value());
}

/// How a device link (containerlab's macvlan, dummy, vxlan, vxlan-stitch) is made: its type,
/// named by its far end's implicit node; "" for other links.
std::string device_type(const std::string &a, const std::string &b,
                        const std::map<std::string, std::string> &kinds) {
  for (const auto *node : {&a, &b}) {
    auto kind = topology::device_link_kind(*node);
    auto known = kinds.find(*node);
    if (kind && (known == kinds.end() || known->second == "host")) {
      return topology::to_string(*kind);
    }
  }
  return {};
}

/// A deployed link's state: its record's, but "down" while a node at either end does not run.
std::string link_state(const state::LinkRecord &record,
                       const std::map<std::string, std::string> &node_states) {
  for (const auto *node : {&record.a_node, &record.b_node}) {
    if (implicit_node(*node, node_states)) {
      continue; // the host, which runs
    }
    auto it = node_states.find(*node);
    if (it == node_states.end() || it->second != "running") {
      return "down";
    }
  }
  return state::to_string(record.status);
}

/// The lab's live state when the state file records it: node states as `ltb status` sees them,
/// link records by key. nullopt when the lab is not deployed.
struct Live {
  std::map<std::string, state::NodeRecord> nodes;
  std::map<std::string, std::string> node_states;
  std::map<std::string, state::LinkRecord> links; // by key
};

Result<std::optional<Live>> live_state(const Session &session, const std::string &lab) {
  {
    LTB_TRY(store, open_store(session.context));
    LTB_TRY(record, store->lab(lab));
    if (!record) {
      return std::optional<Live>();
    }
  }
  LTB_TRY(status, status_lab(session, lab));
  Live live;
  for (auto &node : status.nodes) {
    live.node_states[node.record.name] = node.state;
    live.nodes[node.record.name] = node.record;
  }
  LTB_TRY(store, open_store(session.context));
  LTB_TRY(links, store->links(lab));
  for (auto &link : links) {
    live.links[link.key] = std::move(link);
  }
  return std::optional<Live>(std::move(live));
}

/// A link's impairments: one entry for both directions when they are the same, else one for
/// each direction that has any (A: the packets leaving end a).
std::vector<graph::Impairment> impairments_of(const graph::Link &link,
                                              const topology::Impairments &a,
                                              const topology::Impairments &b) {
  std::vector<graph::Impairment> out;
  if (a == b) {
    if (!a.empty()) {
      out.push_back({"both", topology::impairment_fields(a)});
    }
    return out;
  }
  const std::string a_end = link.a.node + ":" + link.a.iface;
  const std::string b_end = link.b.node + ":" + link.b.iface;
  if (!a.empty()) {
    out.push_back({a_end + "->" + b_end, topology::impairment_fields(a)});
  }
  if (!b.empty()) {
    out.push_back({b_end + "->" + a_end, topology::impairment_fields(b)});
  }
  return out;
}

/// What a recorded link applies now, one direction ("" = nothing).
topology::Impairments applied(const std::string &text) {
  return topology::decode_impairments(text).value_or(topology::Impairments{});
}

/// A deployed link as the graph shows it: its state (down when pulled with `ltb link down`) and
/// the impairments applied now.
void draw_recorded(graph::Link &drawn, const state::LinkRecord &record,
                   const std::map<std::string, std::string> &node_states) {
  drawn.state = record.down ? "down" : link_state(record, node_states);
  drawn.impairments = impairments_of(drawn, applied(record.impair_a), applied(record.impair_b));
}

} // namespace

Result<graph::Graph> graph_of_file(const Session &session, const topology::Topology &topology) {
  LTB_TRY(live, live_state(session, topology.name));
  graph::Graph graph;
  graph.lab = topology.name;
  graph.source = topology.file;
  graph.live = live.has_value();
  std::map<std::string, std::string> kinds;
  for (const auto &node : topology.nodes) {
    kinds[node.name] = node.kind;
    graph::Node drawn{node.name, node.kind, node.image, node.mgmt_ipv4.value_or(""), ""};
    if (live) {
      auto recorded = live->nodes.find(node.name);
      // A node of the file that the lab does not have (yet) is missing from it.
      drawn.state = recorded == live->nodes.end() ? "missing" : live->node_states[node.name];
      if (recorded != live->nodes.end() && drawn.mgmt_ipv4.empty()) {
        drawn.mgmt_ipv4 = recorded->second.mgmt_ipv4;
      }
    }
    graph.nodes.push_back(std::move(drawn));
  }
  for (const auto &link : topology.links) {
    graph::Link drawn;
    drawn.name = link.name;
    drawn.type = link.kind != topology::LinkKind::veth
                     ? topology::to_string(link.kind)
                     : link_type(kinds[link.a.node], kinds[link.b.node]);
    drawn.a = {link.a.node, link.a.iface};
    drawn.b = {link.b.node, link.b.iface};
    drawn.impairments = impairments_of(drawn, link.impair_a, link.impair_b);
    if (live) {
      auto recorded = live->links.find(topology::link_key(link));
      if (recorded == live->links.end()) {
        drawn.state = "missing";
      } else {
        draw_recorded(drawn, recorded->second, live->node_states);
      }
    }
    graph.links.push_back(std::move(drawn));
  }
  return graph;
}

Result<graph::Graph> graph_of_lab(const Session &session, const std::string &named) {
  std::string lab;
  {
    LTB_TRY(store, open_store(session.context));
    LTB_TRY(record, resolve_lab(*store, session.caller, named));
    lab = record.name;
  }
  LTB_TRY(live, live_state(session, lab));
  if (!live) {
    LTB_TRY(store, open_store(session.context));
    return fail(unknown_lab(*store, named));
  }
  graph::Graph graph;
  graph.lab = lab_shown(session.caller, lab);
  graph.source = "state";
  graph.live = true;
  std::map<std::string, std::string> kinds;
  for (const auto &[name, record] : live->nodes) {
    kinds[name] = record.kind;
  }
  // Nodes as the state file lists them (by name), so that the drawing is the same every time.
  LTB_TRY(store, open_store(session.context));
  LTB_TRY(nodes, store->nodes(lab));
  for (const auto &record : nodes) {
    graph.nodes.push_back(
        {record.name, record.kind, record.image, record.mgmt_ipv4, live->node_states[record.name]});
  }
  LTB_TRY(links, store->links(lab));
  for (const auto &record : links) {
    graph::Link drawn;
    drawn.name = record.name;
    drawn.type = device_type(record.a_node, record.b_node, kinds);
    if (drawn.type.empty()) {
      drawn.type = link_type(kinds[record.a_node], kinds[record.b_node]);
    }
    drawn.a = {record.a_node, record.a_iface};
    drawn.b = {record.b_node, record.b_iface};
    draw_recorded(drawn, record, live->node_states);
    graph.links.push_back(std::move(drawn));
  }
  return graph;
}

} // namespace ltb::service
