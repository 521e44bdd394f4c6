// ltb status [LAB] [--format table|json]  (alias: ps)
#include "apply/observe.hpp"
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "plan/names.hpp"
#include "plan/plan.hpp"
#include "schedule/scheduler.hpp"

#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

/// The reservation a lab is under (its end and time left), for the table and json; "-" / null
/// for a lab without one.
struct Reserved {
  std::map<std::string, state::ReservationRecord> by_lab;
  schedule::Instant now = 0;
  std::string column(const std::string &lab) const {
    auto it = by_lab.find(lab);
    return it == by_lab.end()
               ? "-"
               : fmt::format("{} ({})", schedule::format_local_short(it->second.end_at),
                             schedule::format_time_left(it->second.end_at, now));
  }
  nlohmann::json json(const std::string &lab) const {
    auto it = by_lab.find(lab);
    if (it == by_lab.end()) {
      return nullptr;
    }
    return {{"id", it->second.id},
            {"state", it->second.state},
            {"end", schedule::format_utc(it->second.end_at)},
            {"left_seconds", std::max<std::int64_t>(0, it->second.end_at - now)}};
  }
};

Result<Reserved> reserved_labs(state::Store &store) {
  LTB_TRY(all, store.reservations());
  Reserved reserved;
  reserved.now = schedule::SystemClock().now();
  reserved.by_lab = schedule::reserved_labs(all, reserved.now);
  return reserved;
}

struct StatusOptions {
  std::string lab;
  std::string format = "table";
};

int status_all(const Globals &globals, Connection &connection, bool json) {
  auto labs = connection.store->labs();
  if (!labs) {
    return report(globals, labs.error());
  }
  auto containers = connection.docker->list_containers({});
  if (!containers) {
    return report(globals, containers.error());
  }
  std::map<std::string, int> running;
  for (const auto &container : *containers) {
    auto lab = container.labels.find(plan::k_label_lab);
    if (lab != container.labels.end() && container.state == "running") {
      ++running[lab->second];
    }
  }
  // VMs count like containers; libvirt is asked only when some lab has one.
  bool any_vm = false;
  for (const auto &lab : *labs) {
    auto nodes = connection.store->nodes(lab.name);
    for (const auto &node : nodes ? *nodes : std::vector<state::NodeRecord>{}) {
      any_vm = any_vm || node.kind == "vm";
    }
  }
  if (any_vm && connection.connect_vms(false) && connection.vms) {
    if (auto vms = connection.vms->list({}); vms) {
      for (const auto &vm : *vms) {
        auto lab = vm.metadata.find(plan::k_label_lab);
        if (lab != vm.metadata.end() && vm.state == "running") {
          ++running[lab->second];
        }
      }
    }
  }
  auto reserved = reserved_labs(*connection.store);
  if (!reserved) {
    return report(globals, reserved.error());
  }
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto &lab : *labs) {
    auto nodes = connection.store->nodes(lab.name);
    if (!nodes) {
      return report(globals, nodes.error());
    }
    int containers_recorded = 0; // containers and VMs: the nodes that run
    int bridges = 0;
    for (const auto &node : *nodes) {
      (node.kind == "ovs-bridge" ? bridges : containers_recorded)++;
    }
    int up = running[lab.name];
    std::string status = state::to_string(lab.status);
    if (lab.status == state::RecordStatus::running && up < containers_recorded) {
      status = "degraded";
    }
    out.push_back({{"name", lab.name},
                   {"status", status},
                   {"containers", containers_recorded},
                   {"containers_running", up},
                   {"bridges", bridges},
                   {"owner", lab.owner},
                   {"file", lab.topology_file},
                   {"mgmt_subnet", lab.mgmt_subnet},
                   {"reservation", reserved->json(lab.name)}});
    rows.push_back({lab.name, status, fmt::format("{}/{}", up, containers_recorded),
                    std::to_string(bridges), lab.mgmt_subnet, lab.owner, lab.topology_file,
                    reserved->column(lab.name)});
  }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"labs", out}}.dump(2));
  } else if (rows.empty()) {
    fmt::print("no labs\n");
  } else {
    fmt::print(
        "{}", format_table(
                  {"LAB", "STATUS", "RUNNING", "BRIDGES", "MGMT", "OWNER", "FILE", "UNTIL"}, rows));
  }
  return 0;
}

int status_lab(const Globals &globals, Connection &connection, const std::string &lab, bool json) {
  auto record = connection.store->lab(lab);
  if (!record) {
    return report(globals, record.error());
  }
  if (!*record) {
    return report(globals, unknown_lab(*connection.store, lab));
  }
  auto nodes = connection.store->nodes(lab);
  if (!nodes) {
    return report(globals, nodes.error());
  }
  bool bridges = false;
  for (const auto &node : *nodes) {
    bridges = bridges || node.kind == "ovs-bridge";
  }
  bool vms = false;
  for (const auto &node : *nodes) {
    vms = vms || node.kind == "vm";
  }
  if (vms) {
    (void)connection.connect_vms(false); // without libvirt, VMs show as missing
  }
  auto backends = connection.backends();
  auto observed = apply::observe(lab, backends, {bridges, false, false, {}});
  if (!observed) {
    return report(globals, observed.error());
  }
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  int drift = 0;
  for (const auto &node : *nodes) {
    auto state = plan::node_state(node, *observed, bridges);
    drift += state != "running";
    out.push_back({{"name", node.name},
                   {"kind", node.kind},
                   {"image", node.image},
                   {"state", state},
                   {"mgmt_ipv4", node.mgmt_ipv4},
                   {"runtime_id", node.runtime_id}});
    rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image, state,
                    node.mgmt_ipv4.empty() ? "-" : node.mgmt_ipv4});
  }
  auto reserved = reserved_labs(*connection.store);
  if (!reserved) {
    return report(globals, reserved.error());
  }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"lab", lab},
                                      {"status", state::to_string((*record)->status)},
                                      {"mgmt_subnet", (*record)->mgmt_subnet},
                                      {"reservation", reserved->json(lab)},
                                      {"nodes", out}}
                           .dump(2));
    return 0;
  }
  fmt::print("lab {} ({}), management {} on {}\n", lab, state::to_string((*record)->status),
             (*record)->mgmt_subnet, (*record)->mgmt_network);
  if (auto it = reserved->by_lab.find(lab); it != reserved->by_lab.end()) {
    fmt::print("reserved until {} ({}, reservation {}); `ltb schedule` removes it then\n",
               schedule::format_local(it->second.end_at),
               schedule::format_time_left(it->second.end_at, reserved->now), it->second.id);
  }
  fmt::print("{}", format_table({"NODE", "KIND", "IMAGE", "STATE", "MGMT-IPV4"}, rows));
  if (drift > 0) {
    fmt::print("{} node{} not as recorded; `ltb up {}` recreates {}\n", drift,
               drift == 1 ? " is" : "s are",
               (*record)->topology_file.empty() ? "FILE" : (*record)->topology_file,
               drift == 1 ? "it" : "them");
  }
  return 0;
}

int run_status(const Globals &globals, const StatusOptions &options) {
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  bool json = json_format(options.format);
  return options.lab.empty() ? status_all(globals, *connection, json)
                             : status_lab(globals, *connection, options.lab, json);
}

} // namespace

void add_status(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<StatusOptions>();
  auto *sub = app.add_subcommand("status", "Show labs, or one lab's nodes and their state");
  sub->alias("ps");
  sub->add_option("lab", options->lab, "Lab name")->type_name("LAB");
  add_format_option(sub, options->format);
  sub->footer("Examples:\n  ltb status\n  ltb ps frr-ospf --format json\n"
              "A node whose container was removed or stopped outside ltb shows as missing or "
              "exited; `ltb up` recreates it.");
  registry.push_back({sub, [&globals, options] { return run_status(globals, *options); }});
}

} // namespace ltb::cli
