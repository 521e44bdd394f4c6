#include "plan/plan.hpp"

#include "plan/names.hpp"
#include "topology/kinds.hpp"
#include "util/hash.hpp"
#include "util/ipv4.hpp"
#include "util/ipv6.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <sstream>

namespace ltb::plan {

namespace {

using topology::Runtime;

class Builder {
public:
  explicit Builder(Plan &plan) : m_plan(plan) {}

  std::size_t add(Action action) {
    m_plan.actions.push_back(std::move(action));
    return m_plan.actions.size() - 1;
  }

private:
  Plan &m_plan;
};

void append(std::vector<std::size_t> &deps, const std::vector<std::size_t> &more) {
  for (auto dep : more) {
    if (std::find(deps.begin(), deps.end(), dep) == deps.end()) {
      deps.push_back(dep);
    }
  }
}

} // namespace

FirewallRules firewall_rules(const std::string &lab, bool dhcp) {
  return {mgmt_bridge_name(lab), dhcp, {veth_prefix(lab) + "+", bridge_prefix(lab) + "+"}};
}

namespace {

/// The file's subnet, else the recorded one, else that of the lab's network that exists (left by
/// a lost state file: its containers would not fit another), else the first free /24.
Result<util::Subnet> choose_subnet(const topology::Topology &desired, const Recorded &recorded,
                                   const std::string &existing,
                                   const std::vector<std::string> &used_subnets) {
  if (!desired.mgmt.ipv4_subnet.empty()) {
    auto subnet = util::parse_subnet(desired.mgmt.ipv4_subnet, false);
    if (!subnet) {
      return fail(fmt::format("lab '{}': management subnet '{}' is not an IPv4 CIDR", desired.name,
                              desired.mgmt.ipv4_subnet),
                  "", ExitCode::usage);
    }
    return *subnet;
  }
  if (recorded.lab && !recorded.lab->mgmt_subnet.empty()) {
    if (auto subnet = util::parse_subnet(recorded.lab->mgmt_subnet, false)) {
      return *subnet;
    }
  }
  if (!existing.empty()) {
    if (auto subnet = util::parse_subnet(existing, false)) {
      return *subnet;
    }
  }
  std::vector<util::Subnet> used;
  for (const auto &text : used_subnets) {
    if (auto subnet = util::parse_subnet(text, false)) {
      used.push_back(*subnet);
    }
  }
  for (std::uint32_t third = 0; third < 256; ++third) {
    util::Subnet candidate{(172u << 24) | (20u << 16) | (third << 8), 24};
    bool free = std::none_of(used.begin(), used.end(),
                             [&](const util::Subnet &other) { return other.overlaps(candidate); });
    if (free) {
      return candidate;
    }
  }
  return fail(
      fmt::format("lab '{}': no free /24 management subnet left in 172.20.0.0/16", desired.name),
      "set mgmt.ipv4-subnet in the topology file to a subnet that is free on this host");
}

/// Stable addresses: explicit ones first, then what the node had, then the lowest free host.
Status assign_addresses(const topology::Topology &desired, const Recorded &recorded,
                        const util::Subnet &subnet, Plan &plan) {
  std::set<std::uint32_t> taken{subnet.network, subnet.host(1), subnet.broadcast()};
  for (const auto &node : desired.nodes) {
    if (topology::is_workload(node.runtime) && node.mgmt_ipv4) {
      if (auto address = util::parse_ipv4(*node.mgmt_ipv4)) {
        taken.insert(*address);
        plan.addresses[node.name] = *node.mgmt_ipv4;
      }
    }
  }
  std::map<std::string, std::string> previous;
  for (const auto &record : recorded.nodes) {
    previous[record.name] = record.mgmt_ipv4;
  }
  std::vector<const topology::Node *> pending;
  for (const auto &node : desired.nodes) {
    if (!topology::is_workload(node.runtime) || plan.addresses.count(node.name) ||
        !node.network_mode.empty()) {
      continue; // a node with a network-mode is not on the management network
    }
    auto it = previous.find(node.name);
    auto address = it == previous.end() ? std::nullopt : util::parse_ipv4(it->second);
    if (address && subnet.contains(*address) && !taken.count(*address)) {
      taken.insert(*address);
      plan.addresses[node.name] = it->second;
    } else {
      pending.push_back(&node);
    }
  }
  std::uint32_t next = 2;
  for (const auto *node : pending) {
    while (next < subnet.size() - 1 && taken.count(subnet.host(next))) {
      ++next;
    }
    if (next >= subnet.size() - 1) {
      return fail(fmt::format("management subnet {} has no free address left for node '{}'",
                              subnet.to_string(), node->name),
                  "use a larger mgmt.ipv4-subnet in the topology file");
    }
    taken.insert(subnet.host(next));
    plan.addresses[node->name] = util::format_ipv4(subnet.host(next));
  }
  return {};
}

// A record has only the kind's name: its runtime comes from the kind registry (an unknown kind,
// recorded by another version of ltb, is a container).
bool is_vm_kind(const std::string &kind) {
  return topology::runtime_of_kind(kind) == Runtime::vm;
}
bool is_container_kind(const std::string &kind) {
  return topology::runtime_of_kind(kind) == Runtime::container;
}
bool is_bridge_kind(const std::string &kind) {
  return topology::runtime_of_kind(kind) == Runtime::ovs_bridge;
}
bool is_linux_bridge_kind(const std::string &kind) {
  return topology::runtime_of_kind(kind) == Runtime::linux_bridge;
}
bool is_external_kind(const std::string &kind) {
  return topology::runtime_of_kind(kind) == Runtime::external;
}
/// The end of a host link that lives in the host's namespace: a bridge node's or the host's.
bool in_host_namespace(Runtime runtime) {
  return runtime == Runtime::linux_bridge || runtime == Runtime::host;
}

/// A recorded link's kind: a device link's node-side device is recorded (ObjectType::link_device,
/// its detail topology::describe_device, which starts with the type's name).
void mark_device(PlannedLink &link, const std::vector<state::ObjectRecord> &objects) {
  for (const auto &object : objects) {
    if (object.type != state::ObjectType::link_device || object.owner != link.key) {
      continue;
    }
    if (auto kind = topology::device_link_kind(object.detail.substr(0, object.detail.find(' ')))) {
      link.kind = *kind; // its record's end a is the node's, as the loader makes it
    }
  }
}

/// The drift of a container or VM (by its record's kind) from what runs for it.
std::optional<Why> workload_drift(const state::NodeRecord &record,
                                  const ObservedContainer *observed) {
  const auto what =
      is_vm_kind(record.kind) ? state::ObjectType::domain : state::ObjectType::container;
  if (record.status == state::RecordStatus::removing) {
    return Reason::removal_unfinished;
  }
  const bool stopped = record.status == state::RecordStatus::stopped;
  if (record.status != state::RecordStatus::running && !stopped) {
    return Reason::unfinished;
  }
  if (!observed) {
    return Why(Reason::missing, what);
  }
  if (stopped && !is_stopped_state(observed->state)) {
    // Its links are parked: it runs without them until `ltb start` or a recreation.
    return Why(Reason::started_outside, what);
  }
  if (!stopped && observed->state != "running") {
    return Why(Reason::not_running, what, observed->state);
  }
  if (record.runtime_id != observed->id) {
    return Why(Reason::replaced, what);
  }
  return std::nullopt;
}

/// Why a container or VM must be (re)created; nullopt when it is as it should be. LEGACY_HASH: a
/// VM's hash as an older ltb made it (vm_config_hash), "" for a container.
std::optional<Why> workload_reason(const topology::Node &node, const std::string &expected_hash,
                                   const std::string &legacy_hash, const state::NodeRecord *record,
                                   const ObservedContainer *observed, const std::string &address,
                                   bool network_changed) {
  const bool vm = node.runtime == Runtime::vm;
  if (!record && !observed) {
    return Reason::new_object;
  }
  if (!record) {
    return Reason::not_in_state;
  }
  if (vm ? !is_vm_kind(record->kind) : !is_container_kind(record->kind)) {
    return Reason::kind_changed;
  }
  if (auto drift = workload_drift(*record, observed)) {
    return drift;
  }
  const auto what = vm ? state::ObjectType::domain : state::ObjectType::container;
  if (record->config_hash != expected_hash) {
    if (record->image != node.image) {
      return Why(Reason::image_changed, what, fmt::format("{} -> {}", record->image, node.image));
    }
    if (vm && record->config_hash.empty()) {
      return Reason::unfinished;
    }
    if (vm && record->config_hash == legacy_hash) {
      return Reason::segment_nics_retapped; // made by an older ltb: its NICs were the ports
    }
    return Reason::configuration_changed;
  }
  if (record->mgmt_ipv4 != address) {
    return Why(Reason::address_changed, what, fmt::format("{} -> {}", record->mgmt_ipv4, address));
  }
  if (network_changed) {
    return Reason::network_changed;
  }
  return std::nullopt;
}

/// Plans `ltb up` in phases that share what earlier phases decided: the node records, the
/// removals that creations wait for, the creations that wiring waits for, and so on. Each phase
/// appends its actions in turn, so that every dependency points to an earlier action.
class UpPlanner {
public:
  UpPlanner(const topology::Topology &desired, const Recorded &recorded, const Observed &observed)
      : m_desired(desired), m_recorded(recorded), m_observed(observed) {}

  Result<Plan> run(const std::vector<std::string> &used_subnets) {
    m_plan.container_prefix = m_desired.container_prefix;
    LTB_CHECK(plan_addresses(used_subnets));
    unwire_removed_links();
    remove_departed_nodes();
    plan_nodes();
    plan_network();
    plan_dhcp();
    plan_ports();
    plan_firewall();
    create_workloads();
    LTB_CHECK(plan_links());
    wire_segments();
    plan_relay();
    plan_exec();
    return std::move(m_plan);
  }

private:
  struct Pending {
    const topology::Node *node;
    Why reason;
    std::vector<std::size_t> deps;
  };

  const topology::Topology &m_desired;
  const Recorded &m_recorded;
  const Observed &m_observed;
  Plan m_plan;
  Builder m_builder{m_plan};
  bool m_network_changed = false;
  // A lab whose `ltb down` was killed: what it recorded may be half removed, or still being
  // removed by the runtime. It plans as absent: every recorded node is removed (what is left of
  // it) and made again.
  bool m_lab_removing = false;
  std::map<std::string, const state::NodeRecord *> m_records;
  std::map<std::string, const state::LinkRecord *> m_link_records;
  std::vector<std::size_t> m_removals;               // of containers and VMs
  std::map<std::size_t, std::string> m_removed_node; // removal -> its node
  std::map<std::string, std::size_t> m_bridge_removals;
  std::map<std::string, std::size_t> m_unwired_bridges; // bridge node -> its unwiring
  // node:iface -> the unwirings of links removed from the file that used that interface
  std::map<std::string, std::vector<std::size_t>> m_unwiring_at;
  std::vector<Pending> m_workloads; // containers and VMs to (re)create
  std::set<std::string> m_fresh;    // nodes created by this plan
  std::map<std::string, std::size_t> m_bridge_creations;
  std::map<std::string, std::size_t> m_node_creations;
  std::map<std::string, std::size_t> m_exec_actions; // run_exec of a node made in this run
  std::optional<std::size_t> m_network_creation;
  std::vector<const topology::Node *> m_external_exec; // ext-container nodes recorded anew
  std::optional<std::size_t> m_dhcp_configuration;
  std::optional<std::size_t> m_firewall_configuration;
  std::map<std::string, std::vector<std::string>> m_segment_wiring; // bridge node -> link keys
  std::map<std::string, std::vector<std::size_t>> m_node_wiring;    // node -> wire actions

  const state::NodeRecord *record_of(const std::string &name) const {
    auto it = m_records.find(name);
    return it == m_records.end() ? nullptr : it->second;
  }

  std::vector<std::string> recorded_links_of(const std::string &node) const {
    std::vector<std::string> keys;
    for (const auto &link : m_recorded.links) {
      if (link.a_node == node || link.b_node == node) {
        keys.push_back(link.key);
      }
    }
    return keys;
  }

  /// "FILE:LINE:COL: " of a place in the lab file, or "" when it is not known.
  std::string where(const topology::SourceLoc &loc) const {
    return loc.line > 0 ? fmt::format("{}:{}:{}: ", m_desired.file, loc.line, loc.column)
                        : std::string();
  }

  /// A fixed address outside the subnet of a network ltb makes: the loader checks it against
  /// the file's subnet, but containerlab's default one (mgmt.network named, no subnet) is only
  /// known here to be the network's.
  Status check_fixed_addresses(const util::Subnet &subnet) const {
    for (const auto &node : m_desired.nodes) {
      if (!topology::is_workload(node.runtime) || !node.mgmt_ipv4 || !node.network_mode.empty()) {
        continue;
      }
      const auto address = util::parse_ipv4(*node.mgmt_ipv4);
      if (address && (!subnet.contains(*address) || *address == subnet.network ||
                      *address == subnet.host(1) || *address == subnet.broadcast())) {
        return fail(fmt::format("{}mgmt-ipv4 {} of node '{}' is not a node address of {}, the "
                                "subnet of the management network {} that ltb makes (its "
                                "first host address is the gateway)",
                                where(node.mgmt_ipv4_loc), *node.mgmt_ipv4, node.name,
                                subnet.to_string(), m_plan.network),
                    "set mgmt.ipv4-subnet to the subnet that holds it, or make the network "
                    "beforehand (docker network create --subnet ...) for the lab to join",
                    ExitCode::usage);
      }
    }
    return {};
  }

  /// Joins a Docker network that exists and that ltb did not make for this lab (mgmt.network
  /// names it): its subnet and gateway are the network's, nodes with mgmt-ipv4 get that address
  /// (which must lie in it) and the others Docker's. What ltb would have to make on the
  /// network's bridge is refused: VMs (their DHCP server), mgmt-net endpoints (ports of it) and
  /// a confined lab (its host firewall).
  Status join_network(const ExternalNetwork &network) {
    const auto &mgmt = m_desired.mgmt;
    const auto at_network = where(mgmt.network_loc);
    if (!network.lab.empty()) {
      return fail(fmt::format("{}mgmt.network '{}' is the management network of ltb lab '{}'",
                              at_network, network.name, network.lab),
                  fmt::format("ltb removes it with lab '{}': give lab '{}' a network of its own "
                              "(another mgmt.network, or none)",
                              network.lab, m_desired.name),
                  ExitCode::usage);
    }
    const auto subnet = util::parse_subnet(network.subnet, false);
    if (!subnet) {
      return fail(fmt::format("{}mgmt.network '{}' has no IPv4 subnet", at_network, network.name),
                  "name a bridge network with an IPv4 subnet (see `docker network inspect " +
                      network.name + "`)",
                  ExitCode::usage);
    }
    if (!mgmt.ipv4_subnet.empty() && !mgmt.ipv4_subnet_default) {
      const auto wanted = util::parse_subnet(mgmt.ipv4_subnet, false);
      if (!wanted || wanted->to_string() != subnet->to_string()) {
        return fail(fmt::format("{}mgmt.ipv4-subnet {} is not the subnet of the existing network "
                                "'{}' ({})",
                                where(mgmt.ipv4_subnet_loc), mgmt.ipv4_subnet, network.name,
                                subnet->to_string()),
                    fmt::format("ltb joins the network as it is: remove mgmt.ipv4-subnet, or set "
                                "it to {}",
                                subnet->to_string()),
                    ExitCode::usage);
      }
    }
    auto refuse = [&](const topology::SourceLoc &loc, const std::string &what) {
      return fail(fmt::format("{}{}, and mgmt.network '{}' is an existing network that ltb did "
                              "not make",
                              where(loc), what, network.name),
                  "ltb makes nothing on a network it joins: remove mgmt.network (ltb then makes "
                  "the lab a network of its own), or remove this from the lab",
                  ExitCode::usage);
    };
    if (m_desired.confined) {
      return refuse(mgmt.network_loc, "the lab is confined (its host firewall needs a network "
                                      "of ltb's own)");
    }
    for (const auto &link : m_desired.links) {
      for (const auto *end : {&link.a, &link.b}) {
        const auto *node = m_desired.find_node(end->node);
        if (end->node == topology::k_mgmt_net_node && node && node->runtime == Runtime::host) {
          return refuse(end->loc, fmt::format("endpoint mgmt-net:{} is a port of the management "
                                              "network's bridge",
                                              end->iface));
        }
      }
    }
    const auto range =
        fmt::format("use an address from {} to {}", util::format_ipv4(subnet->host(2)),
                    util::format_ipv4(subnet->broadcast() - 1));
    for (const auto &node : m_desired.nodes) {
      if (node.runtime == Runtime::vm) {
        return refuse(node.loc, fmt::format("node '{}' is a VM (its management address comes "
                                            "from ltb's DHCP server on the network)",
                                            node.name));
      }
      if (node.runtime != Runtime::container || !node.mgmt_ipv4 || !node.network_mode.empty()) {
        continue;
      }
      const auto address = util::parse_ipv4(*node.mgmt_ipv4);
      if (!address || !subnet->contains(*address) || *address == subnet->network ||
          *address == subnet->broadcast()) {
        return fail(fmt::format("{}mgmt-ipv4 {} of node '{}' is not a host address of {}, the "
                                "subnet of the existing network '{}'",
                                where(node.mgmt_ipv4_loc), *node.mgmt_ipv4, node.name,
                                subnet->to_string(), network.name),
                    range + ", or remove mgmt-ipv4 (Docker then gives the node one)",
                    ExitCode::usage);
      }
      if (network.name == "bridge") {
        return fail(fmt::format("{}node '{}' sets mgmt-ipv4, and on Docker's default network "
                                "'bridge' Docker gives the addresses itself",
                                where(node.mgmt_ipv4_loc), node.name),
                    "remove mgmt-ipv4, or join a network of your own (docker network create "
                    "--subnet ...) where fixed addresses work",
                    ExitCode::usage);
      }
      m_plan.addresses[node.name] = *node.mgmt_ipv4;
    }
    LTB_CHECK(join_network_ipv6(network));
    m_plan.network_external = true;
    m_plan.network_id = network.id;
    m_plan.subnet = subnet->to_string();
    m_plan.gateway = network.gateway.empty() ? util::format_ipv4(subnet->host(1)) : network.gateway;
    return {};
  }

  /// The IPv6 side of a network ltb joins: the file's mgmt.ipv6-subnet, if written, is the
  /// network's, and each mgmt-ipv6 lies in it.
  Status join_network_ipv6(const ExternalNetwork &network) {
    const auto &mgmt = m_desired.mgmt;
    const auto subnet6 = util::parse_subnet6(network.subnet6, false);
    if (!mgmt.ipv6_subnet.empty() && !mgmt.ipv6_subnet_default &&
        (!subnet6 || subnet6->to_string() != mgmt.ipv6_subnet)) {
      return fail(fmt::format("{}mgmt.ipv6-subnet {} is not the IPv6 subnet of the existing "
                              "network '{}' ({})",
                              where(mgmt.ipv6_subnet_loc), mgmt.ipv6_subnet, network.name,
                              subnet6 ? subnet6->to_string() : "it has no IPv6"),
                  subnet6 ? fmt::format("ltb joins the network as it is: remove "
                                        "mgmt.ipv6-subnet, or set it to {}",
                                        subnet6->to_string())
                          : std::string("ltb joins the network as it is: remove "
                                        "mgmt.ipv6-subnet, or join a network with IPv6 enabled"),
                  ExitCode::usage);
    }
    for (const auto &node : m_desired.nodes) {
      if (node.runtime != Runtime::container || !node.mgmt_ipv6 || !node.network_mode.empty()) {
        continue;
      }
      const auto address = util::parse_ipv6(*node.mgmt_ipv6);
      if (!subnet6 || !address || !subnet6->contains(*address)) {
        return fail(fmt::format("{}mgmt-ipv6 {} of node '{}' is not in the existing network "
                                "'{}' ({})",
                                where(node.mgmt_ipv6_loc), *node.mgmt_ipv6, node.name, network.name,
                                subnet6 ? "IPv6 subnet " + subnet6->to_string() : "no IPv6"),
                    "remove mgmt-ipv6, or use an address of the network's IPv6 subnet",
                    ExitCode::usage);
      }
    }
    m_plan.subnet6 = subnet6 ? subnet6->to_string() : std::string();
    return {};
  }

  /// The management network, subnet and addresses, and what the state file says.
  Status plan_addresses(const std::vector<std::string> &used_subnets) {
    m_plan.lab = m_desired.name;
    m_plan.network =
        m_desired.mgmt.network.empty() ? network_name(m_desired.name) : m_desired.mgmt.network;
    const auto existing = m_observed.network_subnets.find(m_plan.network);
    std::string existing_subnet;
    if (existing != m_observed.network_subnets.end()) {
      auto parsed = util::parse_subnet(existing->second, false);
      existing_subnet = parsed ? parsed->to_string() : existing->second;
    }
    if (const auto &external = m_observed.external_network;
        external && external->name == m_plan.network) {
      LTB_CHECK(join_network(*external));
    } else {
      LTB_TRY(subnet, choose_subnet(m_desired, m_recorded, existing_subnet, used_subnets));
      LTB_CHECK(check_fixed_addresses(subnet));
      m_plan.subnet = subnet.to_string();
      m_plan.gateway = util::format_ipv4(subnet.host(1));
      LTB_CHECK(assign_addresses(m_desired, m_recorded, subnet, m_plan));
      m_plan.subnet6 = m_desired.mgmt.ipv6_subnet;
      m_plan.gateway6 = m_desired.mgmt.ipv6_gateway;
    }
    for (const auto &node : m_desired.nodes) {
      if (node.runtime == Runtime::container && node.mgmt_ipv6 && node.network_mode.empty()) {
        m_plan.addresses6[node.name] = *node.mgmt_ipv6;
      }
    }
    const auto &lab = m_recorded.lab;
    std::string existing_subnet6;
    if (auto it = m_observed.network_subnets6.find(m_plan.network);
        it != m_observed.network_subnets6.end()) {
      auto parsed = util::parse_subnet6(it->second, false);
      existing_subnet6 = parsed ? parsed->to_string() : it->second;
    }
    // A network whose subnet is not the plan's is made again (its containers could not start);
    // so is one that gains or loses IPv6, or changes its IPv6 subnet.
    m_network_changed =
        (lab && ((!lab->mgmt_subnet.empty() && lab->mgmt_subnet != m_plan.subnet) ||
                 (!lab->mgmt_network.empty() && lab->mgmt_network != m_plan.network))) ||
        (!existing_subnet.empty() && existing_subnet != m_plan.subnet) ||
        (!m_plan.network_external && !existing_subnet.empty() &&
         existing_subnet6 != m_plan.subnet6);
    for (const auto &record : m_recorded.nodes) {
      m_records[record.name] = &record;
    }
    for (const auto &record : m_recorded.links) {
      m_link_records[record.key] = &record;
    }
    m_lab_removing = lab && lab->status == state::RecordStatus::removing;
    return {};
  }

  /// A recorded host link's end in the host's namespace: a bridge node's (by its record), or
  /// the one whose interface ltb recorded as made on the host for the link.
  void mark_host_end(PlannedLink &link) const {
    for (const auto *end : {&link.a, &link.b}) {
      const auto *rec = record_of(end->node);
      const bool bridge = rec && is_linux_bridge_kind(rec->kind);
      const bool made = std::any_of(m_recorded.objects.begin(), m_recorded.objects.end(),
                                    [&](const auto &object) {
                                      return object.type == state::ObjectType::host_end &&
                                             object.owner == link.key && object.name == end->iface;
                                    });
      if (bridge || made) {
        link.host_node = end->node;
        link.host_bridge = bridge ? end->node : "";
      }
    }
    mark_device(link, m_recorded.objects);
  }

  /// Recorded links that are no longer in the file, unwired before the removals that wait for
  /// them (a bridge goes after its ports).
  void unwire_removed_links() {
    std::set<std::string> desired_keys;
    for (const auto &link : m_desired.links) {
      desired_keys.insert(topology::link_key(link));
    }
    std::map<std::string, std::vector<std::string>> segment_unwiring;
    for (const auto &record : m_recorded.links) {
      if (desired_keys.count(record.key)) {
        continue;
      }
      std::string bridge;
      for (const auto &node : {record.a_node, record.b_node}) {
        const auto *rec = record_of(node);
        if (rec && is_bridge_kind(rec->kind)) {
          bridge = node;
        }
      }
      m_plan.links[record.key] = PlannedLink{record.key,
                                             record.name,
                                             {record.a_node, record.a_iface, {}},
                                             {record.b_node, record.b_iface, {}},
                                             0,
                                             bridge};
      mark_host_end(m_plan.links[record.key]);
      if (!bridge.empty()) {
        segment_unwiring[bridge].push_back(record.key);
      } else {
        auto index = m_builder.add({ActionKind::unwire_links,
                                    "",
                                    {record.key},
                                    record.name,
                                    Reason::removed_from_file,
                                    {}});
        m_unwiring_at[record.a_node + ":" + record.a_iface].push_back(index);
        m_unwiring_at[record.b_node + ":" + record.b_iface].push_back(index);
      }
    }
    for (const auto &[bridge, keys] : segment_unwiring) {
      m_unwired_bridges[bridge] = m_builder.add({ActionKind::unwire_links,
                                                 bridge,
                                                 keys,
                                                 bridge_name(m_desired.name, bridge),
                                                 Reason::removed_from_file,
                                                 {}});
      for (const auto &key : keys) {
        const auto &unwired = m_plan.links[key];
        m_unwiring_at[unwired.a.node + ":" + unwired.a.iface].push_back(m_unwired_bridges[bridge]);
        m_unwiring_at[unwired.b.node + ":" + unwired.b.iface].push_back(m_unwired_bridges[bridge]);
      }
    }
  }

  /// Removes whatever runs for a node now (container, domain, bridge), except `keep`.
  std::vector<std::size_t> remove_existing(const std::string &name, const Why &reason,
                                           std::optional<Runtime> keep) {
    std::vector<std::size_t> added;
    const auto *record = record_of(name);
    auto recorded_as = [&](auto predicate) { return record && predicate(record->kind); };
    const auto &lab = m_desired.name;
    if (keep != Runtime::container &&
        (m_observed.containers.count(name) || recorded_as(is_container_kind))) {
      added.push_back(m_builder.add(
          {ActionKind::remove_node, name, {}, recorded_container_name(name), reason, {}}));
    }
    if (keep != Runtime::vm && (m_observed.vms.count(name) || recorded_as(is_vm_kind))) {
      added.push_back(m_builder.add({ActionKind::remove_vm,
                                     name,
                                     recorded_links_of(name),
                                     container_name(lab, name),
                                     reason,
                                     {}}));
    }
    append(m_removals, added);
    for (auto index : added) {
      m_removed_node[index] = name;
    }
    if (keep != Runtime::ovs_bridge &&
        (m_observed.bridges.count(name) || recorded_as(is_bridge_kind))) {
      // Not among the removals: a bridge goes after its ports are unwired, and nothing waits for
      // it.
      std::vector<std::size_t> deps;
      if (auto it = m_unwired_bridges.find(name); it != m_unwired_bridges.end()) {
        deps.push_back(it->second);
      }
      m_bridge_removals[name] = m_builder.add(
          {ActionKind::remove_bridge, name, {}, bridge_name(lab, name), reason, deps});
      added.push_back(m_bridge_removals[name]);
    }
    if (keep != Runtime::external && recorded_as(is_external_kind)) {
      // Only its record goes: ltb never removes a container it did not make.
      added.push_back(m_builder.add({ActionKind::remove_node, name, {}, name, reason, {}}));
    }
    if (keep != Runtime::linux_bridge && recorded_as(is_linux_bridge_kind)) {
      // Its driver removes the bridge only when ltb made it (a recorded linux-bridge object).
      added.push_back(m_builder.add({ActionKind::remove_bridge, name, {}, name, reason, {}}));
    }
    return added;
  }

  /// Nodes that are no longer in the file.
  void remove_departed_nodes() {
    std::set<std::string> known;
    for (const auto &record : m_recorded.nodes) {
      known.insert(record.name);
    }
    for (const auto &[name, container] : m_observed.containers) {
      known.insert(name);
    }
    for (const auto &[name, bridge] : m_observed.bridges) {
      known.insert(name);
    }
    for (const auto &[name, vm] : m_observed.vms) {
      known.insert(name);
    }
    for (const auto &name : known) {
      if (!m_desired.find_node(name)) {
        remove_existing(name, Reason::removed_from_file, std::nullopt);
      }
    }
  }

  /// Nodes to (re)create. A recreated node is removed first, as its own action; bridges are
  /// created here, containers and VMs once the network and DHCP are planned.
  void plan_nodes() {
    for (const auto &node : m_desired.nodes) {
      if (node.runtime == Runtime::ovs_bridge) {
        plan_bridge(node);
      } else if (node.runtime == Runtime::linux_bridge) {
        plan_linux_bridge(node);
      } else if (node.runtime == Runtime::host) {
        // The host is there: nothing to make or record.
      } else if (node.runtime == Runtime::external) {
        plan_external(node);
      } else {
        plan_workload(node);
      }
    }
  }

  /// Why a node ltb looks after without a config hash of its own (a bridge, an ext-container) is
  /// planned again: not recorded, recorded as another kind (`same_kind` false), its lab's removal
  /// unfinished, or drift; nullopt when it stands.
  std::optional<Why> why_made_again(const topology::Node &node,
                                    bool (*same_kind)(const std::string &)) const {
    const auto *record = record_of(node.name);
    if (!record) {
      return Reason::new_object;
    }
    if (!same_kind(record->kind)) {
      return Reason::kind_changed;
    }
    if (m_lab_removing) {
      return Reason::removal_unfinished;
    }
    return node_drift(*record, m_observed);
  }

  void plan_bridge(const topology::Node &node) {
    const auto reason = why_made_again(node, is_bridge_kind);
    if (!reason) {
      return;
    }
    auto deps = remove_existing(node.name, Reason::kind_changed, Runtime::ovs_bridge);
    m_bridge_creations[node.name] = m_builder.add({ActionKind::create_bridge,
                                                   node.name,
                                                   {},
                                                   bridge_name(m_desired.name, node.name),
                                                   *reason,
                                                   deps});
    m_fresh.insert(node.name);
  }

  /// A bridge node's Linux bridge: found (and then left as it is) or made, and recorded.
  void plan_linux_bridge(const topology::Node &node) {
    const auto reason = why_made_again(node, is_linux_bridge_kind);
    if (!reason) {
      return;
    }
    auto deps = remove_existing(node.name, Reason::kind_changed, Runtime::linux_bridge);
    m_bridge_creations[node.name] =
        m_builder.add({ActionKind::create_bridge, node.name, {}, node.name, *reason, deps});
    m_fresh.insert(node.name);
  }

  /// An ext-container node: its container is looked for and recorded, never made. Found again
  /// (another container of that name), its links are wired again.
  void plan_external(const topology::Node &node) {
    const auto reason = why_made_again(node, is_external_kind);
    if (!reason) {
      return;
    }
    auto deps = remove_existing(node.name, Reason::kind_changed, Runtime::external);
    m_node_creations[node.name] =
        m_builder.add({ActionKind::create_node, node.name, {}, node.name, *reason, deps});
    m_fresh.insert(node.name);
    if (!node.exec.empty()) {
      m_external_exec.push_back(&node);
    }
  }

  /// The name of what runs for a container node now: Docker's, else the one the lab's recorded
  /// prefix gives (a lab whose prefix changed has its containers under the old one).
  std::string recorded_container_name(const std::string &node) const {
    if (auto it = m_observed.containers.find(node);
        it != m_observed.containers.end() && !it->second.name.empty()) {
      return it->second.name;
    }
    return container_name(m_desired.name, node,
                          m_recorded.lab ? m_recorded.lab->container_prefix : std::nullopt);
  }

  void plan_workload(const topology::Node &node) {
    const auto *record = record_of(node.name);
    const bool vm = node.runtime == Runtime::vm;
    const auto &pool = vm ? m_observed.vms : m_observed.containers;
    auto found = pool.find(node.name);
    const ObservedContainer *current = found == pool.end() ? nullptr : &found->second;
    auto hash = vm ? vm_config_hash(m_desired, node) : topology::node_config_hash(node);
    auto legacy = vm ? vm_config_hash(m_desired, node, true) : std::string();
    std::string address;
    if (auto planned = m_plan.addresses.find(node.name); planned != m_plan.addresses.end()) {
      address = planned->second;
    } else if (m_plan.network_external && record) {
      address = record->mgmt_ipv4; // Docker's choice on a network ltb joined stands
    }
    auto reason = workload_reason(node, hash, legacy, record, current, address, m_network_changed);
    if (const auto name = container_name(m_desired.name, node.name, m_desired.container_prefix);
        !reason && !vm && current && !current->name.empty() && current->name != name) {
      reason = Why(Reason::renamed, state::ObjectType::container,
                   fmt::format("{} -> {}", current->name, name));
    }
    if (m_lab_removing && record && reason != Reason::kind_changed) {
      reason = Reason::removal_unfinished;
    }
    if (!reason) {
      return;
    }
    // Everything of the node goes, including an old object of its own runtime.
    auto deps = remove_existing(node.name, *reason, std::nullopt);
    m_workloads.push_back({&node, *reason, deps});
    m_fresh.insert(node.name);
  }

  /// The management network: removed when renamed or re-addressed, created when missing.
  void plan_network() {
    std::vector<std::size_t> network_deps;
    for (const auto &name : m_observed.networks) {
      if (name != m_plan.network || m_network_changed) {
        network_deps.push_back(m_builder.add(
            {ActionKind::remove_network,
             "",
             {},
             name,
             name == m_plan.network ? Reason::network_changed : Reason::not_lab_network,
             m_removals}));
      }
    }
    bool has_containers =
        std::any_of(m_desired.nodes.begin(), m_desired.nodes.end(),
                    [](auto &node) { return topology::is_workload(node.runtime); });
    const bool exists = m_observed.networks.count(m_plan.network);
    if (has_containers && !m_plan.network_external && (!exists || m_network_changed)) {
      m_network_creation = m_builder.add({ActionKind::create_network,
                                          "",
                                          {},
                                          m_plan.network,
                                          exists ? Reason::readdressed : Reason::new_object,
                                          network_deps});
    }
  }

  /// A relay that died (killed, or the host rebooted) comes back on the links it served, once
  /// the links being wired now are there.
  void plan_relay() {
    if (!m_observed.relay_running || *m_observed.relay_running) {
      return;
    }
    std::vector<std::size_t> deps;
    for (std::size_t i = 0; i < m_plan.actions.size(); ++i) {
      if (m_plan.actions[i].kind == ActionKind::wire_links) {
        deps.push_back(i);
      }
    }
    m_builder.add({ActionKind::resume_relay,
                   "",
                   {},
                   "relay",
                   Why(Reason::not_running, state::ObjectType::relay, "exited"),
                   deps});
  }

  /// The DHCP server that hands the lab's VMs their management addresses (by MAC). A VM's first
  /// DHCP request should find it, so VMs are started after it.
  void plan_dhcp() {
    m_plan.dhcp_hosts = dhcp_hosts(m_desired, m_plan.addresses);
    const auto server = mgmt_bridge_name(m_desired.name);
    if (m_plan.dhcp_hosts.empty()) {
      if (m_observed.dhcp_hosts) {
        m_builder.add({ActionKind::remove_dhcp, "", {}, server, Reason::no_vm_left, {}});
      }
      return;
    }
    std::optional<Reason> reason;
    if (!m_observed.dhcp_hosts) {
      reason = Reason::new_object;
    } else if (m_network_creation) {
      reason = Reason::network_recreated;
    } else if (*m_observed.dhcp_hosts != m_plan.dhcp_hosts) {
      reason = Reason::vm_addresses_changed;
    }
    if (reason) {
      std::vector<std::size_t> deps;
      if (m_network_creation) {
        deps.push_back(*m_network_creation);
      }
      m_dhcp_configuration =
          m_builder.add({ActionKind::configure_dhcp, "", {}, server, *reason, deps});
    }
  }

  /// Ports published from an isolated management network: a proxy per port (net/port_proxy.hpp),
  /// made to serve the plan's lines when what runs differs (one died, a port or an address
  /// changed); stopped when no port is left.
  void plan_ports() {
    m_plan.ports_by_proxy = !m_desired.mgmt.external_access && !m_plan.network_external;
    m_plan.published_ports = published_ports(m_desired, m_plan.addresses, !m_plan.ports_by_proxy);
    const auto &running = m_observed.published_ports;
    const bool recorded =
        std::any_of(m_recorded.objects.begin(), m_recorded.objects.end(), [](const auto &object) {
          return object.type == state::ObjectType::port_proxy;
        });
    if (m_plan.published_ports.empty()) {
      if (running || recorded) {
        m_builder.add(
            {ActionKind::remove_ports, "", {}, "docker-proxy", Reason::removed_from_file, {}});
      }
      return;
    }
    std::optional<Why> reason;
    if (!running) {
      reason = recorded ? Why(Reason::missing, state::ObjectType::port_proxy) : Reason::new_object;
    } else if (*running != m_plan.published_ports) {
      // Every one that runs is wanted: the others died.
      std::istringstream lines(*running);
      bool subset = true;
      for (std::string line; std::getline(lines, line);) {
        subset = subset && m_plan.published_ports.find(line + "\n") != std::string::npos;
      }
      reason = subset ? Why(Reason::not_running, state::ObjectType::port_proxy, "exited")
                      : Why(Reason::configuration_changed);
    }
    if (reason) {
      std::vector<std::size_t> deps;
      if (m_network_creation) {
        deps.push_back(*m_network_creation);
      }
      m_builder.add({ActionKind::publish_ports, "", {}, "docker-proxy", *reason, deps});
    }
  }

  /// A confined lab's host firewall: in place before any of its nodes is made (a failure to
  /// install it makes nothing), made again when it is missing or incomplete, or when the DHCP it
  /// lets through changes. An unconfined lab keeps none (rules left by a lab of that name).
  void plan_firewall() {
    const bool confined = m_desired.confined || (m_recorded.lab && m_recorded.lab->confined);
    if (!confined) {
      if (m_observed.firewall_present) {
        m_builder.add({ActionKind::remove_firewall,
                       "",
                       {},
                       mgmt_bridge_name(m_desired.name),
                       Reason::not_in_state,
                       {}});
      }
      return;
    }
    m_plan.firewall = firewall_rules(m_desired.name, !m_plan.dhcp_hosts.empty());
    const bool recorded =
        std::any_of(m_recorded.objects.begin(), m_recorded.objects.end(),
                    [](const auto &object) { return object.type == state::ObjectType::firewall; });
    std::optional<Why> reason;
    if (!m_observed.firewall_present) {
      reason =
          recorded ? Why(Reason::missing, state::ObjectType::firewall) : Why(Reason::new_object);
    } else if (!m_observed.firewall) {
      reason = Why(Reason::missing, state::ObjectType::firewall); // some of its rules
    } else if (*m_observed.firewall != m_plan.firewall) {
      reason = Why(Reason::configuration_changed);
    } else if (!recorded) {
      reason = Why(Reason::not_in_state);
    }
    if (reason) {
      m_firewall_configuration = m_builder.add(
          {ActionKind::configure_firewall, "", {}, m_plan.firewall.interface, *reason, {}});
    }
  }

  /// The nodes whose STAGE a node waits for before its own begins: containerlab's
  /// stages.STAGE.wait-for, and for the create stage the node whose namespace it shares
  /// (network-mode container:NODE), which must run first.
  static std::vector<std::string> waited_for(const topology::Node &node, std::string_view stage) {
    std::vector<std::string> out;
    for (const auto &wait : node.wait_for) {
      if (wait.stage == stage) {
        out.push_back(wait.node);
      }
    }
    if (stage == "create" && node.network_mode.rfind("container:", 0) == 0) {
      out.push_back(node.network_mode.substr(10));
    }
    return out;
  }

  /// m_workloads with every node after the ones its create and configure stages wait for (the
  /// loader refused cycles), otherwise in file order.
  void order_workloads() {
    std::map<std::string, const Pending *> by_name;
    for (const auto &pending : m_workloads) {
      by_name[pending.node->name] = &pending;
    }
    std::vector<Pending> ordered;
    std::set<std::string> placed;
    std::set<std::string> visiting;
    std::function<void(const Pending &)> place = [&](const Pending &pending) {
      const auto &name = pending.node->name;
      if (placed.count(name) || !visiting.insert(name).second) {
        return;
      }
      for (const char *stage : {"create", "configure"}) {
        for (const auto &other : waited_for(*pending.node, stage)) {
          if (auto it = by_name.find(other); it != by_name.end()) {
            place(*it->second);
          }
        }
      }
      placed.insert(name);
      ordered.push_back(pending);
    };
    for (const auto &pending : m_workloads) {
      place(pending);
    }
    m_workloads = std::move(ordered);
  }

  /// The containers and VMs planned by plan_workload, after the removals and the network.
  void create_workloads() {
    order_workloads();
    for (auto &pending : m_workloads) {
      const auto &name = pending.node->name;
      auto deps = pending.deps;
      for (const auto &other : waited_for(*pending.node, "create")) {
        if (auto it = m_node_creations.find(other); it != m_node_creations.end()) {
          append(deps, {it->second}); // a node made in this run (one that runs needs no wait)
        }
      }
      // After the removal of whatever may hold the address it gets (another node's, unless that
      // one's recorded address is another), not after every removal: each node is made again as
      // soon as what it replaces is gone.
      const auto &address = m_plan.addresses[name];
      for (auto removal : m_removals) {
        const auto *removed = record_of(m_removed_node[removal]);
        if (!removed || removed->mgmt_ipv4.empty() || address.empty() ||
            removed->mgmt_ipv4 == address) {
          append(deps, {removal});
        }
      }
      if (m_network_creation) {
        deps.push_back(*m_network_creation);
      }
      const bool vm = pending.node->runtime == Runtime::vm;
      if (m_dhcp_configuration && vm) {
        deps.push_back(*m_dhcp_configuration);
      }
      if (m_firewall_configuration) {
        deps.push_back(*m_firewall_configuration);
      }
      m_node_creations[name] =
          m_builder.add({vm ? ActionKind::create_vm : ActionKind::create_node,
                         name,
                         {},
                         vm ? container_name(m_desired.name, name)
                            : container_name(m_desired.name, name, m_desired.container_prefix),
                         pending.reason,
                         deps});
    }
  }

  /// What runs for a node now that this plan keeps ("" for a node it creates or none runs).
  std::string runtime_id(const std::string &node) const {
    if (m_fresh.count(node)) {
      return {};
    }
    const auto *n = m_desired.find_node(node);
    if (n && n->runtime == Runtime::ovs_bridge) {
      return bridge_name(m_desired.name, node);
    }
    if (n && in_host_namespace(n->runtime)) {
      return node; // the Linux bridge's name, or "host"
    }
    if (n && n->runtime == Runtime::external) {
      auto it = m_observed.external.find(node);
      return it == m_observed.external.end() ? std::string() : it->second.id;
    }
    const auto &pool = n && n->runtime == Runtime::vm ? m_observed.vms : m_observed.containers;
    auto it = pool.find(node);
    return it == pool.end() ? std::string() : it->second.id;
  }

  /// Links: point-to-point ones are wired here, segment ones gathered per bridge.
  Status plan_links() {
    for (const auto &link : m_desired.links) {
      LTB_CHECK(plan_link(link));
    }
    return {};
  }

  Status plan_link(const topology::Link &link) {
    PlannedLink planned{topology::link_key(link), link.name, link.a, link.b, link.mtu, {}};
    const auto *a = m_desired.find_node(link.a.node);
    const auto *b = m_desired.find_node(link.b.node);
    if (!a || !b) {
      return {}; // the loader refuses such files
    }
    if (a->runtime == Runtime::ovs_bridge && b->runtime == Runtime::ovs_bridge) {
      return fail(fmt::format("link '{}' joins two ovs-bridge nodes ({} and {}); ltb does not "
                              "connect bridges to each other",
                              link.name, a->name, b->name),
                  "connect the two segments through a container node, or merge the bridges",
                  ExitCode::usage);
    }
    if (a->runtime == Runtime::ovs_bridge) {
      planned.bridge_node = a->name;
    } else if (b->runtime == Runtime::ovs_bridge) {
      planned.bridge_node = b->name;
    }
    planned.kind = link.kind;
    planned.device = link.device;
    for (const auto *end : {a, b}) {
      if (in_host_namespace(end->runtime) && link.kind == topology::LinkKind::veth) {
        planned.host_node = end->name;
        planned.host_bridge = end->runtime == Runtime::linux_bridge ? end->name
                              : end->name == topology::k_mgmt_net_node
                                  ? mgmt_bridge_name(m_desired.name)
                                  : "";
      }
    }
    auto record_it = m_link_records.find(planned.key);
    const auto *record = record_it == m_link_records.end() ? nullptr : record_it->second;
    if (record && !link.name_given && !record->name.empty()) {
      planned.name = record->name; // generated names stay as first shown
    }
    if (record && record->a_node == link.b.node && record->a_iface == link.b.iface) {
      std::swap(planned.a, planned.b); // as recorded: the settings' directions are the record's
    }
    bool wire = needs_wiring(link, planned, record);
    link_settings(planned, &link, record);
    m_plan.links[planned.key] = planned;
    if (wire && stopped_end(link)) {
      // A node that stays stopped has no namespace to take a new interface. The link waits:
      // `ltb start` reports it lost, and the next `ltb up` wires it.
      return {};
    }
    if (!wire) {
      if (record && (planned.settings_change() || record_differs(planned, *record))) {
        m_builder.add({ActionKind::set_impairment,
                       planned.bridge_node,
                       {planned.key},
                       planned.name,
                       Reason::impairments_changed,
                       {}});
      }
      return {};
    }
    if (!planned.bridge_node.empty()) {
      m_segment_wiring[planned.bridge_node].push_back(planned.key);
      return {};
    }
    auto deps = wiring_deps(planned);
    for (const auto *end : {&link.a, &link.b}) {
      if (auto it = m_node_creations.find(end->node); it != m_node_creations.end()) {
        deps.push_back(it->second);
      }
      if (auto it = m_bridge_creations.find(end->node); it != m_bridge_creations.end()) {
        deps.push_back(it->second); // a Linux bridge's port
      }
    }
    if (planned.host_node == topology::k_mgmt_net_node && m_network_creation) {
      deps.push_back(*m_network_creation); // a port of the management network's bridge
    }
    auto index = m_builder.add({ActionKind::wire_links,
                                "",
                                {planned.key},
                                planned.name,
                                record ? Reason::rewire : Reason::new_object,
                                deps});
    m_node_wiring[link.a.node].push_back(index);
    m_node_wiring[link.b.node].push_back(index);
    return {};
  }

  /// What a link's wiring waits for besides its ends' creation: every removal of a container or
  /// VM (it takes its links' ends in the nodes that stay with it: an interface the new link may
  /// reuse), and the unwiring of a link removed from the file that used one of its interfaces.
  std::vector<std::size_t> wiring_deps(const PlannedLink &link) const {
    auto deps = m_removals;
    for (const auto *end : {&link.a, &link.b}) {
      if (auto it = m_unwiring_at.find(end->node + ":" + end->iface); it != m_unwiring_at.end()) {
        append(deps, it->second);
      }
    }
    return deps;
  }

  /// The file's values or the run-time changes kept differ from the record's (nothing to apply,
  /// but the record must say so).
  bool record_differs(const PlannedLink &planned, const state::LinkRecord &record) const {
    const auto wanted = settings_record(m_desired.name, planned, record.impair_via);
    return wanted.file_impair_a != record.file_impair_a ||
           wanted.file_impair_b != record.file_impair_b || wanted.override_a != record.override_a ||
           wanted.override_b != record.override_b;
  }

  /// A link is wired when it is not recorded up, when an end runs as something other than what
  /// it was wired to, or when its bridge port is gone.
  /// Whether an end of the link is a container or VM recorded stopped that this plan does not
  /// make again (a stopped node is left stopped: see workload_drift).
  bool stopped_end(const topology::Link &link) const {
    for (const auto *end : {&link.a, &link.b}) {
      const auto *record = record_of(end->node);
      if (record && record->status == state::RecordStatus::stopped &&
          !m_node_creations.count(end->node)) {
        return true;
      }
    }
    return false;
  }

  bool needs_wiring(const topology::Link &link, const PlannedLink &planned,
                    const state::LinkRecord *record) const {
    if (!record || record->status != state::RecordStatus::up) {
      return true;
    }
    bool wire = false;
    auto id_of_recorded = [&](const std::string &node) {
      return node == record->a_node ? record->a_runtime_id : record->b_runtime_id;
    };
    for (const auto *end : {&link.a, &link.b}) {
      auto current = runtime_id(end->node);
      if (current.empty() || current != id_of_recorded(end->node)) {
        wire = true;
      }
    }
    if (!record->impair_via.empty() && m_observed.relay_mode &&
        (record->impair_via == "relay") != *m_observed.relay_mode) {
      wire = true; // switched between the kernel and the relay (settings.impairments)
    }
    if (!planned.bridge_node.empty()) {
      auto bridge = m_observed.bridges.find(planned.bridge_node);
      auto port = host_veth_name(m_desired.name, planned.key, planned.container_end());
      if (bridge == m_observed.bridges.end() || !bridge->second.ports.count(port)) {
        wire = true;
      }
    }
    if (planned.kind != topology::LinkKind::veth) {
      // A device made with other parameters (a vxlan's remote, a macvlan's mode) is made again.
      const bool same = std::any_of(
          m_recorded.objects.begin(), m_recorded.objects.end(), [&](const auto &object) {
            return object.type == state::ObjectType::link_device && object.owner == planned.key &&
                   object.parent == planned.a.node && object.detail == planned.device_spec();
          });
      wire = wire || !same;
    }
    const auto *host = m_desired.find_node(planned.host_node);
    if (host && host->runtime == Runtime::linux_bridge) {
      auto bridge = m_observed.linux_bridges.find(planned.host_node);
      if (bridge == m_observed.linux_bridges.end() ||
          !bridge->second.ports.count(planned.host_end().iface)) {
        wire = true;
      }
    }
    return wire;
  }

  /// A bridge's links are wired by one action per node on it (one ovs-vsctl call for that node's
  /// ports), after the bridge and that node: a node's port does not wait for the slowest node of
  /// the segment to start, nor its exec commands for the other nodes' ports.
  void wire_segments() {
    for (const auto &[bridge, keys] : m_segment_wiring) {
      std::map<std::string, std::vector<std::string>> by_node;
      for (const auto &key : keys) {
        by_node[m_plan.links[key].container_end()].push_back(key);
      }
      for (const auto &[node, node_keys] : by_node) {
        std::vector<std::size_t> deps;
        for (const auto &key : node_keys) {
          append(deps, wiring_deps(m_plan.links[key]));
        }
        if (auto it = m_bridge_creations.find(bridge); it != m_bridge_creations.end()) {
          deps.push_back(it->second);
        }
        if (auto it = m_node_creations.find(node); it != m_node_creations.end()) {
          deps.push_back(it->second);
        }
        const bool rewire = std::any_of(node_keys.begin(), node_keys.end(),
                                        [&](const auto &key) { return m_link_records.count(key); });
        auto index = m_builder.add({ActionKind::wire_links, bridge, node_keys,
                                    bridge_name(m_desired.name, bridge),
                                    rewire ? Reason::rewire : Reason::new_object, deps});
        m_node_wiring[node].push_back(index);
      }
    }
  }

  /// exec commands run once the node and all its links are up.
  void plan_exec() {
    for (const auto *node : m_external_exec) {
      std::vector<std::size_t> deps{m_node_creations[node->name]};
      append(deps, m_node_wiring[node->name]);
      m_builder.add({ActionKind::run_exec, node->name, {}, "", Reason::node_created, deps});
    }
    for (const auto &pending : m_workloads) {
      if (pending.node->exec.empty()) {
        continue;
      }
      std::vector<std::size_t> deps{m_node_creations[pending.node->name]};
      append(deps, m_node_wiring[pending.node->name]);
      // stages.configure.wait-for: after the other node is made, wired and configured (its exec
      // commands are planned before this one's: m_workloads is in wait order).
      for (const auto &other : waited_for(*pending.node, "configure")) {
        if (auto it = m_node_creations.find(other); it != m_node_creations.end()) {
          append(deps, {it->second});
        }
        append(deps, m_node_wiring[other]);
        if (auto it = m_exec_actions.find(other); it != m_exec_actions.end()) {
          append(deps, {it->second});
        }
      }
      m_exec_actions[pending.node->name] = m_builder.add(
          {ActionKind::run_exec, pending.node->name, {}, "", Reason::node_created, deps});
    }
    // A node that stays but gets a new interface (its peer was recreated) runs its exec commands
    // again, so that what they configured on that interface comes back.
    for (const auto &node : m_desired.nodes) {
      auto wiring = m_node_wiring.find(node.name);
      if (node.exec.empty() || m_fresh.count(node.name) || wiring == m_node_wiring.end()) {
        continue;
      }
      std::vector<std::size_t> rewired;
      for (auto index : wiring->second) {
        if (m_plan.actions[index].why == Reason::rewire) {
          rewired.push_back(index);
        }
      }
      if (!rewired.empty()) {
        m_builder.add({ActionKind::run_exec, node.name, {}, "", Reason::links_rewired, rewired});
      }
    }
  }
};

} // namespace

Result<Plan> plan_up(const topology::Topology &desired, const Recorded &recorded,
                     const Observed &observed, const std::vector<std::string> &used_subnets) {
  return UpPlanner(desired, recorded, observed).run(used_subnets);
}

std::optional<Why> node_drift(const state::NodeRecord &record, const Observed &observed,
                              bool bridges_known) {
  if (is_external_kind(record.kind)) {
    auto it = observed.external.find(record.name);
    return workload_drift(record, it == observed.external.end() ? nullptr : &it->second);
  }
  if (is_linux_bridge_kind(record.kind)) {
    if (record.status != state::RecordStatus::running) {
      return Reason::unfinished;
    }
    if (!observed.linux_bridges.count(record.name)) {
      return Why(Reason::missing, state::ObjectType::linux_bridge);
    }
    return std::nullopt;
  }
  if (is_bridge_kind(record.kind)) {
    if (record.status != state::RecordStatus::running) {
      return Reason::unfinished;
    }
    if (bridges_known && !observed.bridges.count(record.name)) {
      return Why(Reason::missing, state::ObjectType::bridge);
    }
    return std::nullopt;
  }
  const auto &pool = is_vm_kind(record.kind) ? observed.vms : observed.containers;
  auto it = pool.find(record.name);
  return workload_drift(record, it == pool.end() ? nullptr : &it->second);
}

bool is_stopped_state(const std::string &state) {
  return state == "exited" || state == "created" || state == "shutoff";
}

std::vector<std::string> not_converged(const topology::Topology &desired, const Observed &observed,
                                       const std::set<std::string> &stopped) {
  std::vector<std::string> problems;
  for (const auto &node : desired.nodes) {
    std::string what;
    if (node.runtime == Runtime::host) {
      continue;
    }
    if (node.runtime == Runtime::external) {
      auto it = observed.external.find(node.name);
      if (it == observed.external.end() || it->second.state != "running") {
        problems.push_back(fmt::format("ext-container {} of lab {} is not running after ltb up; "
                                       "start the container, then run `ltb up` again",
                                       node.name, desired.name));
      }
      continue;
    }
    if (node.runtime == Runtime::linux_bridge) {
      if (!observed.linux_bridges.count(node.name)) {
        problems.push_back(fmt::format("bridge {} of lab {} is missing after ltb up; run `ltb up` "
                                       "again, `ltb status {}` shows the lab",
                                       node.name, desired.name, desired.name));
      }
      continue;
    }
    if (stopped.count(node.name) && node.runtime != Runtime::ovs_bridge) {
      const auto &pool = node.runtime == Runtime::vm ? observed.vms : observed.containers;
      auto it = pool.find(node.name);
      if (it != pool.end() && is_stopped_state(it->second.state)) {
        continue;
      }
    }
    if (node.runtime == Runtime::ovs_bridge) {
      what = observed.bridges.count(node.name) ? "" : "its bridge is missing";
    } else {
      const bool vm = node.runtime == Runtime::vm;
      const auto &pool = vm ? observed.vms : observed.containers;
      auto it = pool.find(node.name);
      const char *object = vm ? "domain" : "container";
      if (it == pool.end()) {
        what = fmt::format("its {} is missing", object);
      } else if (it->second.state != "running") {
        what = fmt::format("its {} is {}", object, it->second.state);
      }
    }
    if (!what.empty()) {
      problems.push_back(fmt::format("node {} of lab {} is not running after ltb up ({}); run "
                                     "`ltb up` again, `ltb status {}` shows the lab",
                                     node.name, desired.name, what, desired.name));
    }
  }
  return problems;
}

std::string node_state(const state::NodeRecord &record, const Observed &observed,
                       bool bridges_known) {
  auto drift = node_drift(record, observed, bridges_known);
  if (!drift) {
    return record.status == state::RecordStatus::stopped ? "stopped" : "running";
  }
  if (drift->reason == Reason::started_outside) {
    return "running (links parked)";
  }
  switch (drift->reason) {
  case Reason::missing:
    return "missing";
  case Reason::replaced:
    return "replaced";
  case Reason::not_running:
    return drift->detail;
  default:
    return state::to_string(record.status);
  }
}

std::string dhcp_hosts(const topology::Topology &desired,
                       const std::map<std::string, std::string> &addresses) {
  std::vector<std::string> lines;
  for (const auto &node : desired.nodes) {
    auto address = addresses.find(node.name);
    if (node.runtime == Runtime::vm && address != addresses.end()) {
      lines.push_back(fmt::format("{},{},{}\n", vm_mac(desired.name, node.name, 0), address->second,
                                  node.name));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto &line : lines) {
    out += line;
  }
  return out;
}

std::string published_ports(const topology::Topology &desired,
                            const std::map<std::string, std::string> &addresses,
                            bool network_external) {
  if (desired.mgmt.external_access || network_external) {
    return {};
  }
  std::vector<std::string> lines;
  for (const auto &node : desired.nodes) {
    auto address = addresses.find(node.name);
    if (node.runtime != Runtime::container || !node.network_mode.empty() ||
        address == addresses.end() || address->second.empty()) {
      continue;
    }
    for (const auto &text : node.ports) {
      if (auto port = topology::parse_port_mapping(text)) {
        // net::PublishedPort::line()
        lines.push_back(fmt::format("{} {} {} {} {} {}\n", node.name, port->protocol,
                                    port->host_ip.empty() ? "0.0.0.0" : port->host_ip,
                                    port->host_port, address->second, port->port));
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto &line : lines) {
    out += line;
  }
  return out;
}

std::vector<std::pair<std::string, const topology::Link *>>
vm_interfaces(const topology::Topology &desired, const std::string &node) {
  std::vector<std::pair<std::string, const topology::Link *>> out;
  for (const auto &link : desired.links) {
    if (link.a.node == node) {
      out.emplace_back(link.a.iface, &link);
    }
    if (link.b.node == node) {
      out.emplace_back(link.b.iface, &link);
    }
  }
  // Natural order: the digits at the end compare as numbers, so eth2 comes before eth10.
  auto split = [](const std::string &name) {
    auto digits = name.find_last_not_of("0123456789") + 1;
    long number = digits < name.size() ? std::stol(name.substr(digits, 9)) : -1;
    return std::make_pair(name.substr(0, digits), number);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const auto &x, const auto &y) { return split(x.first) < split(y.first); });
  return out;
}

std::string vm_config_hash(const topology::Topology &desired, const topology::Node &node,
                           bool legacy) {
  std::string text = topology::node_config_hash(node);
  for (const auto &[iface, link] : vm_interfaces(desired, node.name)) {
    const auto &peer = link->a.node == node.name ? link->b : link->a;
    const auto *other = desired.find_node(peer.node);
    bool segment = other && other->runtime == Runtime::ovs_bridge;
    // "ovs": the NIC was the bridge port (libvirt's); "seg": a tap of ltb's joined to the port.
    text += fmt::format("|{}>{}:{}:{}", iface,
                        !segment ? "p2p"
                        : legacy ? "ovs"
                                 : "seg",
                        topology::link_key(*link), link->mtu);
  }
  return util::sha256_hex(text);
}

namespace {

/// Plans `ltb down` in phases: containers and VMs, then bridges, networks, DHCP and host links,
/// each removal after what it waits for.
class DownPlanner {
public:
  DownPlanner(const std::string &lab, const Recorded &recorded, const Observed &observed)
      : m_lab(lab), m_recorded(recorded), m_observed(observed) {}

  Plan run() {
    m_plan.lab = m_lab;
    m_plan.teardown = true;
    if (m_recorded.lab) {
      m_plan.container_prefix = m_recorded.lab->container_prefix;
      m_plan.network = m_recorded.lab->mgmt_network;
      m_plan.subnet = m_recorded.lab->mgmt_subnet;
    }
    gather_nodes();
    remove_workloads();
    remove_bridges();
    remove_networks();
    remove_dhcp_and_host_links();
    for (const auto &record : m_recorded.links) {
      m_plan.links[record.key] = PlannedLink{record.key,
                                             record.name,
                                             {record.a_node, record.a_iface, {}},
                                             {record.b_node, record.b_iface, {}},
                                             0,
                                             {}};
      mark_device(m_plan.links[record.key], m_recorded.objects);
    }
    return std::move(m_plan);
  }

private:
  const std::string &m_lab;
  const Recorded &m_recorded;
  const Observed &m_observed;
  Plan m_plan;
  Builder m_builder{m_plan};
  std::set<std::string> m_containers; // node names, recorded or observed
  std::set<std::string> m_bridges;
  std::set<std::string> m_linux_bridges; // bridge nodes (their driver knows whether ltb made one)
  std::set<std::string> m_external;      // ext-container nodes: only their records go
  std::set<std::string> m_vms;
  std::vector<std::size_t> m_removals; // of containers and VMs
  std::vector<std::size_t> m_bridge_removals;
  std::set<std::string> m_bridge_names;

  void gather_nodes() {
    for (const auto &record : m_recorded.nodes) {
      if (is_linux_bridge_kind(record.kind)) {
        m_linux_bridges.insert(record.name);
        continue;
      }
      if (is_external_kind(record.kind)) {
        m_external.insert(record.name);
        continue;
      }
      (is_bridge_kind(record.kind) ? m_bridges
       : is_vm_kind(record.kind)   ? m_vms
                                   : m_containers)
          .insert(record.name);
    }
    for (const auto &[name, vm] : m_observed.vms) {
      m_vms.insert(name);
    }
    for (const auto &[name, container] : m_observed.containers) {
      m_containers.insert(name);
    }
    for (const auto &[name, bridge] : m_observed.bridges) {
      m_bridges.insert(name);
    }
  }

  void remove_workloads() {
    std::set<std::string> container_names;
    for (const auto &name : m_containers) {
      // Docker's name of it, else the one the lab's prefix gives.
      auto observed = m_observed.containers.find(name);
      const auto runtime_name =
          observed != m_observed.containers.end() && !observed->second.name.empty()
              ? observed->second.name
              : container_name(m_lab, name, m_plan.container_prefix);
      container_names.insert(runtime_name);
      m_removals.push_back(m_builder.add(
          {ActionKind::remove_node, name, {}, runtime_name, Reason::lab_removed, {}}));
    }
    for (const auto &name : m_vms) {
      std::vector<std::string> keys;
      for (const auto &link : m_recorded.links) {
        if (link.a_node == name || link.b_node == name) {
          keys.push_back(link.key);
        }
      }
      container_names.insert(container_name(m_lab, name));
      m_removals.push_back(m_builder.add({ActionKind::remove_vm,
                                          name,
                                          keys,
                                          container_name(m_lab, name),
                                          Reason::lab_removed,
                                          {}}));
    }
    for (const auto &name : m_external) {
      // After the lab's containers: their removal takes the links' ends in these along.
      m_builder.add({ActionKind::remove_node, name, {}, name, Reason::lab_removed, m_removals});
    }
    // Objects recorded before they were made (a crash between the record and the label).
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::domain && !container_names.count(object.name)) {
        container_names.insert(object.name);
        m_removals.push_back(m_builder.add(
            {ActionKind::remove_vm, object.owner, {}, object.name, Reason::interrupted_run, {}}));
      }
      if (object.type == state::ObjectType::container && !container_names.count(object.name)) {
        container_names.insert(object.name);
        m_removals.push_back(m_builder.add(
            {ActionKind::remove_node, object.owner, {}, object.name, Reason::interrupted_run, {}}));
      }
    }
  }

  void remove_bridges() {
    for (const auto &name : m_bridges) {
      m_bridge_names.insert(bridge_name(m_lab, name));
      m_bridge_removals.push_back(m_builder.add({ActionKind::remove_bridge,
                                                 name,
                                                 {},
                                                 bridge_name(m_lab, name),
                                                 Reason::lab_removed,
                                                 {}}));
    }
    std::set<std::string> linux_bridges;
    for (const auto &name : m_linux_bridges) {
      linux_bridges.insert(name);
      m_bridge_removals.push_back(m_builder.add(
          {ActionKind::remove_bridge, name, {}, name, Reason::lab_removed, m_removals}));
    }
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::linux_bridge && !linux_bridges.count(object.name)) {
        linux_bridges.insert(object.name);
        m_bridge_removals.push_back(m_builder.add({ActionKind::remove_bridge,
                                                   object.owner,
                                                   {},
                                                   object.name,
                                                   Reason::interrupted_run,
                                                   m_removals}));
      }
    }
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::bridge && !m_bridge_names.count(object.name)) {
        m_bridge_names.insert(object.name);
        m_bridge_removals.push_back(m_builder.add({ActionKind::remove_bridge,
                                                   object.owner,
                                                   {},
                                                   object.name,
                                                   Reason::interrupted_run,
                                                   {}}));
      }
    }
  }

  /// Only networks that carry the lab's label: a name recorded in state may belong to someone
  /// else (a network that existed before the lab). The record goes with the lab.
  void remove_networks() {
    for (const auto &name : m_observed.networks) {
      m_builder.add({ActionKind::remove_network, "", {}, name, Reason::lab_removed, m_removals});
    }
  }

  void remove_dhcp_and_host_links() {
    std::set<std::string> host_links(m_observed.host_links.begin(), m_observed.host_links.end());
    // A VM's taps are recorded with the VM as owner: they go after it (its removal deletes them),
    // so that a VM whose removal fails keeps its NICs' taps and its links can be wired again.
    std::map<std::string, std::size_t> removal_of;
    for (auto index : m_removals) {
      removal_of[m_plan.actions[index].node] = index;
    }
    std::map<std::string, std::size_t> owner_removal;
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::veth && object.name.rfind("lv", 0) == 0) {
        host_links.insert(object.name);
        if (auto it = removal_of.find(object.owner); it != removal_of.end()) {
          owner_removal[object.name] = it->second;
        }
      }
    }
    bool relay = m_observed.relay_running.has_value();
    for (const auto &object : m_recorded.objects) {
      relay = relay || object.type == state::ObjectType::relay;
    }
    if (relay) {
      // It owns no interface (it only reads them), so nothing waits for it.
      m_builder.add({ActionKind::remove_relay, "", {}, "relay", Reason::lab_removed, {}});
    }
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::netns) {
        // After the workloads: a node being removed may still be keeping its namespace.
        m_builder.add(
            {ActionKind::remove_netns, "", {}, object.name, Reason::lab_removed, m_removals});
      }
    }
    bool ports = m_observed.published_ports.has_value();
    for (const auto &object : m_recorded.objects) {
      ports = ports || object.type == state::ObjectType::port_proxy;
    }
    if (ports) {
      // It holds nothing the nodes need: nothing waits for it.
      m_builder.add({ActionKind::remove_ports, "", {}, "docker-proxy", Reason::lab_removed, {}});
    }
    bool dhcp = m_observed.dhcp_hosts.has_value();
    for (const auto &object : m_recorded.objects) {
      dhcp = dhcp || object.type == state::ObjectType::dhcp;
    }
    if (dhcp) {
      m_builder.add(
          {ActionKind::remove_dhcp, "", {}, mgmt_bridge_name(m_lab), Reason::lab_removed, {}});
    }
    bool firewall = m_observed.firewall_present;
    for (const auto &object : m_recorded.objects) {
      firewall = firewall || object.type == state::ObjectType::firewall;
    }
    if (firewall) {
      // Last: the nodes stay fenced off from the host until they are gone.
      m_builder.add({ActionKind::remove_firewall,
                     "",
                     {},
                     mgmt_bridge_name(m_lab),
                     Reason::lab_removed,
                     m_removals});
    }
    for (const auto &name : host_links) {
      if (m_bridge_names.count(name)) {
        continue; // a bridge's own interface goes with the bridge
      }
      auto deps = m_bridge_removals;
      if (auto it = owner_removal.find(name); it != owner_removal.end()) {
        deps.push_back(it->second);
      }
      m_builder.add({ActionKind::remove_host_link, "", {}, name, Reason::lab_removed, deps});
    }
    // Host and bridge links' ends named by the file: normally gone with their containers; one
    // left (a container that did not go) is removed after the containers, while still a veth.
    for (const auto &object : m_recorded.objects) {
      if (object.type == state::ObjectType::host_end) {
        m_builder.add(
            {ActionKind::remove_host_link, "", {}, object.name, Reason::lab_removed, m_removals});
      }
    }
  }
};

} // namespace

Plan plan_down(const std::string &lab, const Recorded &recorded, const Observed &observed) {
  return DownPlanner(lab, recorded, observed).run();
}

Result<Plan> plan_lifecycle(const std::string &lab, const Recorded &recorded,
                            const Observed &observed, const std::vector<std::string> &nodes,
                            bool stop) {
  Plan plan;
  plan.lab = lab;
  if (recorded.lab) {
    plan.network = recorded.lab->mgmt_network;
    plan.subnet = recorded.lab->mgmt_subnet;
    plan.container_prefix = recorded.lab->container_prefix;
  }
  std::map<std::string, const state::NodeRecord *> records;
  for (const auto &record : recorded.nodes) {
    records[record.name] = &record;
  }
  for (const auto &record : recorded.links) {
    std::string bridge;
    for (const auto &end : {record.a_node, record.b_node}) {
      auto it = records.find(end);
      if (it != records.end() && is_bridge_kind(it->second->kind)) {
        bridge = end;
      }
    }
    plan.links[record.key] = PlannedLink{record.key,
                                         record.name,
                                         {record.a_node, record.a_iface, {}},
                                         {record.b_node, record.b_iface, {}},
                                         0,
                                         bridge};
    mark_device(plan.links[record.key], recorded.objects);
    // What the link carries (impairments, carrier), for the ends `start` brings back.
    link_settings(plan.links[record.key], nullptr, &record);
  }
  std::vector<const state::NodeRecord *> chosen;
  for (const auto &name : nodes) {
    auto it = records.find(name);
    if (it == records.end()) {
      std::string known;
      for (const auto &[node, record] : records) {
        known += (known.empty() ? "" : ", ") + node;
      }
      return fail(fmt::format("lab {} has no node '{}'", lab, name),
                  fmt::format("its nodes: {}", known.empty() ? "none" : known), ExitCode::usage);
    }
    if (is_bridge_kind(it->second->kind)) {
      return fail(fmt::format("node {} of lab {} is an ovs-bridge: it has nothing to {}", name, lab,
                              stop ? "stop" : "start"),
                  "name container and VM nodes with --node", ExitCode::usage);
    }
    if (std::find(chosen.begin(), chosen.end(), it->second) == chosen.end()) {
      chosen.push_back(it->second);
    }
  }
  if (nodes.empty()) {
    for (const auto &record : recorded.nodes) {
      if (!is_bridge_kind(record.kind)) {
        chosen.push_back(&record);
      }
    }
  }
  std::set<std::string> parked;
  for (const auto &object : recorded.objects) {
    if (object.type == state::ObjectType::parked) {
      parked.insert(object.owner);
    }
  }
  for (const auto *record : chosen) {
    const bool vm = is_vm_kind(record->kind);
    const auto &pool = vm ? observed.vms : observed.containers;
    auto it = pool.find(record->name);
    const std::string current = it == pool.end() ? std::string() : it->second.state;
    if (stop && record->status == state::RecordStatus::stopped &&
        (current.empty() || is_stopped_state(current))) {
      continue;
    }
    if (!stop && record->status == state::RecordStatus::running && current == "running" &&
        !parked.count(record->name)) {
      continue;
    }
    std::vector<std::string> keys;
    for (const auto &link : recorded.links) {
      if (link.a_node == record->name || link.b_node == record->name) {
        keys.push_back(link.key);
      }
    }
    plan.actions.push_back({stop ? ActionKind::stop_node : ActionKind::start_node,
                            record->name,
                            keys,
                            is_vm_kind(record->kind)
                                ? container_name(lab, record->name)
                                : container_name(lab, record->name, plan.container_prefix),
                            Reason::requested,
                            {}});
  }
  // A confined lab's nodes start behind its host firewall: rules lost meanwhile (a reboot
  // empties the tables) are made again first.
  if (!stop && !plan.actions.empty() && recorded.lab && recorded.lab->confined) {
    const bool dhcp =
        std::any_of(recorded.objects.begin(), recorded.objects.end(),
                    [](const auto &object) { return object.type == state::ObjectType::dhcp; });
    plan.firewall = firewall_rules(lab, dhcp);
    if (observed.firewall != plan.firewall) {
      plan.actions.insert(plan.actions.begin(),
                          Action{ActionKind::configure_firewall,
                                 "",
                                 {},
                                 plan.firewall.interface,
                                 Why(Reason::missing, state::ObjectType::firewall),
                                 {}});
      for (std::size_t i = 1; i < plan.actions.size(); ++i) {
        plan.actions[i].deps.push_back(0);
      }
    }
  }
  return plan;
}

std::string describe(const Action &action, const Plan &plan) {
  const auto reason_text = to_string(action.why);
  auto link_list = [&] {
    std::string out;
    for (const auto &key : action.links) {
      auto it = plan.links.find(key);
      out += (out.empty() ? "" : ", ") + (it == plan.links.end() ? key : it->second.name);
    }
    return out;
  };
  switch (action.kind) {
  case ActionKind::create_network:
    return fmt::format("create network {} ({}{}{}) [{}]", action.name, plan.subnet,
                       plan.subnet6.empty() ? "" : ", ", plan.subnet6, reason_text);
  case ActionKind::remove_network:
    return fmt::format("remove network {} [{}]", action.name, reason_text);
  case ActionKind::create_bridge:
    return fmt::format("create bridge {} as {} [{}]", action.node, action.name, reason_text);
  case ActionKind::remove_bridge:
    return fmt::format("remove bridge {} ({}) [{}]", action.node, action.name, reason_text);
  case ActionKind::create_node: {
    auto address = plan.addresses.find(action.node);
    // No address of ltb's: Docker's, on a network the lab joined.
    const bool docker = address == plan.addresses.end() || address->second.empty();
    return fmt::format(
        "create node {} as {} at {} [{}]", action.node, action.name,
        docker ? (plan.network_external ? "Docker's address" : "-") : address->second, reason_text);
  }
  case ActionKind::remove_node:
    return fmt::format("remove node {} ({}) [{}]", action.node, action.name, reason_text);
  case ActionKind::wire_links:
    return action.node.empty() ? fmt::format("wire link {} [{}]", link_list(), reason_text)
                               : fmt::format("wire {} to bridge {}: {} [{}]",
                                             action.links.size() == 1 ? "link" : "links",
                                             action.node, link_list(), reason_text);
  case ActionKind::unwire_links:
    return action.node.empty() ? fmt::format("unwire link {} [{}]", link_list(), reason_text)
                               : fmt::format("unwire from bridge {}: {} [{}]", action.node,
                                             link_list(), reason_text);
  case ActionKind::run_exec:
    return fmt::format("run exec commands on {} [{}]", action.node, reason_text);
  case ActionKind::remove_host_link:
    return fmt::format("remove host interface {} [{}]", action.name, reason_text);
  case ActionKind::create_vm: {
    auto address = plan.addresses.find(action.node);
    return fmt::format("create VM {} as {} at {} [{}]", action.node, action.name,
                       address == plan.addresses.end() ? "-" : address->second, reason_text);
  }
  case ActionKind::remove_vm:
    return fmt::format("remove VM {} ({}) [{}]", action.node, action.name, reason_text);
  case ActionKind::configure_dhcp:
    return fmt::format("configure the VMs' DHCP server on {} [{}]", action.name, reason_text);
  case ActionKind::remove_dhcp:
    return fmt::format("stop the VMs' DHCP server on {} [{}]", action.name, reason_text);
  case ActionKind::configure_firewall:
    return fmt::format("close the host to the nodes on {}{} [{}]", action.name,
                       plan.firewall.dhcp ? " (DHCP to ltb's dnsmasq let through)" : "",
                       reason_text);
  case ActionKind::remove_firewall:
    return fmt::format("remove the host firewall rules of {} [{}]", action.name, reason_text);
  case ActionKind::resume_relay:
    return fmt::format("start the lab's impairment relay again [{}]", reason_text);
  case ActionKind::remove_relay:
    return fmt::format("stop the lab's impairment relay [{}]", reason_text);
  case ActionKind::publish_ports: {
    std::string ports;
    std::istringstream lines(plan.published_ports);
    for (std::string line; std::getline(lines, line);) {
      // "NODE PROTO HOST-IP HOST-PORT NODE-IP PORT" -> "HOST-IP:HOST-PORT->NODE:PORT/PROTO"
      std::istringstream fields(line);
      std::string node, protocol, host_ip, host_port, node_ip, port;
      fields >> node >> protocol >> host_ip >> host_port >> node_ip >> port;
      ports += fmt::format("{}{}:{}->{}:{}/{}", ports.empty() ? "" : ", ", host_ip, host_port, node,
                           port, protocol);
    }
    return fmt::format("publish ports {} [{}]", ports, reason_text);
  }
  case ActionKind::remove_ports:
    return fmt::format("stop the lab's port proxies [{}]", reason_text);
  case ActionKind::stop_node:
    return fmt::format("stop node {} ({}) [{}]", action.node, action.name, reason_text);
  case ActionKind::start_node:
    return fmt::format("start node {} ({}) [{}]", action.node, action.name, reason_text);
  case ActionKind::remove_netns:
    return fmt::format("remove network namespace {} [{}]", action.name, reason_text);
  case ActionKind::set_impairment: {
    auto it = action.links.empty() ? plan.links.end() : plan.links.find(action.links.front());
    if (it == plan.links.end()) {
      return fmt::format("set link {} [{}]", link_list(), reason_text);
    }
    const auto &link = it->second;
    return fmt::format("set link {}: {}:{} {}; {}:{} {}{} [{}]", link.name, link.a.node,
                       link.a.iface, topology::describe(link.impair_a), link.b.node, link.b.iface,
                       topology::describe(link.impair_b), link.down ? "; down" : "", reason_text);
  }
  }
  return {};
}

void link_settings(PlannedLink &link, const topology::Link *file, const state::LinkRecord *record) {
  auto decoded = [](const std::string &text) {
    return topology::decode_impairments(text).value_or(topology::Impairments{});
  };
  auto override_of =
      [&](const std::optional<std::string> &text) -> std::optional<topology::Impairments> {
    if (!text) {
      return std::nullopt;
    }
    return decoded(*text);
  };
  if (record) {
    link.applied_a = decoded(record->impair_a);
    link.applied_b = decoded(record->impair_b);
    link.file_a = decoded(record->file_impair_a);
    link.file_b = decoded(record->file_impair_b);
    link.override_a = override_of(record->override_a);
    link.override_b = override_of(record->override_b);
    link.down = record->down;
    link.was_down = record->down;
  }
  if (file) {
    // LINK's ends are the record's (plan_link orients them so): the file may list them the
    // other way round.
    const bool swapped = link.a.node != file->a.node || link.a.iface != file->a.iface;
    const bool a_set = swapped ? file->impair_b_set : file->impair_a_set;
    const bool b_set = swapped ? file->impair_a_set : file->impair_b_set;
    link.file_a = swapped ? file->impair_b : file->impair_a;
    link.file_b = swapped ? file->impair_a : file->impair_b;
    if (a_set) {
      link.override_a.reset();
    }
    if (b_set) {
      link.override_b.reset();
    }
  }
  link.impair_a = link.override_a.value_or(link.file_a);
  link.impair_b = link.override_b.value_or(link.file_b);
}

state::LinkRecord settings_record(const std::string &lab, const PlannedLink &link,
                                  const std::string &via) {
  state::LinkRecord record;
  record.lab = lab;
  record.key = link.key;
  record.impair_a = topology::encode_impairments(link.impair_a);
  record.impair_b = topology::encode_impairments(link.impair_b);
  record.file_impair_a = topology::encode_impairments(link.file_a);
  record.file_impair_b = topology::encode_impairments(link.file_b);
  if (link.override_a) {
    record.override_a = topology::encode_impairments(*link.override_a);
  }
  if (link.override_b) {
    record.override_b = topology::encode_impairments(*link.override_b);
  }
  record.impair_via = via;
  record.down = link.down;
  return record;
}

} // namespace ltb::plan
