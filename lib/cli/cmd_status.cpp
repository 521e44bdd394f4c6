// ltb status [LAB] [--format table|json]  (alias: ps)
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/status.hpp"

#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

/// The UNTIL column of a reserved lab: its end and the time left; "-" for a lab without one.
std::string until_column(const std::optional<state::ReservationRecord> &reservation,
                         schedule::Instant now) {
  return reservation ? fmt::format("{} ({})", schedule::format_local_short(reservation->end_at),
                                   schedule::format_time_left(reservation->end_at, now))
                     : "-";
}

nlohmann::json reservation_json(const std::optional<state::ReservationRecord> &reservation,
                                schedule::Instant now) {
  if (!reservation) {
    return nullptr;
  }
  return {{"id", reservation->id},
          {"state", reservation->state},
          {"end", schedule::format_utc(reservation->end_at)},
          {"left_seconds", std::max<std::int64_t>(0, reservation->end_at - now)}};
}

struct StatusOptions {
  std::string lab;
  std::string format = "table";
};

void print_all(const service::StatusOverview &overview, bool json) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto &summary : overview.labs) {
    const auto &lab = summary.lab;
    out.push_back({{"name", lab.name},
                   {"status", summary.status},
                   {"containers", summary.workloads},
                   {"containers_running", summary.running},
                   {"bridges", summary.bridges},
                   {"owner", lab.owner},
                   {"file", lab.topology_file},
                   {"source", lab.source},
                   {"mgmt_subnet", lab.mgmt_subnet},
                   {"reservation", reservation_json(summary.reservation, overview.now)}});
    rows.push_back({lab.name, summary.status,
                    fmt::format("{}/{}", summary.running, summary.workloads),
                    std::to_string(summary.bridges), lab.mgmt_subnet, lab.owner,
                    lab.source.empty() ? lab.topology_file : lab.source,
                    until_column(summary.reservation, overview.now)});
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
}

void print_lab(const service::LabStatus &status, bool json) {
  const auto &lab = status.lab;
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto &[node, state] : status.nodes) {
    out.push_back({{"name", node.name},
                   {"kind", node.kind},
                   {"image", node.image},
                   {"state", state},
                   {"mgmt_ipv4", node.mgmt_ipv4},
                   {"runtime_id", node.runtime_id}});
    rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image, state,
                    node.mgmt_ipv4.empty() ? "-" : node.mgmt_ipv4});
  }
  if (json) {
    fmt::print("{}\n",
               nlohmann::json{{"lab", lab.name},
                              {"status", state::to_string(lab.status)},
                              {"mgmt_subnet", lab.mgmt_subnet},
                              {"reservation", reservation_json(status.reservation, status.now)},
                              {"nodes", out}}
                   .dump(2));
    return;
  }
  fmt::print("lab {} ({}), management {} on {}\n", lab.name, state::to_string(lab.status),
             lab.mgmt_subnet, lab.mgmt_network);
  if (status.reservation) {
    fmt::print("reserved until {} ({}, reservation {}); `ltb schedule` removes it then\n",
               schedule::format_local(status.reservation->end_at),
               schedule::format_time_left(status.reservation->end_at, status.now),
               status.reservation->id);
  }
  fmt::print("{}", format_table({"NODE", "KIND", "IMAGE", "STATE", "MGMT-IPV4"}, rows));
  if (status.drift > 0) {
    fmt::print("{} node{} not as recorded; `ltb up {}` recreates {}\n", status.drift,
               status.drift == 1 ? " is" : "s are",
               lab.topology_file.empty() ? "FILE" : lab.topology_file,
               status.drift == 1 ? "it" : "them");
  }
}

int run_status(const Globals &globals, const StatusOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  bool json = json_format(options.format);
  if (options.lab.empty()) {
    auto overview = service::status_all(session);
    if (!overview) {
      return report(globals, overview.error());
    }
    print_all(*overview, json);
    return 0;
  }
  auto status = service::status_lab(session, options.lab);
  if (!status) {
    return report(globals, status.error());
  }
  print_lab(*status, json);
  return 0;
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
