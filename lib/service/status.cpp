#include "service/status.hpp"

#include "apply/observe.hpp"
#include "plan/names.hpp"
#include "plan/plan.hpp"
#include "schedule/scheduler.hpp"
#include "service/backends.hpp"
#include "service/nodes.hpp"
#include "topology/kinds.hpp"

#include <fmt/format.h>
#include <map>

namespace ltb::service {

namespace {

bool runs_as(const state::NodeRecord &node, topology::Runtime runtime) {
  return topology::runtime_of_kind(node.kind) == runtime;
}

/// The reservation each lab is under now, and the instant that was asked at.
Result<std::pair<std::map<std::string, state::ReservationRecord>, schedule::Instant>>
reservations_now(state::Store &store) {
  LTB_TRY(all, store.reservations());
  auto now = schedule::SystemClock().now();
  return std::make_pair(schedule::reserved_labs(all, now), now);
}

std::optional<state::ReservationRecord>
reservation_of(const std::map<std::string, state::ReservationRecord> &reserved,
               const std::string &lab) {
  auto it = reserved.find(lab);
  return it == reserved.end() ? std::nullopt : std::make_optional(it->second);
}

} // namespace

Result<StatusOverview> status_all(const Session &session, const OwnerFilter &filter) {
  LTB_CHECK(check_filter(session.caller, filter));
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(all_labs, connection.store->labs());
  std::vector<state::LabRecord> labs;
  int hidden = 0;
  for (auto &lab : all_labs) {
    if (shows(session.caller, filter, lab.owner)) {
      labs.push_back(std::move(lab));
    } else {
      hidden += may_act(session.caller, lab.owner);
    }
  }
  LTB_TRY(containers, connection.docker->list_containers({}));
  std::map<std::string, int> running;
  for (const auto &container : containers) {
    auto lab = container.labels.find(plan::k_label_lab);
    if (lab != container.labels.end() && container.state == "running") {
      ++running[lab->second];
    }
  }
  std::map<std::string, std::vector<state::NodeRecord>> nodes;
  bool any_vm = false;
  for (const auto &lab : labs) {
    LTB_TRY(records, connection.store->nodes(lab.name));
    for (const auto &node : records) {
      any_vm = any_vm || runs_as(node, topology::Runtime::vm);
    }
    nodes[lab.name] = std::move(records);
  }
  // VMs count like containers; libvirt is asked only when some lab has one.
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
  LTB_TRY(reserved, reservations_now(*connection.store));
  StatusOverview overview;
  overview.now = reserved.second;
  overview.hidden = hidden;
  for (const auto &lab : labs) {
    LabSummary summary;
    summary.lab = lab;
    summary.lab.name = lab_shown(session.caller, lab.name);
    int stopped = 0; // by `ltb stop`: not running, on purpose
    for (const auto &node : nodes[lab.name]) {
      if (runs_as(node, topology::Runtime::external)) {
        continue; // not the lab's own: the overview counts what ltb runs
      }
      (runs_as(node, topology::Runtime::ovs_bridge) ||
               runs_as(node, topology::Runtime::linux_bridge)
           ? summary.bridges
           : summary.workloads)++;
      stopped += node.status == state::RecordStatus::stopped;
    }
    summary.running = running[lab.name];
    summary.status = state::to_string(lab.status);
    if (lab.status == state::RecordStatus::running &&
        summary.running + stopped < summary.workloads) {
      summary.status = "degraded";
    }
    summary.reservation = reservation_of(reserved.first, lab.name);
    overview.labs.push_back(std::move(summary));
  }
  return overview;
}

Result<LabStatus> status_lab(const Session &session, const std::string &named) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(record, resolve_lab(*connection.store, session.caller, named));
  const std::string lab = record.name;
  LTB_TRY(nodes, connection.store->nodes(lab));
  bool bridges = false;
  bool vms = false;
  for (const auto &node : nodes) {
    bridges = bridges || runs_as(node, topology::Runtime::ovs_bridge);
    vms = vms || runs_as(node, topology::Runtime::vm);
  }
  if (vms) {
    (void)connection.connect_vms(false); // without libvirt, VMs show as missing
  }
  auto backends = connection.backends();
  LTB_TRY(observed, apply::observe(lab, backends, {bridges, false, false, {}}));
  LabStatus status;
  status.lab = record;
  status.lab.name = lab_shown(session.caller, lab);
  for (const auto &node : nodes) {
    auto state = plan::node_state(node, observed, bridges);
    status.drift += state != "running" && state != "stopped";
    std::string health;
    if (auto it = observed.containers.find(node.name); it != observed.containers.end()) {
      health = it->second.health;
    }
    status.nodes.push_back({node, std::move(state), std::move(health)});
  }
  LTB_TRY(reserved, reservations_now(*connection.store));
  status.now = reserved.second;
  status.reservation = reservation_of(reserved.first, lab);
  return status;
}

namespace {

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

} // namespace

nlohmann::json status_json(const StatusOverview &overview) {
  nlohmann::json out = nlohmann::json::array();
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
  }
  return nlohmann::json{
      {"labs", out}, {"hidden", overview.hidden}, {"now", schedule::format_utc(overview.now)}};
}

nlohmann::json status_json(const LabStatus &status) {
  const auto &lab = status.lab;
  nlohmann::json out = nlohmann::json::array();
  for (const auto &[node, state, health] : status.nodes) {
    out.push_back({{"name", node.name},
                   {"kind", node.kind},
                   {"image", node.image},
                   {"state", state},
                   {"health", health},
                   {"mgmt_ipv4", node.mgmt_ipv4},
                   {"mgmt_ipv6", node.mgmt_ipv6},
                   {"runtime_id", node.runtime_id},
                   {"exec_errors", node.exec_errors}});
  }
  return nlohmann::json{{"lab", lab.name},
                        {"status", state::to_string(lab.status)},
                        {"mgmt_subnet", lab.mgmt_subnet},
                        {"mgmt_network", lab.mgmt_network},
                        {"file", lab.topology_file},
                        {"source", lab.source},
                        {"drift", status.drift},
                        {"now", schedule::format_utc(status.now)},
                        {"reservation", reservation_json(status.reservation, status.now)},
                        {"nodes", out}};
}

std::string lab_file_shown(const state::LabRecord &lab) {
  return !lab.source.empty() && lab.source.front() == '/' ? lab.source : lab.topology_file;
}

namespace {

tl::unexpected<Error> not_status(const std::string &what) {
  return fail(fmt::format("the ltb daemon's answer is not {}", what),
              "the daemon and this ltb differ in version? (`ltb version` on both)");
}

struct Malformed {}; // a field that is there but not what it should be

schedule::Instant instant_of(const nlohmann::json &text) {
  auto parsed = schedule::parse_time(text.get<std::string>(), 0);
  if (!parsed) {
    throw Malformed{};
  }
  return *parsed;
}

/// READ's value, or "not WHAT" when the reply lacks a field or holds one of another type.
template <class T, class Read> Result<T> read_reply(const std::string &what, Read &&read) {
  try {
    return read();
  } catch (const nlohmann::json::exception &) {
  } catch (const Malformed &) {
  }
  return not_status(what);
}

std::optional<state::ReservationRecord> reservation_from_json(const nlohmann::json &json) {
  if (json.is_null()) {
    return std::nullopt;
  }
  state::ReservationRecord reservation;
  reservation.id = json.at("id").get<std::int64_t>();
  reservation.state = json.at("state").get<std::string>();
  reservation.end_at = instant_of(json.at("end"));
  return reservation;
}

} // namespace

Result<StatusOverview> overview_from_json(const nlohmann::json &json) {
  return read_reply<StatusOverview>("a list of labs", [&] {
    StatusOverview overview;
    overview.now = instant_of(json.at("now"));
    overview.hidden = json.at("hidden").get<int>();
    for (const auto &lab : json.at("labs")) {
      LabSummary summary;
      summary.lab.name = lab.at("name").get<std::string>();
      summary.status = lab.at("status").get<std::string>();
      summary.workloads = lab.at("containers").get<int>();
      summary.running = lab.at("containers_running").get<int>();
      summary.bridges = lab.at("bridges").get<int>();
      summary.lab.owner = lab.at("owner").get<std::string>();
      summary.lab.topology_file = lab.at("file").get<std::string>();
      summary.lab.source = lab.at("source").get<std::string>();
      summary.lab.mgmt_subnet = lab.at("mgmt_subnet").get<std::string>();
      summary.reservation = reservation_from_json(lab.at("reservation"));
      overview.labs.push_back(std::move(summary));
    }
    return overview;
  });
}

Result<LabStatus> lab_status_from_json(const nlohmann::json &json) {
  return read_reply<LabStatus>("a lab's status", [&] {
    LabStatus status;
    status.lab.name = json.at("lab").get<std::string>();
    const auto recorded = state::parse_record_status(json.at("status").get<std::string>());
    if (!recorded) {
      throw Malformed{};
    }
    status.lab.status = *recorded;
    status.lab.mgmt_subnet = json.at("mgmt_subnet").get<std::string>();
    status.lab.mgmt_network = json.at("mgmt_network").get<std::string>();
    status.lab.topology_file = json.at("file").get<std::string>();
    status.lab.source = json.at("source").get<std::string>();
    status.drift = json.at("drift").get<int>();
    status.now = instant_of(json.at("now"));
    status.reservation = reservation_from_json(json.at("reservation"));
    for (const auto &node : json.at("nodes")) {
      NodeState out;
      out.record.lab = status.lab.name;
      out.record.name = node.at("name").get<std::string>();
      out.record.kind = node.at("kind").get<std::string>();
      out.record.image = node.at("image").get<std::string>();
      out.record.mgmt_ipv4 = node.at("mgmt_ipv4").get<std::string>();
      out.record.mgmt_ipv6 = node.value("mgmt_ipv6", "");
      out.record.runtime_id = node.at("runtime_id").get<std::string>();
      if (auto errors = node.find("exec_errors"); errors != node.end() && errors->is_array()) {
        out.record.exec_errors = errors->get<std::vector<std::string>>();
      }
      out.state = node.at("state").get<std::string>();
      out.health = node.value("health", "");
      status.nodes.push_back(std::move(out));
    }
    return status;
  });
}

} // namespace ltb::service
