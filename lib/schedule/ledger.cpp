#include "schedule/ledger.hpp"

#include "topology/loader.hpp"

#include <filesystem>
#include <map>
#include <set>

namespace ltb::schedule {

bool holds_capacity(const state::ReservationRecord &reservation, Instant now) {
  if (reservation.state == k_pending || reservation.state == k_active) {
    return true;
  }
  return reservation.state == k_failed && reservation.end_at > now;
}

Resources demand_of(const state::ReservationRecord &reservation) {
  return {reservation.demand_cpus, reservation.demand_memory_bytes, reservation.demand_disk_bytes};
}

Booking booking_of(const state::ReservationRecord &reservation) {
  return {reservation.id, reservation.lab, reservation.start_at, reservation.end_at,
          demand_of(reservation)};
}

std::string templates_dir(const std::string &state_path) {
  return (std::filesystem::path(state_path).parent_path() / "templates").string();
}

std::string reservation_base_dir(const state::ReservationRecord &reservation,
                                 const std::string &state_path) {
  if (!reservation.files_dir.empty()) {
    return reservation.files_dir;
  }
  if (reservation.source.rfind("template:", 0) == 0) {
    return templates_dir(state_path);
  }
  if (reservation.source.empty() || reservation.source == "<stdin>") {
    return std::filesystem::current_path().string();
  }
  return std::filesystem::path(reservation.source).parent_path().string();
}

Resources recorded_lab_demand(state::Store &store, const state::LabRecord &lab,
                              const DemandDefaults &defaults, bool as_running) {
  std::set<std::string> stopped;
  std::vector<std::string> kinds;         // of the running nodes
  std::vector<std::string> stopped_kinds; // of the stopped ones
  if (auto nodes = store.nodes(lab.name)) {
    for (const auto &node : *nodes) {
      const bool is_stopped = !as_running && node.status == state::RecordStatus::stopped;
      if (is_stopped) {
        stopped.insert(node.name);
      }
      (is_stopped ? stopped_kinds : kinds).push_back(node.kind);
    }
  }
  // A stopped node keeps its disk only.
  auto disk_only = [](Resources r) {
    r.cpus = 0;
    r.memory_bytes = 0;
    return r;
  };
  if (!lab.topology_text.empty()) {
    auto loaded = topology::load_recorded(lab.topology_text, lab.topology_file, lab.name,
                                          std::filesystem::current_path().string());
    if (loaded) {
      Resources total;
      for (const auto &node : loaded->nodes) {
        auto demand = node_demand(node, defaults);
        total += stopped.count(node.name) ? disk_only(demand) : demand;
      }
      return total;
    }
  }
  // The recorded text no longer loads (a moved image or config file): count what runs.
  auto total = kinds_demand(kinds, defaults);
  total += disk_only(kinds_demand(stopped_kinds, defaults));
  return total;
}

Result<std::vector<Booking>> current_bookings(state::Store &store, Instant now,
                                              const DemandDefaults &defaults,
                                              const std::string &skip_lab) {
  LTB_TRY(reservations, store.reservation_claims(now));
  LTB_TRY(labs, store.labs());
  std::vector<Booking> out;
  // A running lab that a reservation takes over counts on its own only until that start.
  std::map<std::string, Instant> taken_over_at;
  for (const auto &r : reservations) {
    if (!holds_capacity(r, now)) {
      continue;
    }
    out.push_back(booking_of(r));
    auto [it, inserted] = taken_over_at.emplace(r.lab, r.start_at);
    if (!inserted && r.start_at < it->second) {
      it->second = r.start_at;
    }
  }
  for (const auto &lab : labs) {
    if (lab.name == skip_lab) {
      continue;
    }
    Booking b{0, lab.name, now, k_forever, {}};
    if (auto it = taken_over_at.find(lab.name); it != taken_over_at.end()) {
      if (it->second <= now) {
        continue; // its reservation counts for it
      }
      b.end = it->second;
    }
    b.demand = recorded_lab_demand(store, lab, defaults);
    out.push_back(std::move(b));
  }
  // Snapshots (`ltb snapshot`) hold disk until removed, whether their lab runs or not.
  LTB_TRY(snapshots, store.snapshots_size());
  if (snapshots > 0) {
    Booking b{0, "snapshots", now, k_forever, {}};
    b.demand.disk_bytes = snapshots;
    out.push_back(std::move(b));
  }
  return out;
}

} // namespace ltb::schedule
