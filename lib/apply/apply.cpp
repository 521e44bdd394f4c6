#include "apply/apply.hpp"

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"
#include "util/fault.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <thread>
#include <unistd.h>

namespace ltb::apply {

namespace {

using plan::Action;
using plan::ActionKind;

/// The runtime whose driver performs a node action.
topology::Runtime runtime_of(ActionKind kind) {
  switch (kind) {
  case ActionKind::create_vm:
  case ActionKind::remove_vm:
    return topology::Runtime::vm;
  case ActionKind::create_bridge:
  case ActionKind::remove_bridge:
    return topology::Runtime::ovs_bridge;
  default:
    return topology::Runtime::container;
  }
}

/// Nodes whose progress line an action moves.
std::vector<std::string> nodes_of(const plan::Plan &plan, const Action &action) {
  switch (action.kind) {
  case ActionKind::create_node:
  case ActionKind::remove_node:
  case ActionKind::create_vm:
  case ActionKind::remove_vm:
  case ActionKind::create_bridge:
  case ActionKind::remove_bridge:
  case ActionKind::run_exec:
  case ActionKind::stop_node:
  case ActionKind::start_node:
    return action.node.empty() ? std::vector<std::string>{} : std::vector<std::string>{action.node};
  case ActionKind::wire_links: {
    std::set<std::string> nodes;
    for (const auto &key : action.links) {
      const auto &link = plan.links.at(key);
      nodes.insert(link.a.node);
      nodes.insert(link.b.node);
    }
    return {nodes.begin(), nodes.end()};
  }
  default:
    return {};
  }
}

std::map<std::string, int> pending_of(const plan::Plan &plan) {
  std::map<std::string, int> pending;
  for (const auto &action : plan.actions) {
    for (const auto &node : nodes_of(plan, action)) {
      ++pending[node];
    }
  }
  return pending;
}

/// The lab as apply_up records it before anything is made.
state::LabRecord lab_record(const plan::Plan &plan, const topology::Topology &desired,
                            state::Store &store, const std::string &owner) {
  auto existing = store.lab(plan.lab);
  return deploying_lab(existing ? *existing : std::nullopt, plan, desired, owner);
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
  spec.subnet6 = plan.subnet6;
  spec.gateway6 = plan.gateway6;
  spec.internal = !(desired && desired->mgmt.external_access);
  spec.bridge_name = plan::mgmt_bridge_name(plan.lab);
  spec.labels = {{plan::k_label_lab, plan.lab}, {plan::k_label_owner, owner}};
  auto network = backends.docker->create_network(spec);
  if (!network) {
    // A killed ltb's create that Docker finished after this run's planner looked: the network is
    // there with the lab's label and subnet, and is the lab's.
    if (auto listed = backends.docker->list_networks({{plan::k_label_lab, plan.lab}}); listed) {
      for (const auto &existing : *listed) {
        if (existing.name == plan.network && existing.subnet == plan.subnet) {
          return backends.store->update_object(id, existing.id, state::RecordStatus::created);
        }
      }
    }
    (void)backends.store->delete_object(id);
    return fail(with_context(fmt::format("management network {} ({})", plan.network, plan.subnet),
                             network.error()));
  }
  return backends.store->update_object(id, *network, state::RecordStatus::created);
}

/// The detail of the record of a management network that ltb joined and did not make.
constexpr const char *k_external_network = "external";

/// Records the network the lab joined (Plan::network_external), so that the state file says it
/// is not ltb's; forgets such a record once the lab has a network of its own again. ltb never
/// removes an external network: `ltb down` removes only networks that carry the lab's label.
Status record_external_network(const plan::Plan &plan, state::Store &store) {
  LTB_TRY(objects, store.objects(plan.lab));
  bool recorded = false;
  for (const auto &object : objects) {
    if (object.type != state::ObjectType::network || object.detail != k_external_network) {
      continue;
    }
    if (plan.network_external && object.name == plan.network &&
        object.runtime_id == plan.network_id) {
      recorded = true;
    } else {
      LTB_CHECK(store.delete_object(object.id));
    }
  }
  if (!plan.network_external || recorded) {
    return {};
  }
  state::ObjectRecord object{0,
                             plan.lab,
                             state::ObjectType::network,
                             plan.network,
                             "",
                             plan.network_id,
                             "",
                             state::RecordStatus::created};
  object.detail = k_external_network;
  LTB_TRY(id, store.add_object(object));
  (void)id;
  return {};
}

/// Runs a plan: dispatches each action to its node or link driver (lab-wide actions, the
/// management network and the DHCP server, are its own), records progress and settles nodes.
/// Its only lock is the Book's, a leaf (see drivers/driver.hpp).
class Runner {
public:
  Runner(const plan::Plan &plan, const topology::Topology *desired, Backends &backends,
         Progress &progress, const ApplyOptions &options)
      : m_run{plan, desired, backends, progress, options, Book(pending_of(plan))} {}

  ApplyReport run() {
    prepare();
    const auto &plan = m_run.plan;
    std::vector<std::vector<std::size_t>> deps;
    for (const auto &action : plan.actions) {
      deps.push_back(action.deps);
    }
    auto results = execute(
        deps,
        [this](std::size_t i) {
          auto status = perform(m_run.plan.actions[i]);
          util::fault::point("action");
          return status;
        },
        m_run.options.workers, m_run.options.interrupted,
        [this](std::size_t i, const TaskResult &result) {
          finished(m_run.plan.actions[i], result);
          util::fault::point("action-recorded");
        });
    ApplyReport report;
    for (std::size_t i = 0; i < results.size(); ++i) {
      report.actions.push_back({plan::describe(plan.actions[i], plan), results[i]});
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
    report.interrupted = m_run.options.interrupted && m_run.options.interrupted->load();
    return report;
  }

private:
  /// What is chosen once per run is chosen before any action starts: the recorded runtimes of
  /// nodes gone from the file, the OVS datapath, the VM accelerator (probing KVM if need be).
  void prepare() {
    auto &run = m_run;
    if (auto nodes = run.b.store->nodes(run.plan.lab)) {
      for (const auto &node : *nodes) {
        if (auto runtime = recorded_runtime(node)) {
          run.recorded_runtimes[node.name] = *runtime;
        }
      }
    }
    bool bridges = false;
    const topology::Node *probe_node = nullptr;
    for (const auto &action : run.plan.actions) {
      bridges = bridges || (action.kind == ActionKind::create_bridge &&
                            run.runtime_of(action.node) == topology::Runtime::ovs_bridge);
      const auto *node = action.kind == ActionKind::create_vm ? run.node(action.node) : nullptr;
      if (!probe_node && node && node->accel == topology::Accel::automatic) {
        probe_node = node;
      }
    }
    if (bridges) {
      auto setting = run.desired ? run.desired->ovs_datapath : topology::OvsDatapath::automatic;
      bool probe = false;
      run.datapath = choose_datapath(setting, *run.b.store, probe);
      run.probe_datapath = probe;
    }
    if (probe_node && run.b.vms) {
      bool probed = false;
      run.auto_accel =
          choose_accel(*probe_node, *run.b.vms, *run.b.store, run.options.lab_dir, probed);
      if (*run.auto_accel && probed) {
        run.progress.notice(**run.auto_accel == "kvm"
                                ? "notice: KVM works here; VMs use it (accel: auto)"
                                : "notice: KVM is missing or guests do not boot under it here; VMs "
                                  "use software emulation (qemu). Set accel or LTB_VM_ACCEL to "
                                  "choose.");
      }
    }
  }

  /// Called by the executor when an action has finished, failed or was skipped. The Book counts
  /// down under its lock; records are written and progress reported after it is released.
  void finished(const Action &action, const TaskResult &result) {
    auto &run = m_run;
    if (run.options.on_action) {
      run.options.on_action(action, result);
    }
    auto detail =
        result.outcome == Outcome::skipped ? "skipped (" + result.error + ")" : result.error;
    for (const auto &ended :
         run.book.end(nodes_of(run.plan, action), result.outcome == Outcome::done, detail)) {
      if (ended.failed_now) {
        run.progress.node(ended.node, Phase::failed, ended.detail);
      }
      if (!ended.last) {
        continue;
      }
      if (ended.settle) {
        if (auto put = run.b.store->put_node(*ended.settle); !put) {
          if (run.book.mark_failed(ended.node)) {
            run.progress.node(ended.node, Phase::failed, put.error().message);
          }
          continue;
        }
      }
      run.progress.node(ended.node, run.plan.teardown                      ? Phase::removed
                                    : action.kind == ActionKind::stop_node ? Phase::stopped
                                                                           : Phase::running);
    }
  }

  /// A bridge action's runtime is its node's (an OVS or a Linux bridge); the others' by kind.
  topology::Runtime runtime_of(const Action &action) const {
    const auto node = m_run.runtime_of(action.node);
    if (action.kind == ActionKind::create_bridge || action.kind == ActionKind::remove_bridge) {
      if (node == topology::Runtime::linux_bridge) {
        return topology::Runtime::linux_bridge;
      }
    }
    if (action.kind == ActionKind::create_node || action.kind == ActionKind::remove_node) {
      if (node == topology::Runtime::external) {
        return topology::Runtime::external; // an ext-container: recorded, never made or removed
      }
    }
    return apply::runtime_of(action.kind);
  }

  Status perform(const Action &action) {
    auto &run = m_run;
    switch (action.kind) {
    case ActionKind::create_network:
      return create_network(action);
    case ActionKind::remove_network:
      return remove_network(action);
    case ActionKind::create_node:
    case ActionKind::create_vm:
    case ActionKind::create_bridge:
      return node_driver(runtime_of(action)).create(run, action);
    case ActionKind::remove_node:
    case ActionKind::remove_vm:
    case ActionKind::remove_bridge:
      return node_driver(runtime_of(action)).remove(run, action);
    case ActionKind::run_exec:
      return node_driver(run.runtime_of(action.node).value_or(topology::Runtime::container))
          .configure(run, action);
    case ActionKind::wire_links:
      return link_driver(link_type(run, action)).create(run, action);
    case ActionKind::unwire_links:
      return link_driver(link_type(run, action)).remove(run, action);
    case ActionKind::remove_host_link:
      return remove_host_link(action);
    case ActionKind::configure_dhcp:
      return configure_dhcp(action);
    case ActionKind::remove_dhcp:
      return remove_dhcp(action);
    case ActionKind::publish_ports:
      return publish_ports();
    case ActionKind::remove_ports:
      return remove_ports();
    case ActionKind::configure_firewall:
      return configure_firewall();
    case ActionKind::remove_firewall:
      return remove_firewall();
    case ActionKind::resume_relay:
      return resume_relay();
    case ActionKind::remove_relay:
      return remove_relay();
    case ActionKind::stop_node:
      return node_driver(run.runtime_of(action.node).value_or(topology::Runtime::container))
          .stop(run, action);
    case ActionKind::start_node:
      return node_driver(run.runtime_of(action.node).value_or(topology::Runtime::container))
          .start(run, action);
    case ActionKind::remove_netns:
      return remove_netns(action);
    case ActionKind::set_impairment:
      return link_driver(link_type(run, action))
          .configure(run, run.plan.links.at(action.links.front()));
    }
    return {};
  }

  // --- the lab's own objects -------------------------------------------------------------------

  Status create_network(const Action &) {
    return make_network(m_run.plan, m_run.desired, m_run.b, m_run.options.owner);
  }

  /// Removes the network only when it carries the lab's label (ltb made it for this lab), by
  /// id; any other network of that name is not ltb's to remove, and only the record goes.
  Status remove_network(const Action &action) {
    LTB_TRY(mine, m_run.b.docker->list_networks({{plan::k_label_lab, m_run.plan.lab}}));
    for (const auto &network : mine) {
      if (network.name != action.name) {
        continue;
      }
      auto removed = m_run.b.docker->remove_network(network.id);
      if (!removed) {
        return fail(with_context("management network " + action.name, removed.error()));
      }
    }
    return m_run.forget_objects(state::ObjectType::network, {action.name});
  }

  Status configure_dhcp(const Action &action) {
    LTB_TRY(objects, m_run.b.store->objects(m_run.plan.lab));
    bool recorded = std::any_of(objects.begin(), objects.end(), [](const auto &object) {
      return object.type == state::ObjectType::dhcp;
    });
    if (!recorded) {
      LTB_CHECK(m_run.record_object(state::ObjectType::dhcp, "dnsmasq", "", action.name));
    }
    if (action.why == plan::Reason::network_recreated) {
      LTB_CHECK(m_run.b.dhcp->stop(m_run.options.lab_dir)); // its range may have changed
    }
    net::DhcpServerSpec spec{m_run.options.lab_dir, action.name, m_run.plan.subnet,
                             m_run.desired->mgmt.external_access ? m_run.plan.gateway
                                                                 : std::string(),
                             m_run.plan.dhcp_hosts};
    if (auto applied = m_run.b.dhcp->apply(spec); !applied) {
      return fail(with_context("lab " + m_run.plan.lab, applied.error()));
    }
    auto pid = m_run.b.dhcp->state(m_run.options.lab_dir).pid;
    LTB_TRY(now, m_run.b.store->objects(m_run.plan.lab));
    for (const auto &object : now) {
      if (object.type == state::ObjectType::dhcp) {
        LTB_CHECK(m_run.b.store->update_object(object.id, std::to_string(pid),
                                               state::RecordStatus::created));
      }
    }
    return {};
  }

  Status remove_dhcp(const Action &) {
    LTB_CHECK(m_run.b.dhcp->stop(m_run.options.lab_dir));
    return m_run.forget_objects(state::ObjectType::dhcp, {"dnsmasq"});
  }

  /// Recorded before any proxy starts (a crash in between leaves a trace for `ltb down`), then
  /// with how many of them run.
  Status publish_ports() {
    const auto &dir = m_run.options.lab_dir;
    if (dir.empty()) {
      return fail("publishing ports needs the lab's directory");
    }
    LTB_TRY(objects, m_run.b.store->objects(m_run.plan.lab));
    bool recorded = std::any_of(objects.begin(), objects.end(), [](const auto &object) {
      return object.type == state::ObjectType::port_proxy;
    });
    if (!recorded) {
      LTB_CHECK(m_run.record_object(state::ObjectType::port_proxy, "docker-proxy", ""));
    }
    auto applied = m_run.b.ports->apply(dir, m_run.plan.published_ports);
    // What runs now, even after a failure (the proxies started before it stay, recorded).
    auto running = m_run.b.ports->state(dir);
    const auto how_many =
        std::to_string(std::count(running.running.begin(), running.running.end(), '\n'));
    LTB_TRY(now, m_run.b.store->objects(m_run.plan.lab));
    for (const auto &object : now) {
      if (object.type == state::ObjectType::port_proxy) {
        LTB_CHECK(
            m_run.b.store->update_object(object.id, how_many, state::RecordStatus::created));
      }
    }
    if (!applied) {
      return fail(with_context("lab " + m_run.plan.lab, applied.error()));
    }
    return {};
  }

  Status remove_ports() {
    if (!m_run.options.lab_dir.empty()) {
      LTB_CHECK(m_run.b.ports->stop(m_run.options.lab_dir));
    }
    return m_run.forget_objects(state::ObjectType::port_proxy, {"docker-proxy"});
  }

  /// Recorded before it is made (a crash in between leaves a trace for `ltb down`); a failure
  /// leaves none of the lab's rules (HostFirewall::apply), and the record goes again.
  Status configure_firewall() {
    auto &run = m_run;
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    bool recorded = std::any_of(objects.begin(), objects.end(), [](const auto &object) {
      return object.type == state::ObjectType::firewall;
    });
    if (!recorded) {
      LTB_CHECK(run.record_object(state::ObjectType::firewall, "firewall", "",
                                  run.plan.firewall.interface));
    }
    const net::HostFirewallSpec spec{run.plan.lab, run.plan.firewall.interface,
                                     run.plan.firewall.dhcp, run.plan.firewall.links};
    if (auto applied = run.b.firewall->apply(spec); !applied) {
      (void)run.forget_objects(state::ObjectType::firewall, {"firewall"});
      return fail(applied.error().message,
                  applied.error().help.empty()
                      ? "the lab's nodes were not made; fix the cause and run `ltb up` again"
                      : applied.error().help);
    }
    LTB_TRY(now, run.b.store->objects(run.plan.lab));
    for (const auto &object : now) {
      if (object.type == state::ObjectType::firewall) {
        LTB_CHECK(run.b.store->update_object(object.id, run.plan.firewall.interface,
                                             state::RecordStatus::created));
      }
    }
    return {};
  }

  Status remove_firewall() {
    LTB_CHECK(m_run.b.firewall->remove(m_run.plan.lab));
    return m_run.forget_objects(state::ObjectType::firewall, {"firewall"});
  }

  Status resume_relay() {
    if (auto resumed = m_run.b.relay->resume(m_run.options.lab_dir); !resumed) {
      return fail(with_context("lab " + m_run.plan.lab, resumed.error()));
    }
    return record_relay(m_run);
  }

  Status remove_relay() {
    LTB_CHECK(m_run.b.relay->stop(m_run.options.lab_dir));
    return m_run.forget_objects(state::ObjectType::relay, {"relay"});
  }

  /// A kept (or an older ltb's parking) namespace goes with whatever is still parked in it.
  Status remove_netns(const Action &action) {
    if (auto deleted = m_run.b.host->delete_netns(action.name); !deleted) {
      return fail(with_context("network namespace " + action.name, deleted.error()));
    }
    LTB_TRY(objects, m_run.b.store->objects(m_run.plan.lab));
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::parked) {
        LTB_CHECK(m_run.b.store->delete_object(object.id));
      }
    }
    return m_run.forget_objects(state::ObjectType::netns, {action.name});
  }

  Status remove_host_link(const Action &action) {
    // A host or bridge link's end is named by the file, not by ltb's prefix: it goes only while
    // it is still a veth (another program may have taken the name since its container went).
    const auto &lab = m_run.plan.lab;
    const bool prefixed = action.name.rfind(plan::veth_prefix(lab), 0) == 0 ||
                          action.name.rfind(plan::bridge_prefix(lab), 0) == 0;
    auto kind = prefixed ? Result<std::string>(std::string("veth"))
                         : m_run.b.netlink->link_kind(action.name);
    if (kind && *kind == "veth") {
      if (auto deleted = m_run.b.netlink->delete_link(action.name); !deleted) {
        return fail(with_context("host interface " + action.name, deleted.error()));
      }
    }
    LTB_CHECK(m_run.forget_objects(state::ObjectType::host_end, {action.name}));
    return m_run.forget_objects(state::ObjectType::veth, {action.name});
  }

  Run m_run;
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

ApplyReport apply_link_settings(const plan::Plan &plan, Backends &backends, Progress &progress,
                                const ApplyOptions &options) {
  return Runner(plan, nullptr, backends, progress, options).run();
}

Result<bool> choose_relay_mode(topology::ImpairmentPath setting, net::Tc &tc,
                               const std::vector<state::LinkRecord> &links, bool &fell_back) {
  fell_back = false;
  if (setting == topology::ImpairmentPath::automatic) {
    if (const char *env = std::getenv("LTB_IMPAIRMENTS"); env && *env) {
      const std::string value = env;
      if (value == "kernel") {
        setting = topology::ImpairmentPath::kernel;
      } else if (value == "relay") {
        setting = topology::ImpairmentPath::relay;
      } else if (value != "auto") {
        return fail(fmt::format("LTB_IMPAIRMENTS is '{}'", value),
                    "set it to auto, kernel or relay, or unset it", ExitCode::usage);
      }
    }
  }
  if (setting != topology::ImpairmentPath::automatic) {
    return setting == topology::ImpairmentPath::relay;
  }
  for (const auto &link : links) {
    if (!link.impair_via.empty()) {
      return link.impair_via == "relay"; // the lab's links are wired for it
    }
  }
  LTB_TRY(netem, tc.netem_available());
  fell_back = !netem;
  return !netem;
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

state::LabRecord deploying_lab(std::optional<state::LabRecord> existing, const plan::Plan &plan,
                               const topology::Topology &desired, const std::string &owner) {
  state::LabRecord lab = existing.value_or(state::LabRecord{});
  lab.name = plan.lab;
  lab.topology_file = desired.file;
  lab.topology_text = desired.text;
  lab.topology_hash = desired.hash;
  lab.mgmt_network = plan.network;
  lab.mgmt_subnet = plan.subnet;
  lab.owner = owner;
  lab.status = state::RecordStatus::deploying;
  lab.confined = lab.confined || desired.confined;
  lab.container_prefix = plan.container_prefix;
  return lab;
}

ApplyReport apply_up(const plan::Plan &plan, const topology::Topology &desired, Backends &backends,
                     Progress &progress, const ApplyOptions &options) {
  auto lab = lab_record(plan, desired, *backends.store, options.owner);
  ApplyReport report;
  if (auto put = backends.store->put_lab(lab); !put) {
    report.failed = 1;
    report.actions.push_back(
        {"record lab " + plan.lab, {Outcome::failed, put.error().message, put.error().help, 0}});
    return report;
  }
  if (auto recorded = record_external_network(plan, *backends.store); !recorded) {
    report.failed = 1;
    report.actions.push_back(
        {"record network " + plan.network,
         {Outcome::failed, recorded.error().message, recorded.error().help, 0}});
    return report;
  }
  Runner runner(plan, &desired, backends, progress, options);
  report = runner.run();
  lab.status = report.ok() ? state::RecordStatus::running : state::RecordStatus::failed;
  if (auto put = backends.store->put_lab(lab); !put) {
    report.failed += 1;
    report.actions.push_back(
        {"record lab " + plan.lab, {Outcome::failed, put.error().message, put.error().help, 0}});
  }
  return report;
}

ApplyReport apply_lifecycle(const plan::Plan &plan, const topology::Topology *desired,
                            Backends &backends, Progress &progress, const ApplyOptions &options) {
  Runner runner(plan, desired, backends, progress, options);
  auto report = runner.run();
  // The lab is stopped when every container and VM of it is; running again once one starts.
  auto lab = backends.store->lab(plan.lab);
  auto nodes = backends.store->nodes(plan.lab);
  if (lab && *lab && nodes) {
    bool all_stopped = false;
    for (const auto &node : *nodes) {
      if (recorded_runtime(node) == topology::Runtime::ovs_bridge) {
        continue;
      }
      if (node.status != state::RecordStatus::stopped) {
        all_stopped = false;
        break;
      }
      all_stopped = true;
    }
    auto record = **lab;
    auto status = record.status;
    if (all_stopped) {
      status = state::RecordStatus::stopped;
    } else if (status == state::RecordStatus::stopped) {
      status = state::RecordStatus::running;
    }
    if (status != record.status) {
      record.status = status;
      if (auto put = backends.store->put_lab(record); !put) {
        report.failed += 1;
        report.actions.push_back({"record lab " + plan.lab,
                                  {Outcome::failed, put.error().message, put.error().help, 0}});
      }
    }
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
          {"forget lab " + plan.lab,
           {Outcome::failed, deleted.error().message, deleted.error().help, 0}});
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
