#include "service/status.hpp"

#include "apply/observe.hpp"
#include "plan/names.hpp"
#include "plan/plan.hpp"
#include "schedule/scheduler.hpp"
#include "service/backends.hpp"
#include "service/nodes.hpp"
#include "topology/kinds.hpp"

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
      (runs_as(node, topology::Runtime::ovs_bridge) ? summary.bridges : summary.workloads)++;
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
    status.nodes.push_back({node, std::move(state)});
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
  return nlohmann::json{{"labs", out}};
}

nlohmann::json status_json(const LabStatus &status) {
  const auto &lab = status.lab;
  nlohmann::json out = nlohmann::json::array();
  for (const auto &[node, state] : status.nodes) {
    out.push_back({{"name", node.name},
                   {"kind", node.kind},
                   {"image", node.image},
                   {"state", state},
                   {"mgmt_ipv4", node.mgmt_ipv4},
                   {"runtime_id", node.runtime_id}});
  }
  return nlohmann::json{{"lab", lab.name},
                        {"status", state::to_string(lab.status)},
                        {"mgmt_subnet", lab.mgmt_subnet},
                        {"reservation", reservation_json(status.reservation, status.now)},
                        {"nodes", out}};
}

} // namespace ltb::service
