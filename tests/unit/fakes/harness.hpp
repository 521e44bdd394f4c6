#pragma once
// `ltb up` and `ltb down` as cli/deploy.cpp runs them (read state, observe, plan, apply), on the
// fakes of fakes.hpp and a real state file in a temporary directory; plus small builders of
// topologies and the consistency check of state against the fakes.

#include "apply/apply.hpp"
#include "apply/observe.hpp"
#include "fakes.hpp"
#include "plan/names.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdlib.h>
#include <string>
#include <vector>

namespace ltb::fakes {

inline topology::Node container_node(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "linux";
  node.image = "ltb/busybox:latest";
  return node;
}

inline topology::Node vm_node(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "vm";
  node.runtime = topology::Runtime::vm;
  node.image = "/images/ltb-vm.qcow2";
  node.kernel = "/images/vmlinuz";
  node.initrd = "/images/initrd.gz";
  return node;
}

inline topology::Node bridge_node(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "ovs-bridge";
  node.runtime = topology::Runtime::ovs_bridge;
  return node;
}

/// containerlab's kind bridge: a Linux bridge on the host named as the node.
inline topology::Node linux_bridge_node(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "bridge";
  node.runtime = topology::Runtime::linux_bridge;
  return node;
}

/// The host itself (the end of `host:IFACE` links).
inline topology::Node host_node() {
  topology::Node node;
  node.name = "host";
  node.kind = "host";
  node.runtime = topology::Runtime::host;
  return node;
}

inline topology::Link make_link(const std::string &a, const std::string &ai, const std::string &b,
                                const std::string &bi) {
  topology::Link link;
  link.a = {a, ai, {}};
  link.b = {b, bi, {}};
  link.name = a + ":" + ai + "-" + b + ":" + bi;
  return link;
}

inline topology::Topology make_lab(const std::string &name) {
  topology::Topology t;
  t.name = name;
  t.file = "/labs/" + name + ".yaml";
  t.text = "name: " + name + "\n";
  t.hash = "hash-" + name;
  t.mgmt.ipv4_subnet = "172.31.9.0/24";
  return t;
}

/// A fresh directory for the state file and the lab directories: in /dev/shm when there is one,
/// since a state file commits (and syncs) on every record and the property test writes thousands.
struct HarnessDir {
  std::filesystem::path path;
  HarnessDir() {
    std::error_code ec;
    auto base = std::filesystem::is_directory("/dev/shm", ec)
                    ? std::filesystem::path("/dev/shm")
                    : std::filesystem::temp_directory_path();
    std::string pattern = (base / "ltb-apply-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~HarnessDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  HarnessDir(const HarnessDir &) = delete;
  HarnessDir &operator=(const HarnessDir &) = delete;
  std::string file(const std::string &name) const { return (path / name).string(); }
};

struct Harness {
  HarnessDir dir;
  std::unique_ptr<state::Store> store;
  FakeBackends fakes;
  RecordingProgress progress;
  int workers = 4;
  bool relay_mode = false;                             // apply::ApplyOptions::relay_mode for up
  std::map<std::string, apply::VmRestore> vm_restores; // apply::ApplyOptions::vm_restores for up

  Harness() {
    auto opened = state::Store::open(dir.file("state.db"));
    REQUIRE(opened);
    store = std::move(*opened);
  }

  apply::Backends backends() { return fakes.backends(*store); }
  std::string lab_dir(const std::string &lab) const { return dir.file("labs/" + lab); }

  Result<plan::Plan> plan_up(const topology::Topology &t) {
    auto b = backends();
    LTB_TRY(recorded, apply::read_recorded(*store, t.name));
    LTB_TRY(observed, apply::observe(t.name, b, {true, false, true, lab_dir(t.name)}));
    observed.relay_mode = relay_mode; // as deploy chooses it before planning
    if (t.mgmt.network_loc.line > 0 && !observed.networks.count(t.mgmt.network)) {
      // As deploy finds it: a network mgmt.network names that exists and is not the lab's.
      LTB_TRY(external, apply::foreign_network(b, t.name, t.mgmt.network));
      observed.external_network = external;
    }
    std::vector<std::string> subnets;
    if (t.mgmt.ipv4_subnet.empty()) {
      LTB_TRY(used, apply::used_subnets(b, t.name));
      subnets = used;
    }
    return plan::plan_up(t, recorded, observed, subnets);
  }

  Result<apply::ApplyReport> up(const topology::Topology &t,
                                const std::atomic<bool> *interrupted = nullptr) {
    LTB_TRY(plan, plan_up(t));
    auto b = backends();
    apply::ApplyOptions options;
    options.workers = workers;
    options.interrupted = interrupted;
    options.owner = "tester";
    options.lab_dir = lab_dir(t.name);
    options.relay_mode = relay_mode;
    options.vm_restores = vm_restores;
    return apply::apply_up(plan, t, b, progress, options);
  }

  /// `ltb stop` (stop) or `ltb start` of `nodes` (all when empty), as service/lifecycle runs it.
  Result<apply::ApplyReport> lifecycle(const std::string &lab,
                                       const std::vector<std::string> &nodes, bool stop,
                                       const topology::Topology *desired = nullptr) {
    auto b = backends();
    LTB_TRY(recorded, apply::read_recorded(*store, lab));
    LTB_TRY(observed, apply::observe(lab, b, {false, false, false, {}}));
    LTB_TRY(plan, plan::plan_lifecycle(lab, recorded, observed, nodes, stop));
    apply::ApplyOptions options;
    options.workers = workers;
    options.owner = "tester";
    options.lab_dir = lab_dir(lab);
    return apply::apply_lifecycle(plan, desired, b, progress, options);
  }

  Result<plan::Plan> plan_down(const std::string &lab) {
    auto b = backends();
    LTB_TRY(recorded, apply::read_recorded(*store, lab));
    LTB_TRY(observed, apply::observe(lab, b, {true, true, true, lab_dir(lab)}));
    return plan::plan_down(lab, recorded, observed);
  }

  Result<apply::ApplyReport> down(const std::string &lab,
                                  const std::atomic<bool> *interrupted = nullptr) {
    LTB_TRY(plan, plan_down(lab));
    auto b = backends();
    apply::ApplyOptions options;
    options.workers = workers;
    options.interrupted = interrupted;
    options.owner = "tester";
    options.lab_dir = lab_dir(lab);
    return apply::apply_down(plan, b, progress, options);
  }
};

/// What the state file says against what the fakes hold, for one lab; one line per problem.
/// - Nothing in the fakes is unrecorded: each container, domain, bridge, network, dnsmasq,
///   overlay, host interface and bridge port of the lab belongs to a recorded node, link or
///   object (of any status). Interfaces inside a container belong to the container.
/// - Everything recorded exists: a node whose status is not "creating" or "removing" (a removal
///   under way: its runtime object is gone, its taps or disk may not be), or an object whose
///   status is not "creating", is in the fakes
///   (veth objects and links excepted: a recreated node leaves them stale on purpose, and the
///   planner rewires them; convergence checks those).
/// `topologies` are every file the lab was deployed from, to name its host interfaces.
inline std::vector<std::string> inconsistencies(Harness &h, const std::string &lab,
                                                const std::vector<topology::Topology> &topologies) {
  std::vector<std::string> problems;
  auto recorded = apply::read_recorded(*h.store, lab);
  REQUIRE(recorded);
  std::map<std::string, const state::NodeRecord *> nodes;
  for (const auto &node : recorded->nodes) {
    nodes[node.name] = &node;
  }
  std::set<std::string> link_keys;
  for (const auto &link : recorded->links) {
    link_keys.insert(link.key);
  }
  auto object = [&](state::ObjectType type, const std::string &name) {
    return std::any_of(recorded->objects.begin(), recorded->objects.end(),
                       [&](const auto &o) { return o.type == type && o.name == name; });
  };
  // Host interface name -> (node, link key) for every link end of every topology.
  std::map<std::string, std::pair<std::string, std::string>> host_names;
  for (const auto &t : topologies) {
    for (const auto &link : t.links) {
      auto key = topology::link_key(link);
      for (const auto &end : {link.a.node, link.b.node}) {
        host_names[plan::host_veth_name(lab, key, end)] = {end, key};
      }
    }
  }
  auto host_accounted = [&](const std::string &name) {
    auto it = host_names.find(name);
    if (object(state::ObjectType::veth, name)) {
      return true;
    }
    return it != host_names.end() &&
           (nodes.count(it->second.first) || link_keys.count(it->second.second));
  };
  auto &w = h.fakes.world;
  std::lock_guard lock(w.mutex);
  std::map<std::string, std::string> node_of_container;
  for (const auto &[name, c] : w.containers) {
    auto it = c.spec.labels.find(plan::k_label_lab);
    if (it == c.spec.labels.end() || it->second != lab) {
      continue;
    }
    auto node = c.spec.labels.at(plan::k_label_node);
    if (!nodes.count(node) && !object(state::ObjectType::container, name)) {
      problems.push_back("unrecorded container " + name);
    }
  }
  for (const auto &[name, n] : w.networks) {
    if (n.spec.labels.count(plan::k_label_lab) && n.spec.labels.at(plan::k_label_lab) == lab &&
        !object(state::ObjectType::network, name)) {
      problems.push_back("unrecorded network " + name);
    }
  }
  for (const auto &[name, d] : w.domains) {
    auto it = d.spec.metadata.find(plan::k_label_lab);
    if (it != d.spec.metadata.end() && it->second == lab &&
        !nodes.count(d.spec.metadata.at(plan::k_label_node)) &&
        !object(state::ObjectType::domain, name)) {
      problems.push_back("unrecorded domain " + name);
    }
  }
  for (const auto &[name, b] : w.bridges) {
    auto it = b.external_ids.find(plan::k_ovs_lab);
    if (it == b.external_ids.end() || it->second != lab) {
      continue;
    }
    if (!nodes.count(b.external_ids.at(plan::k_ovs_owner)) &&
        !object(state::ObjectType::bridge, name)) {
      problems.push_back("unrecorded bridge " + name);
    }
    for (const auto &[port, ids] : b.ports) {
      if (!host_accounted(port)) {
        problems.push_back("unrecorded port " + port + " on " + name);
      }
    }
  }
  for (const auto &[key, iface] : w.ifaces) {
    if (key.first.empty() && key.second.rfind(plan::veth_prefix(lab), 0) == 0 &&
        !host_accounted(key.second)) {
      problems.push_back("unrecorded host " + iface.kind + " " + key.second);
    }
  }
  if (w.dhcp.count(h.lab_dir(lab)) && !object(state::ObjectType::dhcp, "dnsmasq")) {
    problems.push_back("unrecorded dnsmasq");
  }
  if (w.firewall.count(lab) && !object(state::ObjectType::firewall, "firewall")) {
    problems.push_back("unrecorded host firewall rules");
  }
  if (w.proxies.count(h.lab_dir(lab)) && !object(state::ObjectType::port_proxy, "docker-proxy")) {
    problems.push_back("unrecorded docker-proxy");
  }
  if (w.relays.count(h.lab_dir(lab)) && !object(state::ObjectType::relay, "relay")) {
    problems.push_back("unrecorded relay");
  }
  for (const auto &file : w.overlays) {
    auto prefix = h.lab_dir(lab) + "/";
    if (file.rfind(prefix, 0) == 0) {
      auto node = file.substr(prefix.size(), file.find('/', prefix.size()) - prefix.size());
      if (!nodes.count(node)) {
        problems.push_back("unrecorded overlay " + file);
      }
    }
  }
  // The other way round.
  for (const auto &node : recorded->nodes) {
    if (node.status == state::RecordStatus::creating ||
        node.status == state::RecordStatus::removing) {
      continue;
    }
    bool exists = false;
    const bool stopped =
        node.status == state::RecordStatus::stopped; // `ltb stop`: kept, not running
    if (node.kind == "ovs-bridge") {
      exists = w.bridges.count(plan::bridge_name(lab, node.name)) > 0;
    } else if (node.kind == "bridge") {
      auto it = w.ifaces.find({"", node.name});
      exists = it != w.ifaces.end() && it->second.kind == "bridge";
    } else if (node.kind == "vm") {
      auto it = w.domains.find(plan::container_name(lab, node.name));
      exists = it != w.domains.end() && it->second.uuid == node.runtime_id &&
               it->second.state == (stopped ? "shutoff" : "running");
    } else {
      // Under the lab's prefix (containerlab's), when it has one.
      auto it = w.containers.find(plan::container_name(
          lab, node.name, recorded->lab ? recorded->lab->container_prefix : std::nullopt));
      exists = it != w.containers.end() && it->second.id == node.runtime_id &&
               it->second.state == (stopped ? "exited" : "running");
    }
    if (!exists) {
      problems.push_back(fmt::format("node {} recorded as {} is missing", node.name,
                                     state::to_string(node.status)));
    }
  }
  for (const auto &o : recorded->objects) {
    if (o.status == state::RecordStatus::creating) {
      continue;
    }
    bool exists = true;
    if (o.type == state::ObjectType::container) {
      exists = w.containers.count(o.name) > 0;
    } else if (o.type == state::ObjectType::network) {
      exists = w.networks.count(o.name) > 0;
    } else if (o.type == state::ObjectType::domain) {
      exists = w.domains.count(o.name) > 0;
    } else if (o.type == state::ObjectType::bridge) {
      exists = w.bridges.count(o.name) > 0;
    } else if (o.type == state::ObjectType::dhcp) {
      exists = w.dhcp.count(h.lab_dir(lab)) > 0;
    } else if (o.type == state::ObjectType::port_proxy) {
      exists = w.proxies.count(h.lab_dir(lab)) > 0;
    } else if (o.type == state::ObjectType::relay) {
      exists = w.relays.count(h.lab_dir(lab)) > 0;
    } else if (o.type == state::ObjectType::firewall) {
      exists = w.firewall.count(lab) > 0;
    } else if (o.type == state::ObjectType::linux_bridge || o.type == state::ObjectType::host_end) {
      exists = w.ifaces.count({"", o.name}) > 0;
    }
    if (!exists) {
      problems.push_back(fmt::format("{} {} recorded as {} is missing", state::to_string(o.type),
                                     o.name, state::to_string(o.status)));
    }
  }
  return problems;
}

/// inconsistencies() as one string ("" when consistent), for readable assertions.
inline std::string problems(Harness &h, const std::string &lab,
                            const std::vector<topology::Topology> &topologies) {
  std::string out;
  for (const auto &problem : inconsistencies(h, lab, topologies)) {
    out += problem + "\n";
  }
  return out;
}

inline std::string errors_of(const apply::ApplyReport &report) {
  std::string out;
  for (const auto &action : report.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      out += action.description + ": " + action.result.error + "\n";
    }
  }
  return out;
}

inline std::string describe_plan(const plan::Plan &plan) {
  std::string out;
  for (const auto &action : plan.actions) {
    out += plan::describe(action, plan) + "\n";
  }
  return out;
}

} // namespace ltb::fakes
