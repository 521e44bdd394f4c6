#include "apply/apply.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "access/install.hpp"
#include "net/dhcp.hpp"
#include "net/redirect.hpp"
#include "plan/names.hpp"
#include "util/hash.hpp"
#include "util/ipv4.hpp"
#include "util/shell_split.hpp"

namespace ltb::apply {

namespace {

namespace fs = std::filesystem;
using plan::Action;
using plan::ActionKind;

Error with_context(const std::string &what, Error error) {
  error.message = what + ": " + error.message;
  return error;
}

/// The lab as apply_up records it before anything is made.
state::LabRecord lab_record(const plan::Plan &plan, const topology::Topology &desired,
                            state::Store &store, const std::string &owner) {
  auto existing = store.lab(plan.lab);
  state::LabRecord lab;
  if (existing && *existing) {
    lab = **existing;
  }
  lab.name = plan.lab;
  lab.topology_file = desired.file;
  lab.topology_text = desired.text;
  lab.topology_hash = desired.hash;
  lab.mgmt_network = plan.network;
  lab.mgmt_subnet = plan.subnet;
  lab.owner = owner;
  lab.status = state::RecordStatus::deploying;
  return lab;
}

/// Records the management network, then makes it with the lab's labels. The record comes first so
/// that a crash in between leaves a trace; when Docker refuses, nothing was made and the record
/// goes again.
Status make_network(const plan::Plan &plan, const topology::Topology *desired, Backends &backends,
                    const std::string &owner) {
  LTB_TRY(id, backends.store->add_object({0, plan.lab, state::ObjectType::network, plan.network, "",
                                          "", "", state::RecordStatus::creating}));
  runtime::NetworkSpec spec;
  spec.name = plan.network;
  spec.subnet = plan.subnet;
  spec.gateway = plan.gateway;
  spec.internal = !(desired && desired->mgmt.external_access);
  spec.bridge_name = plan::mgmt_bridge_name(plan.lab);
  spec.labels = {{plan::k_label_lab, plan.lab}, {plan::k_label_owner, owner}};
  auto network = backends.docker->create_network(spec);
  if (!network) {
    (void)backends.store->delete_object(id);
    return fail(with_context(fmt::format("management network {} ({})", plan.network, plan.subnet),
                             network.error()));
  }
  return backends.store->update_object(id, *network, state::RecordStatus::created);
}

class Runner {
public:
  Runner(const plan::Plan &plan, const topology::Topology *desired, Backends &backends,
         Progress &progress, const ApplyOptions &options)
      : m_plan(plan), m_desired(desired), m_b(backends), m_progress(progress), m_options(options) {
    for (std::size_t i = 0; i < plan.actions.size(); ++i) {
      for (const auto &node : nodes_of(plan.actions[i])) {
        ++m_pending[node];
      }
    }
  }

  ApplyReport run() {
    std::vector<std::vector<std::size_t>> deps;
    for (const auto &action : m_plan.actions) {
      deps.push_back(action.deps);
    }
    auto results = execute(
        deps, [this](std::size_t i) { return perform(m_plan.actions[i]); }, m_options.workers,
        m_options.interrupted,
        [this](std::size_t i, const TaskResult &result) { finished(m_plan.actions[i], result); });
    ApplyReport report;
    for (std::size_t i = 0; i < results.size(); ++i) {
      report.actions.push_back({plan::describe(m_plan.actions[i], m_plan), results[i]});
      switch (results[i].outcome) {
      case Outcome::done:
        ++report.done;
        break;
      case Outcome::failed:
        ++report.failed;
        break;
      default:
        ++report.skipped;
        break;
      }
    }
    report.interrupted = m_options.interrupted && m_options.interrupted->load();
    return report;
  }

private:
  /// Nodes whose progress line an action moves.
  std::vector<std::string> nodes_of(const Action &action) const {
    switch (action.kind) {
    case ActionKind::create_node:
    case ActionKind::remove_node:
    case ActionKind::create_vm:
    case ActionKind::remove_vm:
    case ActionKind::create_bridge:
    case ActionKind::remove_bridge:
    case ActionKind::run_exec:
      return action.node.empty() ? std::vector<std::string>{} : std::vector<std::string>{action.node};
    case ActionKind::wire_links: {
      std::set<std::string> nodes;
      for (const auto &key : action.links) {
        const auto &link = m_plan.links.at(key);
        nodes.insert(link.a.node);
        nodes.insert(link.b.node);
      }
      return {nodes.begin(), nodes.end()};
    }
    default:
      return {};
    }
  }

  /// Called by the executor (under its lock) when an action has finished, failed or was skipped.
  void finished(const Action &action, const TaskResult &result) {
    std::lock_guard lock(m_mutex);
    for (const auto &node : nodes_of(action)) {
      if (result.outcome != Outcome::done) {
        if (!m_failed.count(node)) {
          m_failed.insert(node);
          m_progress.node(node, Phase::failed,
                          result.outcome == Outcome::skipped ? "skipped (" + result.error + ")"
                                                             : result.error);
        }
      }
      if (--m_pending[node] == 0 && !m_failed.count(node)) {
        if (auto it = m_unsettled.find(node); it != m_unsettled.end()) {
          it->second.status = state::RecordStatus::running;
          if (auto put = m_b.store->put_node(it->second); !put) {
            m_failed.insert(node);
            m_progress.node(node, Phase::failed, put.error().message);
            continue;
          }
        }
        m_progress.node(node, m_plan.teardown ? Phase::removed : Phase::running);
      }
    }
  }

  void phase(const std::string &node, Phase p, const std::string &detail = {}) {
    std::lock_guard lock(m_mutex);
    if (!m_failed.count(node)) {
      m_progress.node(node, p, detail);
    }
  }

  Status perform(const Action &action) {
    switch (action.kind) {
    case ActionKind::create_network:
      return create_network(action);
    case ActionKind::remove_network:
      return remove_network(action);
    case ActionKind::create_bridge:
      return create_bridge(action);
    case ActionKind::remove_bridge:
      return remove_bridge(action);
    case ActionKind::create_node:
      return create_node(action);
    case ActionKind::remove_node:
      return remove_node(action);
    case ActionKind::wire_links:
      return action.node.empty() ? wire_p2p(action) : wire_segment(action);
    case ActionKind::unwire_links:
      return action.node.empty() ? unwire_p2p(action) : unwire_segment(action);
    case ActionKind::run_exec:
      return run_exec(action);
    case ActionKind::remove_host_link:
      return remove_host_link(action);
    case ActionKind::create_vm:
      return create_vm(action);
    case ActionKind::remove_vm:
      return remove_vm(action);
    case ActionKind::configure_dhcp:
      return configure_dhcp(action);
    case ActionKind::remove_dhcp:
      return remove_dhcp(action);
    }
    return {};
  }

  // --- state helpers -------------------------------------------------------------------------

  Result<std::int64_t> record_object(state::ObjectType type, const std::string &name,
                                     const std::string &owner, const std::string &parent = {}) {
    return m_b.store->add_object(
        {0, m_plan.lab, type, name, owner, "", parent, state::RecordStatus::creating});
  }

  /// Forgets recorded objects of a type and name (after the runtime object is gone).
  Status forget_objects(state::ObjectType type, const std::set<std::string> &names) {
    LTB_TRY(objects, m_b.store->objects(m_plan.lab));
    for (const auto &object : objects) {
      if (object.type == type && names.count(object.name)) {
        LTB_CHECK(m_b.store->delete_object(object.id));
      }
    }
    return {};
  }

  // --- network -------------------------------------------------------------------------------

  Status create_network(const Action &) {
    return make_network(m_plan, m_desired, m_b, m_options.owner);
  }

  /// Removes the network only when it carries the lab's label (ltb made it for this lab), by
  /// id; any other network of that name is not ltb's to remove, and only the record goes.
  Status remove_network(const Action &action) {
    LTB_TRY(mine, m_b.docker->list_networks({{plan::k_label_lab, m_plan.lab}}));
    for (const auto &network : mine) {
      if (network.name != action.name) {
        continue;
      }
      auto removed = m_b.docker->remove_network(network.id);
      if (!removed) {
        return fail(with_context("management network " + action.name, removed.error()));
      }
    }
    return forget_objects(state::ObjectType::network, {action.name});
  }

  // --- containers ----------------------------------------------------------------------------

  Status ensure_image(const std::string &image, const std::string &node) {
    std::promise<Status> promise;
    std::shared_future<Status> future;
    bool mine = false;
    {
      std::lock_guard lock(m_mutex);
      auto it = m_images.find(image);
      if (it == m_images.end()) {
        future = promise.get_future().share();
        m_images.emplace(image, future);
        mine = true;
      } else {
        future = it->second;
      }
    }
    if (mine) {
      promise.set_value([&]() -> Status {
        LTB_TRY(present, m_b.docker->image_present(image));
        if (present) {
          return {};
        }
        phase(node, Phase::pulling, image);
        return m_b.docker->pull_image(image, [&](const std::string &line) {
          phase(node, Phase::pulling, line);
        });
      }());
    }
    auto status = future.get();
    if (!status) {
      return fail(fmt::format("image '{}' is not available: {}", image, status.error().message),
                  "build it (make images) or make it pullable; ltb pulls images that a registry has");
    }
    return {};
  }

  Result<runtime::ContainerSpec> container_spec(const topology::Node &node) {
    runtime::ContainerSpec spec;
    spec.name = plan::container_name(m_plan.lab, node.name);
    spec.hostname = node.name;
    spec.image = node.image;
    if (!node.cmd.empty()) {
      auto words = util::shell_split(node.cmd);
      if (!words) {
        return fail("cmd has an unterminated quote", "", ExitCode::usage);
      }
      spec.cmd = *words;
    }
    if (!node.entrypoint.empty()) {
      auto words = util::shell_split(node.entrypoint);
      if (!words) {
        return fail("entrypoint has an unterminated quote", "", ExitCode::usage);
      }
      spec.entrypoint = *words;
    }
    spec.env = node.env;
    spec.labels = node.labels;
    spec.labels[plan::k_label_lab] = m_plan.lab;
    spec.labels[plan::k_label_node] = node.name;
    spec.labels[plan::k_label_owner] = m_options.owner;
    spec.labels[plan::k_label_hash] = topology::node_config_hash(node);
    spec.binds = node.binds;
    if (!node.startup_config_path.empty()) {
      std::string source = node.startup_config;
      if (source.empty() && !node.startup_config_text.empty()) {
        // Inline configuration: written into the lab directory, mounted like a file.
        auto dir = fs::path(m_options.lab_dir) / node.name;
        std::error_code ec;
        fs::create_directories(dir, ec);
        source = (dir / "startup-config").string();
        std::ofstream out(source, std::ios::trunc);
        out << node.startup_config_text;
        if (!out) {
          return fail(fmt::format("cannot write the startup configuration to {}", source));
        }
      }
      if (!source.empty()) {
        spec.binds.push_back(source + ":" + node.startup_config_path + ":ro");
      }
    }
    spec.network = m_plan.network;
    spec.ipv4 = m_plan.addresses.at(node.name);
    spec.cpus = node.cpus;
    spec.memory_bytes = node.memory_bytes;
    return spec;
  }

  Status create_node(const Action &action) {
    const auto *node = m_desired->find_node(action.node);
    auto context = [&](Error e) { return fail(with_context("node " + action.node, std::move(e))); };
    phase(action.node, Phase::creating);
    if (auto ok = ensure_image(node->image, action.node); !ok) {
      return context(ok.error());
    }
    auto spec = container_spec(*node);
    if (!spec) {
      return context(spec.error());
    }
    state::NodeRecord record{m_plan.lab,
                             node->name,
                             node->kind,
                             node->image,
                             topology::node_config_hash(*node),
                             spec->ipv4,
                             "",
                             state::RecordStatus::creating};
    std::int64_t object_id = 0;
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      LTB_CHECK(m_b.store->put_node(record));
      LTB_TRY(id, record_object(state::ObjectType::container, spec->name, node->name));
      object_id = id;
      return {};
    }));
    auto id = m_b.docker->create_container(*spec);
    if (!id) {
      return context(id.error());
    }
    LTB_CHECK(m_b.store->update_object(object_id, *id, state::RecordStatus::creating));
    if (auto started = m_b.docker->start_container(*id); !started) {
      return context(started.error());
    }
    auto info = m_b.docker->inspect_container(*id);
    if (!info) {
      return context(info.error());
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(fmt::format("node {}: container {} stopped right after it started (state {})",
                              node->name, spec->name, info->state),
                  fmt::format("see `docker logs {}`: the image's command may have exited", spec->name));
    }
    {
      std::lock_guard lock(m_mutex);
      m_containers[node->name] = {*id, info->pid};
    }
    record.runtime_id = *id;
    // settled() takes the runner's lock: never inside a store transaction, whose lock finished()
    // takes while holding the runner's (lock order: runner, then store).
    settled(record);
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      LTB_CHECK(m_b.store->put_node(record));
      return m_b.store->update_object(object_id, *id, state::RecordStatus::created);
    }));
    // Best effort: without the key, `ltb ssh` falls back to the password.
    if (auto keyed = access::install_lab_key(*m_b.docker, m_options.lab_dir, *id, node->username);
        !keyed) {
      m_progress.notice(fmt::format("notice: node {}: {}", node->name, keyed.error().message));
    }
    if (record.status != state::RecordStatus::running) {
      phase(node->name, Phase::wiring);
    }
    return {};
  }

  /// A just-made node is "running" only once its links and exec commands are done too; until
  /// then it stays "created", so that a run killed in between redoes it.
  state::NodeRecord &settled(state::NodeRecord &record) {
    std::lock_guard lock(m_mutex);
    if (m_pending[record.name] > 1) {
      record.status = state::RecordStatus::created;
      m_unsettled[record.name] = record;
    } else {
      record.status = state::RecordStatus::running;
    }
    return record;
  }

  Status remove_node(const Action &action) {
    if (!action.node.empty()) {
      phase(action.node, Phase::removing);
    }
    if (auto removed = m_b.docker->remove_container(action.name); !removed) {
      return fail(with_context("node " + action.node + " (" + action.name + ")", removed.error()));
    }
    if (!action.node.empty()) {
      LTB_CHECK(m_b.store->delete_node(m_plan.lab, action.node));
    }
    return forget_objects(state::ObjectType::container, {action.name});
  }

  struct ContainerRef {
    std::string id;
    int pid = 0;
  };

  /// The running container of a node: from this run, or inspected once.
  Result<ContainerRef> container_of(const std::string &node) {
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_containers.find(node); it != m_containers.end()) {
        return it->second;
      }
    }
    auto info = m_b.docker->inspect_container(plan::container_name(m_plan.lab, node));
    if (!info) {
      return fail(with_context("node " + node, info.error()));
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(fmt::format("node {} is not running (state {})", node, info->state),
                  "run `ltb up` again to recreate it");
    }
    std::lock_guard lock(m_mutex);
    m_containers[node] = {info->id, info->pid};
    return m_containers[node];
  }

  // --- bridges -------------------------------------------------------------------------------

  Result<net::Datapath> datapath() {
    std::lock_guard lock(m_datapath_mutex);
    if (!m_datapath) {
      auto setting = m_desired ? m_desired->ovs_datapath : topology::OvsDatapath::automatic;
      m_datapath = choose_datapath(setting, *m_b.store, m_probe);
    }
    return *m_datapath;
  }

  Status create_bridge(const Action &action) {
    phase(action.node, Phase::creating);
    if (!m_b.ovs) {
      return fail("Open vSwitch is needed for bridge " + action.node);
    }
    LTB_TRY(path, datapath());
    state::NodeRecord record{m_plan.lab, action.node, "ovs-bridge", "",
                             "",         "",          action.name,  state::RecordStatus::creating};
    std::int64_t object_id = 0;
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      LTB_CHECK(m_b.store->put_node(record));
      LTB_TRY(id, record_object(state::ObjectType::bridge, action.name, action.node));
      object_id = id;
      return {};
    }));
    std::map<std::string, std::string> ids{{plan::k_ovs_lab, m_plan.lab},
                                           {plan::k_ovs_owner, action.node}};
    if (action.why != plan::Reason::new_object) {
      // A bridge half-made by a killed run (for example on a datapath that does not work here)
      // would satisfy --may-exist without working: start from nothing.
      if (auto removed = m_b.ovs->del_bridge(action.name); !removed) {
        return fail(with_context("bridge " + action.node, removed.error()));
      }
    }
    auto added = m_b.ovs->add_bridge(action.name, path, ids);
    if (!added && path == net::Datapath::system && m_probe &&
        added.error().message.find("datapath") != std::string::npos) {
      // No kernel datapath on this host (no openvswitch module): the userspace one works.
      {
        std::lock_guard lock(m_datapath_mutex);
        m_datapath = net::Datapath::netdev;
      }
      m_progress.notice("notice: Open vSwitch has no kernel datapath here; using the userspace "
                        "datapath (netdev). Set settings.ovs-datapath or LTB_OVS_DATAPATH to choose.");
      LTB_CHECK(m_b.store->set_meta("ovs.datapath", "netdev"));
      path = net::Datapath::netdev;
      added = m_b.ovs->add_bridge(action.name, path, ids);
    } else if (added && m_probe) {
      LTB_CHECK(m_b.store->set_meta("ovs.datapath",
                                    path == net::Datapath::system ? "system" : "netdev"));
    }
    if (!added) {
      return fail(with_context("bridge " + action.node + " (" + action.name + ")", added.error()));
    }
    record.status = state::RecordStatus::running;
    LTB_CHECK(m_b.store->put_node(record));
    return m_b.store->update_object(object_id, action.name, state::RecordStatus::created);
  }

  Status remove_bridge(const Action &action) {
    if (!action.node.empty()) {
      phase(action.node, Phase::removing);
    }
    if (!m_b.ovs) {
      return fail("Open vSwitch is needed to remove bridge " + action.name);
    }
    if (auto removed = m_b.ovs->del_bridge(action.name); !removed) {
      return fail(with_context("bridge " + action.node + " (" + action.name + ")", removed.error()));
    }
    if (!action.node.empty()) {
      LTB_CHECK(m_b.store->delete_node(m_plan.lab, action.node));
    }
    return forget_objects(state::ObjectType::bridge, {action.name});
  }

  // --- links ---------------------------------------------------------------------------------

  bool is_vm(const std::string &node) const {
    const auto *n = m_desired ? m_desired->find_node(node) : nullptr;
    return n && n->runtime == topology::Runtime::vm;
  }

  std::string runtime_id_of(const std::string &node) {
    const auto *n = m_desired ? m_desired->find_node(node) : nullptr;
    if (n && n->runtime == topology::Runtime::ovs_bridge) {
      return plan::bridge_name(m_plan.lab, node);
    }
    if (n && n->runtime == topology::Runtime::vm) {
      {
        std::lock_guard lock(m_mutex);
        if (auto it = m_vm_ids.find(node); it != m_vm_ids.end()) {
          return it->second;
        }
      }
      if (m_b.vms) {
        if (auto info = m_b.vms->info(plan::container_name(m_plan.lab, node))) {
          std::lock_guard lock(m_mutex);
          return m_vm_ids[node] = info->uuid;
        }
      }
      return {};
    }
    std::lock_guard lock(m_mutex);
    auto it = m_containers.find(node);
    return it == m_containers.end() ? std::string() : it->second.id;
  }

  state::LinkRecord link_record(const plan::PlannedLink &link, state::RecordStatus status) {
    const bool up = status == state::RecordStatus::up;
    return {m_plan.lab,
            link.key,
            link.name,
            link.a.node,
            link.a.iface,
            link.b.node,
            link.b.iface,
            up ? runtime_id_of(link.a.node) : "",
            up ? runtime_id_of(link.b.node) : "",
            status};
  }

  /// A link with a VM end: the VM's tap is joined to the other end's tap, or to the host end of a
  /// veth whose other end is in the container, by tc redirects.
  Status wire_vm_p2p(const plan::PlannedLink &link) {
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    auto tap_of = [&](const topology::Endpoint &end) {
      return plan::host_veth_name(m_plan.lab, link.key, end.node);
    };
    std::string left = tap_of(is_vm(link.a.node) ? link.a : link.b);
    const auto &other = is_vm(link.a.node) ? link.b : link.a;
    std::string right = tap_of(other);
    if (!is_vm(other.node)) {
      auto container = container_of(other.node);
      if (!container) {
        return context(container.error());
      }
      auto ns = m_b.host->netns_of_pid(container->pid);
      if (!ns) {
        return context(ns.error());
      }
      (void)m_b.netlink->delete_link(right);
      (void)m_b.netlink->delete_link(other.iface, ns->fd());
      auto created = m_b.netlink->create_veth({other.iface, ns->fd(), other.node},
                                              {right, -1, "host"}, link.mtu);
      if (!created) {
        return context(created.error());
      }
    }
    if (auto joined = m_b.host->redirect_pair(left, right); !joined) {
      return context(joined.error());
    }
    return m_b.store->put_link(link_record(link, state::RecordStatus::up));
  }

  Status wire_p2p(const Action &action) {
    const auto &link = m_plan.links.at(action.links.front());
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    LTB_CHECK(m_b.store->put_link(link_record(link, state::RecordStatus::creating)));
    if (is_vm(link.a.node) || is_vm(link.b.node)) {
      return wire_vm_p2p(link);
    }
    auto a = container_of(link.a.node);
    auto b = container_of(link.b.node);
    if (!a || !b) {
      return context(!a ? a.error() : b.error());
    }
    auto ns_a = m_b.host->netns_of_pid(a->pid);
    auto ns_b = m_b.host->netns_of_pid(b->pid);
    if (!ns_a || !ns_b) {
      return context(!ns_a ? ns_a.error() : ns_b.error());
    }
    if (action.why == plan::Reason::rewire) {
      // Leftovers of an interrupted run; errors mean there was nothing to remove.
      (void)m_b.netlink->delete_link(link.a.iface, ns_a->fd());
      (void)m_b.netlink->delete_link(link.b.iface, ns_b->fd());
    }
    auto created = m_b.netlink->create_veth({link.a.iface, ns_a->fd(), link.a.node},
                                            {link.b.iface, ns_b->fd(), link.b.node}, link.mtu);
    if (!created) {
      return context(created.error());
    }
    return m_b.store->put_link(link_record(link, state::RecordStatus::up));
  }

  Status wire_segment(const Action &action) {
    auto bridge = plan::bridge_name(m_plan.lab, action.node);
    auto host_of = [&](const plan::PlannedLink &link) {
      return plan::host_veth_name(m_plan.lab, link.key, link.container_end());
    };
    if (action.why == plan::Reason::rewire) {
      // Ports of an earlier wiring go first: removing a port after its new veth exists would take
      // the new interface down with it.
      std::vector<std::string> stale;
      for (const auto &key : action.links) {
        stale.push_back(host_of(m_plan.links.at(key)));
      }
      (void)m_b.ovs->del_ports(bridge, stale);
    }
    std::vector<net::OvsPort> ports;
    std::vector<std::string> errors;
    std::vector<const plan::PlannedLink *> wired;
    std::map<std::string, std::int64_t> objects;
    for (const auto &key : action.links) {
      const auto &link = m_plan.links.at(key);
      const auto &end = link.a.node == action.node ? link.b : link.a;
      auto host = host_of(link);
      LTB_CHECK(m_b.store->transaction([&]() -> Status {
        LTB_CHECK(m_b.store->put_link(link_record(link, state::RecordStatus::creating)));
        LTB_TRY(id, record_object(state::ObjectType::veth, host, key, bridge));
        objects[host] = id;
        return {};
      }));
      if (is_vm(end.node)) {
        // The domain's NIC is this tap (target dev); libvirt made it a port when the VM started,
        // and adding it again (may-exist) also restores it on a recreated bridge.
        ports.push_back({host, {{plan::k_ovs_lab, m_plan.lab}, {plan::k_ovs_owner, key}}});
        wired.push_back(&link);
        continue;
      }
      auto container = container_of(end.node);
      if (!container) {
        errors.push_back(fmt::format("link {}: {}", link.name, container.error().message));
        continue;
      }
      auto ns = m_b.host->netns_of_pid(container->pid);
      if (!ns) {
        errors.push_back(fmt::format("link {}: {}", link.name, ns.error().message));
        continue;
      }
      if (action.why == plan::Reason::rewire) {
        (void)m_b.netlink->delete_link(host);
        (void)m_b.netlink->delete_link(end.iface, ns->fd());
      }
      auto created = m_b.netlink->create_veth({end.iface, ns->fd(), end.node},
                                              {host, -1, action.node}, link.mtu);
      if (!created) {
        errors.push_back(fmt::format("link {}: {}", link.name, created.error().message));
        continue;
      }
      ports.push_back({host, {{plan::k_ovs_lab, m_plan.lab}, {plan::k_ovs_owner, key}}});
      wired.push_back(&link);
    }
    if (!ports.empty()) {
      if (auto added = m_b.ovs->add_ports(bridge, ports); !added) {
        return fail(with_context("bridge " + action.node, added.error()));
      }
    }
    // link_record() takes the runner's lock: made before the store transaction (lock order).
    std::vector<state::LinkRecord> records;
    for (const auto *link : wired) {
      records.push_back(link_record(*link, state::RecordStatus::up));
    }
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      for (std::size_t i = 0; i < wired.size(); ++i) {
        const auto *link = wired[i];
        LTB_CHECK(m_b.store->put_link(records[i]));
        auto host = host_of(*link);
        LTB_CHECK(m_b.store->update_object(objects[host], host, state::RecordStatus::created));
      }
      return {};
    }));
    if (!errors.empty()) {
      std::string message = errors.front();
      for (std::size_t i = 1; i < errors.size(); ++i) {
        message += "; " + errors[i];
      }
      return fail(message);
    }
    return {};
  }

  Status unwire_p2p(const Action &action) {
    const auto &link = m_plan.links.at(action.links.front());
    for (const auto *end : {&link.a, &link.b}) {
      auto container = container_of(end->node);
      if (!container) {
        continue; // gone with its container
      }
      if (auto ns = m_b.host->netns_of_pid(container->pid)) {
        if (m_b.netlink->delete_link(end->iface, ns->fd())) {
          break; // the peer goes with it
        }
      }
    }
    return m_b.store->delete_link(m_plan.lab, link.key);
  }

  Status unwire_segment(const Action &action) {
    auto bridge = plan::bridge_name(m_plan.lab, action.node);
    std::vector<std::string> hosts;
    for (const auto &key : action.links) {
      const auto &link = m_plan.links.at(key);
      hosts.push_back(plan::host_veth_name(m_plan.lab, key, link.container_end()));
    }
    if (m_b.ovs) {
      (void)m_b.ovs->del_ports(bridge, hosts); // the bridge may be gone already
    }
    for (const auto &host : hosts) {
      if (auto deleted = m_b.netlink->delete_link(host); !deleted) {
        return fail(with_context("bridge " + action.node, deleted.error()));
      }
    }
    LTB_CHECK(forget_objects(state::ObjectType::veth, {hosts.begin(), hosts.end()}));
    for (const auto &key : action.links) {
      LTB_CHECK(m_b.store->delete_link(m_plan.lab, key));
    }
    return {};
  }

  Status run_exec(const Action &action) {
    const auto *node = m_desired->find_node(action.node);
    phase(action.node, Phase::configuring);
    LTB_TRY(container, container_of(action.node));
    for (const auto &command : node->exec) {
      auto result = m_b.docker->exec(container.id, {"sh", "-c", command});
      if (!result) {
        return fail(with_context(fmt::format("node {}: exec `{}`", action.node, command),
                                 result.error()));
      }
      if (result->exit_code != 0) {
        auto output = result->err.empty() ? result->out : result->err;
        while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) {
          output.pop_back();
        }
        if (action.why != plan::Reason::node_created) {
          // A re-run for rewired links: commands for untouched interfaces may fail as "exists".
          m_progress.notice(fmt::format("notice: node {}: exec `{}` exited with status {} on a "
                                        "re-run for rewired links (ignored){}{}",
                                        action.node, command, result->exit_code,
                                        output.empty() ? "" : ": ", output));
          continue;
        }
        return fail(fmt::format("node {}: exec `{}` exited with status {}{}{}", action.node,
                                command, result->exit_code, output.empty() ? "" : ": ", output),
                    "fix the command in the topology file's exec list, then run `ltb up` again");
      }
    }
    return {};
  }

  // --- VMs ----------------------------------------------------------------------------------

  /// A stable locally administered MAC for NIC `index` of a node (QEMU's 52:54:00 prefix).
  std::string mac_of(const std::string &node, int index) const {
    return plan::vm_mac(m_plan.lab, node, index);
  }

  Result<std::string> accel_for(const topology::Node &node) {
    if (node.accel != topology::Accel::automatic) {
      return node.accel == topology::Accel::kvm ? "kvm" : "qemu";
    }
    std::lock_guard lock(m_accel_mutex);
    if (!m_auto_accel) {
      bool probed = false;
      LTB_TRY(accel, choose_accel(node, *m_b.vms, *m_b.store, m_options.lab_dir, probed));
      if (probed) {
        m_progress.notice(accel == "kvm"
                              ? "notice: KVM works here; VMs use it (accel: auto)"
                              : "notice: KVM is missing or guests do not boot under it here; VMs "
                                "use software emulation (qemu). Set accel or LTB_VM_ACCEL to choose.");
      }
      m_auto_accel = accel;
    }
    return *m_auto_accel;
  }

  Status create_vm(const Action &action) {
    const auto *node = m_desired->find_node(action.node);
    auto context = [&](Error e) { return fail(with_context("VM " + action.node, std::move(e))); };
    if (!m_b.vms) {
      return fail(fmt::format("VM {}: libvirt is not connected", action.node),
                  "start it: virtlogd -d && libvirtd -d (or make setup)");
    }
    phase(action.node, Phase::creating);
    auto accel = accel_for(*node);
    if (!accel) {
      return context(accel.error());
    }
    auto address = m_plan.addresses.at(node->name);
    state::NodeRecord record{m_plan.lab,
                             node->name,
                             node->kind,
                             node->image,
                             plan::vm_config_hash(*m_desired, *node),
                             address,
                             "",
                             state::RecordStatus::creating};
    std::int64_t object_id = 0;
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      LTB_CHECK(m_b.store->put_node(record));
      LTB_TRY(id, record_object(state::ObjectType::domain, action.name, node->name));
      object_id = id;
      return {};
    }));
    auto dir = fs::path(m_options.lab_dir) / node->name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    runtime::VmSpec spec;
    spec.name = action.name;
    spec.accel = *accel;
    spec.vcpus = node->cpus > 0 ? static_cast<int>(node->cpus + 0.999) : 1;
    spec.memory_mib = node->memory_bytes > 0 ? node->memory_bytes / (1024 * 1024) : 256;
    if (!node->image.empty()) {
      spec.disk = (dir / "disk.qcow2").string();
      auto size = node->disk_size_bytes > 0 ? std::to_string(node->disk_size_bytes) : std::string();
      if (auto made = m_b.overlays->create(node->image, spec.disk, size); !made) {
        return context(made.error());
      }
    }
    spec.kernel = node->kernel;
    spec.initrd = node->initrd;
    auto subnet = util::parse_subnet(m_plan.subnet, false);
    // The management address goes on the command line too (the DHCP reservation has it as
    // well), unless the node's own command line says how to get it (e.g. ltb.mgmt=dhcp).
    spec.cmdline = node->cmdline;
    if (node->cmdline.find("ltb.mgmt=") == std::string::npos) {
      spec.cmdline += fmt::format("{}ltb.mgmt={}/{}", spec.cmdline.empty() ? "" : " ", address,
                                  subnet ? subnet->prefix : 24);
    }
    spec.cmdline += fmt::format("{}ltb.hostname={}", spec.cmdline.empty() ? "" : " ", node->name);
    if (m_desired->mgmt.external_access) {
      spec.cmdline += " ltb.gw=" + m_plan.gateway;
    }
    spec.cmdline += access::vm_key_parameter(m_options.lab_dir); // the ltb-vm image installs it
    spec.nics.push_back({"bridge", plan::mgmt_bridge_name(m_plan.lab), mac_of(node->name, 0),
                         "", node->nic_model});
    int index = 1;
    for (const auto &[iface, link] : plan::vm_interfaces(*m_desired, node->name)) {
      const auto &peer = link->a.node == node->name ? link->b.node : link->a.node;
      const auto *peer_node = m_desired->find_node(peer);
      auto tap = plan::host_veth_name(m_plan.lab, topology::link_key(*link), node->name);
      if (peer_node && peer_node->runtime == topology::Runtime::ovs_bridge) {
        spec.nics.push_back({"ovs", plan::bridge_name(m_plan.lab, peer), mac_of(node->name, index),
                             tap, node->nic_model});
      } else {
        if (auto made = m_b.host->create_tap(tap); !made) {
          return context(made.error());
        }
        spec.nics.push_back({"ethernet", tap, mac_of(node->name, index), "", node->nic_model});
      }
      ++index;
    }
    spec.metadata = {{plan::k_label_lab, m_plan.lab},
                     {plan::k_label_node, node->name},
                     {plan::k_label_owner, m_options.owner},
                     {plan::k_label_hash, record.config_hash},
                     {plan::k_label_accel, *accel}};
    spec.serial_log = (dir / "console.log").string();
    auto created = m_b.vms->create(spec);
    if (!created) {
      return context(created.error());
    }
    {
      std::lock_guard lock(m_mutex);
      m_vm_ids[node->name] = created->uuid;
    }
    record.runtime_id = created->uuid;
    // settled() takes the runner's lock: never inside a store transaction, whose lock finished()
    // takes while holding the runner's (lock order: runner, then store).
    settled(record);
    LTB_CHECK(m_b.store->transaction([&]() -> Status {
      LTB_CHECK(m_b.store->put_node(record));
      return m_b.store->update_object(object_id, created->uuid, state::RecordStatus::created);
    }));
    if (record.status != state::RecordStatus::running) {
      phase(node->name, Phase::wiring);
    }
    return {};
  }

  Status remove_vm(const Action &action) {
    if (!action.node.empty()) {
      phase(action.node, Phase::removing);
    }
    if (!m_b.vms) {
      return fail(fmt::format("VM {}: libvirt is not connected", action.node),
                  "start it: virtlogd -d && libvirtd -d (or make setup)");
    }
    if (auto destroyed = m_b.vms->destroy(action.name); !destroyed) {
      return fail(with_context("VM " + action.node, destroyed.error()));
    }
    for (const auto &key : action.links) {
      (void)m_b.netlink->delete_link(plan::host_veth_name(m_plan.lab, key, action.node));
    }
    auto disk = fs::path(m_options.lab_dir) / action.node / "disk.qcow2";
    LTB_CHECK(m_b.overlays->remove(disk.string()));
    if (!action.node.empty()) {
      LTB_CHECK(m_b.store->delete_node(m_plan.lab, action.node));
    }
    return forget_objects(state::ObjectType::domain, {action.name});
  }

  Status configure_dhcp(const Action &action) {
    LTB_TRY(objects, m_b.store->objects(m_plan.lab));
    bool recorded = std::any_of(objects.begin(), objects.end(), [](const auto &object) {
      return object.type == state::ObjectType::dhcp;
    });
    if (!recorded) {
      LTB_CHECK(record_object(state::ObjectType::dhcp, "dnsmasq", "", action.name));
    }
    if (action.why == plan::Reason::network_recreated) {
      LTB_CHECK(m_b.dhcp->stop(m_options.lab_dir)); // its range may have changed
    }
    net::DhcpServerSpec spec{m_options.lab_dir, action.name, m_plan.subnet,
                             m_desired->mgmt.external_access ? m_plan.gateway : std::string(),
                             m_plan.dhcp_hosts};
    if (auto applied = m_b.dhcp->apply(spec); !applied) {
      return fail(with_context("lab " + m_plan.lab, applied.error()));
    }
    auto pid = m_b.dhcp->state(m_options.lab_dir).pid;
    LTB_TRY(now, m_b.store->objects(m_plan.lab));
    for (const auto &object : now) {
      if (object.type == state::ObjectType::dhcp) {
        LTB_CHECK(
            m_b.store->update_object(object.id, std::to_string(pid), state::RecordStatus::created));
      }
    }
    return {};
  }

  Status remove_dhcp(const Action &) {
    LTB_CHECK(m_b.dhcp->stop(m_options.lab_dir));
    return forget_objects(state::ObjectType::dhcp, {"dnsmasq"});
  }

  Status remove_host_link(const Action &action) {
    if (auto deleted = m_b.netlink->delete_link(action.name); !deleted) {
      return fail(with_context("host interface " + action.name, deleted.error()));
    }
    return forget_objects(state::ObjectType::veth, {action.name});
  }

  const plan::Plan &m_plan;
  const topology::Topology *m_desired;
  Backends &m_b;
  Progress &m_progress;
  const ApplyOptions &m_options;
  std::mutex m_mutex;
  std::map<std::string, int> m_pending;
  std::set<std::string> m_failed;
  std::map<std::string, ContainerRef> m_containers;
  std::map<std::string, state::NodeRecord> m_unsettled; // created, links or exec still to come
  std::map<std::string, std::string> m_vm_ids; // node -> domain uuid
  std::mutex m_accel_mutex;
  std::optional<std::string> m_auto_accel;
  std::map<std::string, std::shared_future<Status>> m_images;
  std::mutex m_datapath_mutex;
  std::optional<net::Datapath> m_datapath;
  bool m_probe = false;
};

} // namespace

Result<std::string> choose_accel(const topology::Node &node, runtime::VmRuntime &vms,
                                 state::Store &store, const std::string &probe_dir, bool &probed) {
  probed = false;
  if (const char *env = std::getenv("LTB_VM_ACCEL"); env && *env) {
    std::string value = env;
    if (value == "kvm" || value == "qemu") {
      return value;
    }
  }
  if (auto known = store.meta("vm.accel"); known && *known) {
    return **known;
  }
  probed = true;
  LTB_TRY(kvm, vms.kvm_usable());
  std::string accel = "qemu";
  if (kvm && !node.kernel.empty()) {
    // /dev/kvm can open while guests hang early in boot (nested virtualisation): start the
    // node's kernel under KVM and wait (10 s) for it to reach its init.
    std::error_code ec;
    std::filesystem::create_directories(probe_dir, ec);
    runtime::VmSpec spec;
    spec.name = fmt::format("ltb-kvm-probe-{}", ::getpid());
    spec.accel = "kvm";
    spec.kernel = node.kernel;
    spec.initrd = node.initrd;
    spec.cmdline = "console=ttyS0 panic=-1";
    spec.serial_log = probe_dir + "/kvm-probe.log";
    std::filesystem::remove(spec.serial_log, ec);
    if (vms.create(spec)) {
      for (int i = 0; i < 50 && accel == "qemu"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::ifstream log(spec.serial_log);
        std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
        // "Run /init" comes after the kernel has set itself up: a guest that hangs early in
        // boot under nested KVM never gets there.
        if (text.find("Run /init") != std::string::npos) {
          accel = "kvm";
        }
      }
      (void)vms.destroy(spec.name);
    }
    std::filesystem::remove(spec.serial_log, ec);
  }
  LTB_CHECK(store.set_meta("vm.accel", accel));
  return accel;
}

net::Datapath choose_datapath(topology::OvsDatapath setting, state::Store &store, bool &probe) {
  probe = false;
  if (setting == topology::OvsDatapath::system) {
    return net::Datapath::system;
  }
  if (setting == topology::OvsDatapath::netdev) {
    return net::Datapath::netdev;
  }
  if (const char *env = std::getenv("LTB_OVS_DATAPATH"); env && *env) {
    std::string value = env;
    if (value == "system") {
      return net::Datapath::system;
    }
    if (value == "netdev") {
      return net::Datapath::netdev;
    }
  }
  if (auto known = store.meta("ovs.datapath"); known && *known) {
    return **known == "netdev" ? net::Datapath::netdev : net::Datapath::system;
  }
  probe = true;
  return net::Datapath::system;
}

Status apply_network_first(const plan::Plan &plan, const topology::Topology &desired,
                           Backends &backends, const ApplyOptions &options) {
  auto lab = lab_record(plan, desired, *backends.store, options.owner);
  auto recorded = backends.store->lab(plan.lab);
  const std::string old_subnet = recorded && *recorded ? (*recorded)->mgmt_subnet : std::string();
  LTB_CHECK(backends.store->put_lab(lab));
  auto made = make_network(plan, &desired, backends, options.owner);
  if (!made) {
    // The subnet tried is not the lab's: the next run chooses again (another process holds it).
    lab.mgmt_subnet = old_subnet;
    lab.status = state::RecordStatus::failed;
    (void)backends.store->put_lab(lab);
  }
  return made;
}

ApplyReport apply_up(const plan::Plan &plan, const topology::Topology &desired, Backends &backends,
                     Progress &progress, const ApplyOptions &options) {
  auto lab = lab_record(plan, desired, *backends.store, options.owner);
  ApplyReport report;
  if (auto put = backends.store->put_lab(lab); !put) {
    report.failed = 1;
    report.actions.push_back({"record lab " + plan.lab, {Outcome::failed, put.error().message, 0}});
    return report;
  }
  Runner runner(plan, &desired, backends, progress, options);
  report = runner.run();
  lab.status = report.ok() ? state::RecordStatus::running : state::RecordStatus::failed;
  if (auto put = backends.store->put_lab(lab); !put) {
    report.failed += 1;
    report.actions.push_back({"record lab " + plan.lab, {Outcome::failed, put.error().message, 0}});
  }
  return report;
}

ApplyReport apply_down(const plan::Plan &plan, Backends &backends, Progress &progress,
                       const ApplyOptions &options) {
  auto existing = backends.store->lab(plan.lab);
  if (existing && *existing) {
    auto lab = **existing;
    lab.status = state::RecordStatus::removing;
    (void)backends.store->put_lab(lab);
  }
  Runner runner(plan, nullptr, backends, progress, options);
  auto report = runner.run();
  if (report.ok()) {
    if (auto deleted = backends.store->delete_lab(plan.lab); !deleted) {
      report.failed += 1;
      report.actions.push_back(
          {"forget lab " + plan.lab, {Outcome::failed, deleted.error().message, 0}});
    }
    std::error_code ec;
    if (!options.lab_dir.empty()) {
      std::filesystem::remove_all(options.lab_dir, ec);
    }
  } else if (existing && *existing) {
    auto lab = **existing;
    lab.status = state::RecordStatus::failed;
    (void)backends.store->put_lab(lab);
  }
  return report;
}

} // namespace ltb::apply
