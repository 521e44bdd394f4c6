#pragma once
// `ltb status`: every lab with how many of its nodes run, or one lab's nodes with their state as
// the runtimes show it (drift shows as missing, exited, replaced, ...). As data: the CLI renders
// it as a table or JSON.

#include "schedule/time.hpp"
#include "service/owners.hpp"
#include "service/service.hpp"
#include "state/store.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

struct LabSummary {
  state::LabRecord lab;
  std::string status; // the recorded status, or "degraded" when running with nodes down
  int workloads = 0;  // containers and VMs: the nodes that run
  int running = 0;    // of those, how many run now
  int bridges = 0;
  std::optional<state::ReservationRecord> reservation; // the one the lab is under now
};

struct StatusOverview {
  std::vector<LabSummary> labs; // by the name the caller sees (owners.hpp's lab_shown())
  schedule::Instant now = 0;
  int hidden = 0; // labs of other users an admin could list with --all
};

/// The labs the filter shows the caller (by default their own).
Result<StatusOverview> status_all(const Session &session, const OwnerFilter &filter = {});

struct NodeState {
  state::NodeRecord record;
  std::string state; // "running", or what differs from the record (plan::node_state)
  /// Docker's health of a container with a healthcheck: starting, healthy, unhealthy; else "".
  std::string health = {};
};

struct LabStatus {
  state::LabRecord lab;
  std::vector<NodeState> nodes;
  int drift = 0; // nodes not as recorded
  std::optional<state::ReservationRecord> reservation;
  schedule::Instant now = 0;
};

/// One lab the caller may see (owners.hpp's resolve_lab()); "no lab named X" (with a
/// did-you-mean) otherwise. The record's name is the one the caller sees.
Result<LabStatus> status_lab(const Session &session, const std::string &lab);

/// `ltb status --format json` (and the daemon's GET /v1/labs): every lab.
nlohmann::json status_json(const StatusOverview &overview);
/// `ltb status LAB --format json` (GET /v1/labs/{lab}).
nlohmann::json status_json(const LabStatus &status);

/// The lab's file as its user knows it: the user's own path for a lab deployed through the daemon
/// (its source; the recorded file is the daemon's copy, gone with the request), else the recorded
/// file ("" for a lab from stdin).
std::string lab_file_shown(const state::LabRecord &lab);

/// The inverses, for the client of `ltb serve`: what the daemon answered, as the CLI renders it
/// (the fields the JSON carries; a reply that is not such JSON is an error).
Result<StatusOverview> overview_from_json(const nlohmann::json &json);
Result<LabStatus> lab_status_from_json(const nlohmann::json &json);

} // namespace ltb::service
