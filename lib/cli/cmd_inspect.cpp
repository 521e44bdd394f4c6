// ltb inspect LAB [--format table|json]
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apply/observe.hpp"
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "plan/names.hpp"

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
    std::string type = segment ? "segment" : "veth";
    links.push_back({{"name", link.name},
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
    node_rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image,
                         node.mgmt_ipv4.empty() ? "-" : node.mgmt_ipv4, runtime_name, iface_list});
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
                       {"links", links}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("lab:         {}\nstatus:      {}\nowner:       {}\nfile:        {}\n"
             "management:  {} on Docker network {}\n\n",
             lab.name, lab.status, lab.owner, lab.topology_file.empty() ? "-" : lab.topology_file,
             lab.mgmt_subnet, lab.mgmt_network);
  fmt::print("{}", format_table({"NODE", "KIND", "IMAGE", "MGMT-IPV4", "RUNS AS", "INTERFACES"},
                                node_rows));
  if (!link_rows.empty()) {
    fmt::print("\n{}", format_table({"LINK", "TYPE", "A", "B", "STATUS"}, link_rows));
  }
  return 0;
}

} // namespace

void add_inspect(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<InspectOptions>();
  auto *sub = app.add_subcommand("inspect", "Show a lab in detail: nodes, addresses, interfaces, links");
  sub->add_option("lab", options->lab, "Lab name")->required()->type_name("LAB");
  add_format_option(sub, options->format);
  sub->footer("Examples:\n  ltb inspect frr-ospf\n  ltb inspect frr-ospf --format json | jq .links");
  registry.push_back({sub, [&globals, options] { return run_inspect(globals, *options); }});
}

} // namespace ltb::cli
