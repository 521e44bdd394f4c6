#include "service/inspect.hpp"

#include "apply/observe.hpp"
#include "plan/names.hpp"
#include "service/backends.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "topology/kinds.hpp"
#include "topology/vm_image.hpp"
#include "util/shell_split.hpp"

#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <map>

namespace ltb::service {

namespace {

bool is_runtime(const std::string &kind, topology::Runtime runtime) {
  return topology::runtime_of_kind(kind) == runtime;
}

} // namespace

Result<LabDetails> inspect_lab(const Session &session, const std::string &name) {
  DeviceSources devices;
  devices.catalog.vm_images_dir = topology::detail::vm_images_dir();
  auto docker = runtime::connect_docker();
  if (docker) {
    devices.catalog.docker = docker->get();
  } else {
    devices.catalog.docker_problem = docker.error().message;
  }
  // VMs are asked over ssh; their targets are read from the state file before the questions
  // go out on several threads.
  std::map<std::string, Result<access::SshTarget>> targets;
  if (auto store = open_store(session.context); store) {
    if (auto nodes = (*store)->nodes(name); nodes) {
      for (const auto &node : *nodes) {
        if (is_runtime(node.kind, topology::Runtime::vm) &&
            node.status == state::RecordStatus::running) {
          auto target = access::ssh_target(**store, session.context.lab_dir(name), name, node.name);
          if (target) {
            target->timeout_seconds = k_running_version_timeout_s;
          }
          targets.emplace(node.name, std::move(target));
        }
      }
    }
  }
  runtime::ContainerRuntime *client = devices.catalog.docker;
  const std::string docker_problem = devices.catalog.docker_problem;
  devices.run = [&, client](const state::NodeRecord &node,
                            const std::vector<std::string> &argv) -> Result<std::string> {
    if (is_runtime(node.kind, topology::Runtime::vm)) {
      auto target = targets.find(node.name);
      if (target == targets.end()) {
        return fail("no ssh login recorded for it");
      }
      if (!target->second) {
        return fail(target->second.error());
      }
      std::string out;
      LTB_TRY(status, access::ssh_exec(
                          *target->second, util::shell_join(argv),
                          [&out](std::string_view chunk) { out.append(chunk); }, nullptr));
      (void)status; // os-release may be in either file: cat fails for the other
      return out;
    }
    if (client == nullptr) {
      return fail(fmt::format("Docker not reachable: {}", docker_problem));
    }
    const auto started = std::chrono::steady_clock::now();
    // By the id ltb recorded: the container's name depends on the lab's prefix.
    auto exec = client->exec(node.runtime_id.empty() ? plan::container_name(node.lab, node.name)
                                                     : node.runtime_id,
                             argv, k_running_version_timeout_s);
    if (!exec) {
      // Docker's words for a timeout name the exec's HTTP request; say what it means here.
      if (std::chrono::steady_clock::now() - started >=
          std::chrono::seconds(k_running_version_timeout_s)) {
        return fail(fmt::format("no answer within {} s", k_running_version_timeout_s));
      }
      return fail(std::move(exec.error()));
    }
    const auto &output = *exec;
    if (output.out.empty() && output.exit_code != 0) {
      return fail(fmt::format("'{}' failed with status {}{}", argv.front(), output.exit_code,
                              output.err.empty() ? "" : ": " + output.err.substr(0, 200)));
    }
    return output.out;
  };
  return inspect_lab(session, name, std::move(devices));
}

Result<LabDetails> inspect_lab(const Session &session, const std::string &named,
                               DeviceSources devices) {
  LTB_TRY(store, open_store(session.context));
  LTB_TRY(owned, resolve_lab(*store, session.caller, named));
  const std::string name = owned.name;
  LTB_TRY(recorded, apply::read_recorded(*store, name));
  if (!recorded.lab) {
    return fail(unknown_lab(*store, name));
  }
  LabDetails details;
  details.lab = *recorded.lab;
  const auto &lab = details.lab;
  std::map<std::string, std::string> kinds;
  for (const auto &node : recorded.nodes) {
    kinds[node.name] = node.kind;
  }
  std::map<std::string, std::vector<InterfaceDetails>> ends;
  for (const auto &link : recorded.links) {
    const bool segment = is_runtime(kinds[link.a_node], topology::Runtime::ovs_bridge) ||
                         is_runtime(kinds[link.b_node], topology::Runtime::ovs_bridge);
    const bool vm_end = is_runtime(kinds[link.a_node], topology::Runtime::vm) ||
                        is_runtime(kinds[link.b_node], topology::Runtime::vm);
    details.links.push_back({link, segment ? "segment" : vm_end ? "tap" : "veth"});
    ends[link.a_node].push_back({link.a_iface, link.name, link.b_node + ":" + link.b_iface, {}});
    ends[link.b_node].push_back({link.b_iface, link.name, link.a_node + ":" + link.a_iface, {}});
  }
  // VMs: what libvirt says of each, asked only when the lab has VMs. Without libvirt they show
  // as unknown rather than failing the whole inspect.
  std::map<std::string, runtime::VmInfo> vm_infos;
  bool has_vms = false;
  for (const auto &node : recorded.nodes) {
    has_vms = has_vms || is_runtime(node.kind, topology::Runtime::vm);
  }
  bool libvirt = false;
  if (has_vms) {
    if (auto vms = runtime::connect_libvirt(); vms) {
      libvirt = true;
      if (auto listed = (*vms)->list({{plan::k_label_lab, lab.name}}); listed) {
        for (auto &vm : *listed) {
          vm_infos[vm.metadata[plan::k_label_node]] = std::move(vm);
        }
      }
    }
  }
  details.access = access::LabPaths{session.context.lab_dir(lab.name)};
  // How to reach each node (ltb ssh, the lab's ssh_config), from the logins `ltb up` recorded.
  const auto reach = access::node_reach(details.access.dir, recorded.nodes);
  for (const auto &node : recorded.nodes) {
    NodeDetails n;
    n.record = node;
    n.bridge = !topology::is_workload(topology::runtime_of_kind(node.kind));
    n.runtime_name = n.bridge ? node.runtime_id
                     : is_runtime(node.kind, topology::Runtime::vm)
                         ? plan::container_name(lab.name, node.name)
                         : plan::container_name(lab.name, node.name, lab.container_prefix);
    if (!n.bridge) {
      n.interfaces.push_back({"eth0", "mgmt", {}, node.mgmt_ipv4});
    }
    for (const auto &end : ends[node.name]) {
      n.interfaces.push_back(end);
    }
    if (auto how = reach.find(node.name); how != reach.end()) {
      n.reach = how->second;
    }
    if (is_runtime(node.kind, topology::Runtime::vm)) {
      VmDetails vm;
      vm.libvirt = libvirt;
      if (auto found = vm_infos.find(node.name); found != vm_infos.end()) {
        vm.info = found->second;
        vm.accel = vm.info->metadata.count(plan::k_label_accel)
                       ? vm.info->metadata.at(plan::k_label_accel)
                       : std::string("-");
        vm.console_log = session.context.lab_dir(lab.name) + "/" + node.name + "/console.log";
      }
      n.vm = std::move(vm);
    }
    details.nodes.push_back(std::move(n));
  }
  // Device details: the catalog's view of this lab's nodes, then every running node asked for
  // its software version at once.
  devices.catalog.store = store.get();
  devices.catalog.only_lab = lab.name;
  LTB_TRY(catalog, build_catalog(session, devices.catalog));
  std::vector<state::NodeRecord> records;
  for (const auto &n : details.nodes) {
    records.push_back(n.record);
  }
  const auto versions = running_versions(records, devices.run);
  for (std::size_t i = 0; i < details.nodes.size(); ++i) {
    auto &device = details.nodes[i].device;
    if (auto found = catalog.nodes.find({lab.name, records[i].name});
        found != catalog.nodes.end()) {
      device.topology = found->second.topology;
      device.group = found->second.group;
      device.labels = found->second.labels;
      if (found->second.image) {
        device.image = catalog.images[*found->second.image];
      }
    }
    device.running = versions[i];
  }
  details.captures = capture::active_captures(recorded.objects);
  for (const auto &object : recorded.objects) {
    if (object.type == state::ObjectType::firewall) {
      details.host_firewall = object.runtime_id.empty() ? object.name : object.runtime_id;
    }
  }
  std::error_code ec;
  details.access_files = std::filesystem::exists(details.access.ssh_config(), ec);
  details.lab.name = lab_shown(session.caller, details.lab.name);
  return details;
}

} // namespace ltb::service
