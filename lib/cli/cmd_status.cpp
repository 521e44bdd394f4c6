// ltb status [LAB] [--format table|json]  (alias: ps)
#include "cli/context.hpp"
#include "cli/remote.hpp"
#include "cli/table.hpp"
#include "service/status.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fmt/ranges.h>
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

struct StatusOptions {
  std::string lab;
  std::string format = "table";
  service::OwnerFilter owners;
};

void print_all(const service::StatusOverview &overview, bool json) {
  std::vector<std::vector<std::string>> rows;
  for (const auto &summary : overview.labs) {
    const auto &lab = summary.lab;
    rows.push_back({lab.name, summary.status,
                    fmt::format("{}/{}", summary.running, summary.workloads),
                    std::to_string(summary.bridges), lab.mgmt_subnet, lab.owner,
                    lab.source.empty() ? lab.topology_file : lab.source,
                    until_column(summary.reservation, overview.now)});
  }
  if (json) {
    fmt::print("{}\n", service::status_json(overview).dump(2));
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
  std::vector<std::vector<std::string>> rows;
  // A dual-stack lab's nodes have an IPv6 column too; an IPv4-only lab's table is as it was.
  const bool ipv6 = std::any_of(status.nodes.begin(), status.nodes.end(),
                                [](const auto &node) { return !node.record.mgmt_ipv6.empty(); });
  for (const auto &[node, state, health] : status.nodes) {
    rows.push_back({node.name, node.kind, node.image.empty() ? "-" : node.image,
                    health.empty() ? state : fmt::format("{} ({})", state, health),
                    node.mgmt_ipv4.empty() ? "-" : node.mgmt_ipv4});
    if (ipv6) {
      rows.back().push_back(node.mgmt_ipv6.empty() ? "-" : node.mgmt_ipv6);
    }
  }
  if (json) {
    fmt::print("{}\n", service::status_json(status).dump(2));
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
  std::vector<std::string> header{"NODE", "KIND", "IMAGE", "STATE", "MGMT-IPV4"};
  if (ipv6) {
    header.push_back("MGMT-IPV6");
  }
  fmt::print("{}", format_table(header, rows));
  for (const auto &[node, state, health] : status.nodes) {
    for (const auto &failure : node.exec_errors) {
      fmt::print("node {}: {}\n", node.name, failure);
    }
  }
  if (status.drift > 0) {
    const auto shown = service::lab_file_shown(lab);
    const auto &file = shown.empty() ? std::string("FILE") : shown;
    fmt::print("{} node{} not as recorded; `ltb up {}` recreates {}\n", status.drift,
               status.drift == 1 ? " is" : "s are", file, status.drift == 1 ? "it" : "them");
  }
}

/// The hidden-labs notice under the table of every lab.
void notice_hidden(const Globals &globals, const service::StatusOverview &overview, bool json,
                   const StatusOptions &options) {
  if (!json && overview.hidden > 0 && !options.owners.all) {
    print_notice(globals, fmt::format("{} lab{} of other users: `ltb status --all` lists them",
                                      overview.hidden, overview.hidden == 1 ? "" : "s"));
  }
}

/// Characters a path segment or query value carries as they are (RFC 3986 unreserved).
bool unreserved(const std::string &text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

/// A user who is not root: the daemon answers GET /v1/labs[/LAB] itself (no command to run for
/// it, so `ltb status` costs what it costs as root), and the answer prints as a direct run's.
std::optional<int> remote_status(const Globals &globals, const StatusOptions &options,
                                 const std::string &socket) {
  std::string target = "/v1/labs";
  if (!options.lab.empty()) {
    if (!unreserved(options.lab)) {
      return std::nullopt; // not a name the route carries: the command says what is wrong
    }
    target += "/" + options.lab;
  } else {
    std::vector<std::string> query;
    if (options.owners.all) {
      query.emplace_back("all=true");
    }
    if (!options.owners.owner.empty()) {
      if (!unreserved(options.owners.owner)) {
        return std::nullopt;
      }
      query.push_back("owner=" + options.owners.owner);
    }
    if (!query.empty()) {
      target += "?" + fmt::format("{}", fmt::join(query, "&"));
    }
  }
  auto reply = daemon_get(socket, target);
  if (!reply) {
    return report(globals, reply.error());
  }
  if (reply->status != 200) {
    return report(globals, daemon_refusal(reply->status, reply->body));
  }
  const auto body = nlohmann::json::parse(reply->body, nullptr, false);
  const bool json = json_format(options.format);
  if (options.lab.empty()) {
    auto overview = service::overview_from_json(body);
    if (!overview) {
      return report(globals, overview.error());
    }
    print_all(*overview, json);
    notice_hidden(globals, *overview, json, options);
    return 0;
  }
  auto status = service::lab_status_from_json(body);
  if (!status) {
    return report(globals, status.error());
  }
  print_lab(*status, json);
  return 0;
}

int run_status(const Globals &globals, const StatusOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  bool json = json_format(options.format);
  if (options.lab.empty()) {
    auto overview = service::status_all(session, options.owners);
    if (!overview) {
      return report(globals, overview.error());
    }
    print_all(*overview, json);
    notice_hidden(globals, *overview, json, options);
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
  add_owner_options(sub, options->owners);
  sub->footer("Examples:\n  ltb status\n  ltb status --all\n  ltb ps frr-ospf --format json\n"
              "A node whose container was removed or stopped outside ltb shows as missing or "
              "exited; `ltb up` recreates it.");
  registry.push_back({sub, [&globals, options] { return run_status(globals, *options); },
                      [&globals, options](const std::string &socket) {
                        return remote_status(globals, *options, socket);
                      }});
}

} // namespace ltb::cli
