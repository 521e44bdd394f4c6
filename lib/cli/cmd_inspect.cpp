// ltb inspect LAB [--format table|json]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/inspect.hpp"
#include "service/status.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct InspectOptions {
  std::string lab;
  std::string format = "table";
};

int run_inspect(const Globals &globals, const InspectOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto inspected = service::inspect_lab(session, options.lab);
  if (!inspected) {
    return report(globals, inspected.error());
  }
  const auto &details = *inspected;
  const auto &lab = details.lab;
  const auto &access_paths = details.access;
  nlohmann::json links = nlohmann::json::array();
  std::vector<std::vector<std::string>> link_rows;
  for (const auto &[link, type] : details.links) {
    links.push_back(
        {{"name", link.name},
         {"type", type},
         {"endpoints", {link.a_node + ":" + link.a_iface, link.b_node + ":" + link.b_iface}},
         {"status", state::to_string(link.status)}});
    link_rows.push_back({link.name, type, link.a_node + ":" + link.a_iface,
                         link.b_node + ":" + link.b_iface, state::to_string(link.status)});
  }
  std::vector<std::vector<std::string>> vm_rows;
  std::vector<std::vector<std::string>> device_rows;
  std::vector<std::vector<std::string>> access_rows;
  nlohmann::json nodes = nlohmann::json::array();
  std::vector<std::vector<std::string>> node_rows;
  for (const auto &detail : details.nodes) {
    const auto &node = detail.record;
    nlohmann::json ifaces = nlohmann::json::array();
    std::string iface_list;
    for (const auto &iface : detail.interfaces) {
      if (iface.peer.empty()) {
        ifaces.push_back({{"name", iface.name}, {"link", iface.link}, {"address", iface.address}});
      } else {
        ifaces.push_back({{"name", iface.name}, {"link", iface.link}, {"peer", iface.peer}});
      }
      iface_list += (iface_list.empty() ? "" : ",") + iface.name;
    }
    nodes.push_back({{"name", node.name},
                     {"kind", node.kind},
                     {"image", node.image},
                     {"status", state::to_string(node.status)},
                     {"mgmt_ipv4", node.mgmt_ipv4},
                     {"mgmt_ipv6", node.mgmt_ipv6},
                     {"runtime_name", detail.runtime_name},
                     {"runtime_id", node.runtime_id},
                     {"interfaces", ifaces}});
    {
      const auto &device = detail.device;
      nlohmann::json image = nullptr;
      std::string version = "-";
      if (device.image) {
        const auto &i = *device.image;
        image = {
            {"name", i.name},
            {"state", std::string(service::to_string(i.state))},
            {"version", i.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.version)},
            {"version_from",
             i.version_from.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.version_from)}};
        version = i.state != service::ImageState::present
                      ? fmt::format("({})", service::to_string(i.state))
                  : i.version.empty() ? "-"
                                      : i.version;
      }
      const auto &running = device.running;
      nodes.back()["device"] = {
          {"group", device.topology ? nlohmann::json(device.group) : nlohmann::json(nullptr)},
          {"labels", device.labels},
          {"image", image},
          {"running_version",
           running.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(running.version)},
          {"running_note",
           running.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(running.note)}};
      std::string labels;
      for (const auto &[key, value] : device.labels) {
        labels += (labels.empty() ? "" : ",") + key + "=" + value;
      }
      device_rows.push_back({node.name, node.kind, device.image ? device.image->name : "-", version,
                             !device.topology       ? "?"
                             : device.group.empty() ? "-"
                                                    : device.group,
                             !device.topology ? "?"
                             : labels.empty() ? "-"
                                              : labels,
                             running.version.empty() ? running.note : running.version});
    }
    if (detail.reach) {
      const auto &r = *detail.reach;
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
    if (detail.vm) {
      auto &vm_json = nodes.back()["vm"];
      if (!detail.vm->info) {
        vm_json = {{"state", detail.vm->libvirt ? "missing" : "unknown (libvirt not reachable)"}};
        vm_rows.push_back({node.name, vm_json["state"], "-", "-", "-", "-"});
      } else {
        const auto &vm = *detail.vm->info;
        const auto &accel = detail.vm->accel;
        const auto &console = detail.vm->console_log;
        vm_json = {{"domain", vm.name},     {"uuid", vm.uuid},   {"state", vm.state},
                   {"accel", accel},        {"vcpus", vm.vcpus}, {"memory_mib", vm.memory_mib},
                   {"console_log", console}};
        vm_rows.push_back({node.name, vm.state, accel, std::to_string(vm.vcpus),
                           fmt::format("{} MiB", vm.memory_mib), console});
      }
    }
    // A dual-stack node's IPv6 address under its IPv4 one, in the same column.
    const auto mgmt = node.mgmt_ipv4.empty() ? std::string("-") : node.mgmt_ipv4;
    node_rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image,
                         node.mgmt_ipv6.empty() ? mgmt : mgmt + " " + node.mgmt_ipv6,
                         detail.runtime_name, iface_list});
  }
  // Captures whose process runs (`ltb capture`); those of dead processes are cleaned elsewhere.
  nlohmann::json captures = nlohmann::json::array();
  std::vector<std::vector<std::string>> capture_rows;
  for (const auto &active : details.captures) {
    captures.push_back({{"target", active.target},
                        {"interface", active.interface},
                        {"mirror", active.mirror},
                        {"pid", active.pid},
                        {"user", active.user}});
    capture_rows.push_back({active.target, active.interface, std::to_string(active.pid),
                            active.user.empty() ? "-" : active.user});
  }
  if (json_format(options.format)) {
    nlohmann::json out{
        {"name", lab.name},
        {"status", state::to_string(lab.status)},
        {"owner", lab.owner},
        {"file", lab.topology_file},
        {"source", lab.source},
        {"topology_hash", lab.topology_hash},
        {"mgmt", {{"network", lab.mgmt_network}, {"ipv4_subnet", lab.mgmt_subnet}}},
        {"confined", lab.confined},
        {"host_firewall", details.host_firewall.empty()
                              ? nlohmann::json(nullptr)
                              : nlohmann::json{{"interface", details.host_firewall}}},
        {"created_at", lab.created_at},
        {"updated_at", lab.updated_at},
        {"nodes", nodes},
        {"links", links},
        {"captures", captures}};
    if (details.access_files) {
      out["access"] = {{"ssh_config", access_paths.ssh_config()},
                       {"inventory", access_paths.inventory()},
                       {"topology_data", access_paths.topology_data()},
                       {"known_hosts", access_paths.known_hosts()},
                       {"private_key", access_paths.private_key()}};
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  std::string confined = "no (an admin's: its topology may use privileges and host paths)";
  if (lab.confined) {
    confined = "yes (no privileged mode, host namespaces, devices or host paths";
    confined +=
        details.host_firewall.empty()
            ? "; no host firewall recorded: `ltb up` adds it)"
            : fmt::format("; the host refuses its nodes' traffic on {})", details.host_firewall);
  }
  const auto shown = service::lab_file_shown(lab);
  const bool sent = shown != lab.topology_file; // through the daemon: its source is the file
  const std::string file = shown.empty() ? std::string("-")
                           : sent        ? shown + " (sent to the ltb daemon)"
                                         : shown;
  fmt::print("lab:         {}\nstatus:      {}\nowner:       {}\nfile:        {}\n{}"
             "management:  {} on Docker network {}\nconfined:    {}\n\n",
             lab.name, state::to_string(lab.status), lab.owner, file,
             lab.source.empty() || sent ? "" : fmt::format("source:      {}\n", lab.source),
             lab.mgmt_subnet, lab.mgmt_network, confined);
  fmt::print("{}", format_table({"NODE", "KIND", "IMAGE", "MGMT-IPV4", "RUNS AS", "INTERFACES"},
                                node_rows));
  fmt::print("\n{}", format_table({"DEVICE", "KIND", "IMAGE", "VERSION", "GROUP", "LABELS",
                                   "RUNNING VERSION"},
                                  device_rows));
  if (!access_rows.empty()) {
    fmt::print("\n{}", format_table({"SSH TO", "USER", "ADDRESS", "PORT", "KIND", "IMAGE", "LOGIN"},
                                    access_rows));
    if (details.access_files) {
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
      app.add_subcommand("inspect", "Show a lab in detail: nodes, devices and their versions, "
                                    "addresses, interfaces, links");
  sub->add_option("lab", options->lab, "Lab name")->required()->type_name("LAB");
  add_format_option(sub, options->format);
  sub->footer(
      "Examples:\n  ltb inspect frr-ospf\n  ltb inspect frr-ospf --format json | jq .links");
  registry.push_back({sub, [&globals, options] { return run_inspect(globals, *options); }});
}

} // namespace ltb::cli
