// ltb inspect LAB [--format table|json]
#include "access/access_files.hpp"
#include "apply/observe.hpp"
#include "capture/records.hpp"
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "plan/names.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct InspectOptions {
  std::string lab;
  std::string format = "table";
};

int run_inspect(const Globals &globals, const InspectOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto recorded = apply::read_recorded(**store, options.lab);
  if (!recorded) {
    return report(globals, recorded.error());
  }
  if (!recorded->lab) {
    return report(globals, unknown_lab(**store, options.lab));
  }
  const auto &lab = *recorded->lab;
  std::map<std::string, std::vector<nlohmann::json>> interfaces;
  nlohmann::json links = nlohmann::json::array();
  std::vector<std::vector<std::string>> link_rows;
  std::map<std::string, std::string> kinds;
  for (const auto &node : recorded->nodes) {
    kinds[node.name] = node.kind;
  }
  for (const auto &link : recorded->links) {
    bool segment = kinds[link.a_node] == "ovs-bridge" || kinds[link.b_node] == "ovs-bridge";
    bool vm_end = kinds[link.a_node] == "vm" || kinds[link.b_node] == "vm";
    std::string type = segment ? "segment" : vm_end ? "tap" : "veth";
    links.push_back(
        {{"name", link.name},
         {"type", type},
         {"endpoints", {link.a_node + ":" + link.a_iface, link.b_node + ":" + link.b_iface}},
         {"status", link.status}});
    link_rows.push_back({link.name, type, link.a_node + ":" + link.a_iface,
                         link.b_node + ":" + link.b_iface, link.status});
    interfaces[link.a_node].push_back(
        {{"name", link.a_iface}, {"link", link.name}, {"peer", link.b_node + ":" + link.b_iface}});
    interfaces[link.b_node].push_back(
        {{"name", link.b_iface}, {"link", link.name}, {"peer", link.a_node + ":" + link.a_iface}});
  }
  // VMs: what libvirt says of each (state, accelerator, vCPUs, memory), asked only when the lab
  // has VMs. Without libvirt they show as unknown rather than failing the whole inspect.
  std::map<std::string, runtime::VmInfo> vm_infos;
  bool has_vms = false;
  for (const auto &node : recorded->nodes) {
    has_vms = has_vms || node.kind == "vm";
  }
  std::unique_ptr<runtime::VmRuntime> vms;
  if (has_vms) {
    if (auto connected = runtime::connect_libvirt(); connected) {
      vms = std::move(*connected);
      if (auto listed = vms->list({{plan::k_label_lab, lab.name}}); listed) {
        for (auto &vm : *listed) {
          vm_infos[vm.metadata[plan::k_label_node]] = std::move(vm);
        }
      }
    }
  }
  std::vector<std::vector<std::string>> vm_rows;
  // How to reach each node (ltb ssh, the lab's ssh_config), from the logins `ltb up` recorded.
  const access::LabPaths access_paths{lab_dir(globals, lab.name)};
  const auto reach = access::node_reach(access_paths.dir, recorded->nodes);
  std::vector<std::vector<std::string>> access_rows;
  nlohmann::json nodes = nlohmann::json::array();
  std::vector<std::vector<std::string>> node_rows;
  for (const auto &node : recorded->nodes) {
    bool bridge = node.kind == "ovs-bridge";
    std::string runtime_name = bridge ? node.runtime_id : plan::container_name(lab.name, node.name);
    nlohmann::json ifaces = nlohmann::json::array();
    std::string iface_list;
    if (!bridge) {
      ifaces.push_back({{"name", "eth0"}, {"link", "mgmt"}, {"address", node.mgmt_ipv4}});
    }
    for (const auto &iface : interfaces[node.name]) {
      ifaces.push_back(iface);
    }
    for (const auto &iface : ifaces) {
      iface_list += (iface_list.empty() ? "" : ",") + iface["name"].get<std::string>();
    }
    nodes.push_back({{"name", node.name},
                     {"kind", node.kind},
                     {"image", node.image},
                     {"status", node.status},
                     {"mgmt_ipv4", node.mgmt_ipv4},
                     {"runtime_name", runtime_name},
                     {"runtime_id", node.runtime_id},
                     {"interfaces", ifaces}});
    if (auto how = reach.find(node.name); how != reach.end()) {
      const auto &r = how->second;
      nodes.back()["ssh"] = {{"user", r.user},
                             {"host", r.host},
                             {"port", r.port},
                             {"identity_files", r.identity_files},
                             {"password", r.password},
                             {"command", fmt::format("ltb ssh {} --lab {}", node.name, lab.name)}};
      std::string auth = r.identity_files.empty() ? "" : "key";
      if (r.password) {
        auth += auth.empty() ? "password" : ", password";
      }
      access_rows.push_back({node.name, r.user, r.host, std::to_string(r.port), node.kind,
                             node.image.empty() ? "-" : node.image, auth.empty() ? "-" : auth});
    }
    if (node.kind == "vm") {
      auto found = vm_infos.find(node.name);
      auto &vm_json = nodes.back()["vm"];
      if (found == vm_infos.end()) {
        vm_json = {{"state", vms ? "missing" : "unknown (libvirt not reachable)"}};
        vm_rows.push_back({node.name, vm_json["state"], "-", "-", "-", "-"});
      } else {
        const auto &vm = found->second;
        auto accel = vm.metadata.count(plan::k_label_accel) ? vm.metadata.at(plan::k_label_accel)
                                                            : std::string("-");
        auto console = lab_dir(globals, lab.name) + "/" + node.name + "/console.log";
        vm_json = {{"domain", vm.name},     {"uuid", vm.uuid},   {"state", vm.state},
                   {"accel", accel},        {"vcpus", vm.vcpus}, {"memory_mib", vm.memory_mib},
                   {"console_log", console}};
        vm_rows.push_back({node.name, vm.state, accel, std::to_string(vm.vcpus),
                           fmt::format("{} MiB", vm.memory_mib), console});
      }
    }
    node_rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image,
                         node.mgmt_ipv4.empty() ? "-" : node.mgmt_ipv4, runtime_name, iface_list});
  }
  // Captures whose process runs (`ltb capture`); those of dead processes are cleaned elsewhere.
  nlohmann::json captures = nlohmann::json::array();
  std::vector<std::vector<std::string>> capture_rows;
  for (const auto &active : capture::active_captures(recorded->objects)) {
    captures.push_back({{"target", active.target},
                        {"interface", active.interface},
                        {"mirror", active.mirror},
                        {"pid", active.pid},
                        {"user", active.user}});
    capture_rows.push_back({active.target, active.interface, std::to_string(active.pid),
                            active.user.empty() ? "-" : active.user});
  }
  if (json_format(options.format)) {
    nlohmann::json out{{"name", lab.name},
                       {"status", lab.status},
                       {"owner", lab.owner},
                       {"file", lab.topology_file},
                       {"topology_hash", lab.topology_hash},
                       {"mgmt", {{"network", lab.mgmt_network}, {"ipv4_subnet", lab.mgmt_subnet}}},
                       {"created_at", lab.created_at},
                       {"updated_at", lab.updated_at},
                       {"nodes", nodes},
                       {"links", links},
                       {"captures", captures}};
    if (std::error_code ec; std::filesystem::exists(access_paths.ssh_config(), ec)) {
      out["access"] = {{"ssh_config", access_paths.ssh_config()},
                       {"inventory", access_paths.inventory()},
                       {"topology_data", access_paths.topology_data()},
                       {"known_hosts", access_paths.known_hosts()},
                       {"private_key", access_paths.private_key()}};
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("lab:         {}\nstatus:      {}\nowner:       {}\nfile:        {}\n"
             "management:  {} on Docker network {}\n\n",
             lab.name, lab.status, lab.owner, lab.topology_file.empty() ? "-" : lab.topology_file,
             lab.mgmt_subnet, lab.mgmt_network);
  fmt::print("{}", format_table({"NODE", "KIND", "IMAGE", "MGMT-IPV4", "RUNS AS", "INTERFACES"},
                                node_rows));
  if (!access_rows.empty()) {
    fmt::print("\n{}", format_table({"SSH TO", "USER", "ADDRESS", "PORT", "KIND", "IMAGE", "LOGIN"},
                                    access_rows));
    if (std::error_code ec; std::filesystem::exists(access_paths.ssh_config(), ec)) {
      fmt::print("log in: ltb ssh NODE --lab {}, or ssh -F {} NODE\nAnsible inventory: {}\n",
                 lab.name, access_paths.ssh_config(), access_paths.inventory());
    }
  }
  if (!vm_rows.empty()) {
    fmt::print("\n{}",
               format_table({"VM", "STATE", "ACCEL", "VCPUS", "MEMORY", "CONSOLE LOG"}, vm_rows));
  }
  if (!link_rows.empty()) {
    fmt::print("\n{}", format_table({"LINK", "TYPE", "A", "B", "STATUS"}, link_rows));
  }
  if (!capture_rows.empty()) {
    fmt::print("\n{}", format_table({"CAPTURE", "ON", "PID", "USER"}, capture_rows));
  }
  return 0;
}

} // namespace

void add_inspect(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<InspectOptions>();
  auto *sub =
      app.add_subcommand("inspect", "Show a lab in detail: nodes, addresses, interfaces, links");
  sub->add_option("lab", options->lab, "Lab name")->required()->type_name("LAB");
  add_format_option(sub, options->format);
  sub->footer(
      "Examples:\n  ltb inspect frr-ospf\n  ltb inspect frr-ospf --format json | jq .links");
  registry.push_back({sub, [&globals, options] { return run_inspect(globals, *options); }});
}

} // namespace ltb::cli
