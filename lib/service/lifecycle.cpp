#include "service/lifecycle.hpp"

#include "apply/observe.hpp"
#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "service/events.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "service/reservations.hpp"
#include "service/users.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <set>

namespace ltb::service {

namespace {

using schedule::Instant;

Instant now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string join(const std::vector<std::string> &words) {
  std::string out;
  for (const auto &word : words) {
    out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

/// The lab of a request without one: the caller's only lab, else the only one that can be
/// stopped (running) or started (stopped).
Result<std::string> choose_lab(state::Store &store, const Caller &caller, LifecycleAction action) {
  LTB_TRY(mine, caller_labs(store, caller));
  std::vector<std::string> names;
  std::vector<std::string> fitting;
  for (const auto &lab : mine) {
    names.push_back(lab.name);
    const bool stopped = lab.status == state::RecordStatus::stopped;
    if (action == LifecycleAction::start ? stopped : !stopped) {
      fitting.push_back(lab.name);
    }
  }
  if (names.size() == 1) {
    return names.front();
  }
  if (fitting.size() == 1) {
    return fitting.front();
  }
  if (names.empty()) {
    return fail("you have no labs", "deploy one with `ltb up FILE`, or name a lab: LAB");
  }
  return fail(fmt::format("you have several labs ({})", join(names)), "say which: name the LAB",
              ExitCode::usage);
}

/// The lab's recorded topology, for the links' settings; null when it no longer loads.
std::unique_ptr<topology::Topology> recorded_topology(const state::LabRecord &lab) {
  if (lab.topology_text.empty()) {
    return nullptr;
  }
  auto loaded = topology::load_recorded(lab.topology_text, lab.topology_file, lab.name,
                                        std::filesystem::current_path().string());
  if (!loaded) {
    return nullptr;
  }
  return std::make_unique<topology::Topology>(std::move(*loaded));
}

std::vector<Error> failed_errors(const apply::ApplyReport &report) {
  std::vector<Error> errors;
  for (const auto &action : report.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      errors.push_back(Error{action.result.error, action.result.help, ExitCode::failed});
    }
  }
  return errors;
}

/// One pass: observe, plan the stop or start, run it.
Status run_pass(const Session &session, Connection &connection, const std::string &lab,
                const std::vector<std::string> &nodes, bool stop, LifecycleAction action,
                const LifecycleRequest &request, LifecycleOutcome &outcome) {
  LTB_TRY(recorded, apply::read_recorded(*connection.store, lab));
  bool vms = false;
  for (const auto &node : recorded.nodes) {
    vms = vms || topology::runtime_of_kind(node.kind) == topology::Runtime::vm;
  }
  LTB_CHECK(connection.connect_vms(vms));
  auto backends = connection.backends();
  // A confined lab's host firewall is looked at before its nodes start (with the lab directory).
  const bool confined = !stop && recorded.lab && recorded.lab->confined;
  LTB_TRY(observed,
          apply::observe(lab, backends,
                         {false, false, false, confined ? session.context.lab_dir(lab) : ""}));
  LTB_TRY(plan, plan::plan_lifecycle(lab, recorded, observed, nodes, stop));
  if (plan.empty()) {
    return {};
  }
  std::vector<std::string> names;
  for (const auto &action : plan.actions) {
    if (!action.node.empty()) {
      names.push_back(action.node);
    }
  }
  auto desired = recorded.lab ? recorded_topology(*recorded.lab) : nullptr;
  apply::ApplyOptions options;
  // Each action mostly waits on Docker or libvirt (a container's stop, a guest's shutdown): one
  // worker per node, as `docker stop A B ...` does, up to a bound.
  options.workers = std::clamp(static_cast<int>(plan.actions.size()), request.workers, 32);
  options.interrupted = session.cancel.watch();
  options.owner = session.caller.name;
  options.lab_dir = session.context.lab_dir(lab);
  options.stop_timeout = request.timeout_seconds;
  if (!recorded.links.empty()) {
    // Links come back wired as `ltb up` wired them: through the relay or not.
    bool fell_back = false;
    LTB_TRY(relay, apply::choose_relay_mode(topology::ImpairmentPath::automatic, *backends.tc,
                                            recorded.links, fell_back));
    options.relay_mode = relay;
  }
  auto progress = session.events.progress(names);
  auto report = apply::apply_lifecycle(plan, desired.get(), backends, *progress, options);
  progress->finish();
  std::vector<std::string> done;
  for (std::size_t i = 0; i < report.actions.size() && i < plan.actions.size(); ++i) {
    if (report.actions[i].result.outcome == apply::Outcome::done && !plan.actions[i].node.empty()) {
      done.push_back(plan.actions[i].node);
    }
  }
  for (auto &e : lifecycle_events(lab, done, stop, action)) {
    record_event(session, *connection.store, std::move(e));
  }
  auto &list = stop ? outcome.stopped : outcome.started;
  list.insert(list.end(), done.begin(), done.end());
  outcome.done += report.done;
  outcome.failed += report.failed;
  outcome.skipped += report.skipped;
  outcome.interrupted = outcome.interrupted || report.interrupted;
  auto errors = failed_errors(report);
  outcome.errors.insert(outcome.errors.end(), errors.begin(), errors.end());
  return {};
}

} // namespace

std::vector<event::Event> lifecycle_events(const std::string &lab,
                                           const std::vector<std::string> &nodes, bool stopped,
                                           LifecycleAction action) {
  std::vector<event::Event> out;
  for (const auto &node : nodes) {
    event::Event e;
    e.lab = lab;
    e.type = event::Type::node;
    e.action = stopped ? event::Action::stopped : event::Action::started;
    e.object = node;
    e.attributes["command"] = action == LifecycleAction::stop    ? "stop"
                              : action == LifecycleAction::start ? "start"
                                                                 : "restart";
    out.push_back(std::move(e));
  }
  return out;
}

Status admit_start(const Session &session, state::Store &store, const state::LabRecord &lab,
                   Instant now) {
  LTB_TRY(reservations, store.reservations());
  for (const auto &r : reservations) {
    if (r.lab == lab.name && schedule::holds_capacity(r, now) && r.start_at <= now &&
        now < r.end_at) {
      return {}; // its reservation holds its capacity
    }
  }
  schedule::StoreBook book(store);
  LTB_TRY(holds, book.holds());
  if (auto hold = holds.find(lab.name); hold != holds.end()) {
    LTB_TRY(r, find_reservation(store, hold->second.reservation));
    return fail(fmt::format("lab {} belongs to reservation {} ({}): it starts only within that "
                            "window",
                            lab.name, r.id, span(r.start_at, r.end_at)),
                now < r.start_at
                    ? fmt::format("start it from {} on", schedule::format_local(r.start_at))
                    : "book the lab again (`ltb reserve create`); `ltb down` "
                      "removes it meanwhile");
  }
  // A lab without a reservation: as an unreserved `ltb up`, under the admission lock.
  LTB_TRY(lock, state::LabLock::acquire_admission(session.context.state_path,
                                                  session.context.wait_seconds));
  LTB_TRY(limits, quotas_of(store, session.caller));
  if (!schedule::unlimited(limits)) {
    LTB_TRY(config, schedule::load_config(store));
    const auto running = schedule::recorded_lab_demand(store, lab, config.defaults, true);
    if (!running.fits_in(schedule::recorded_lab_demand(store, lab, config.defaults))) {
      LTB_TRY(nodes, store.nodes(lab.name));
      LTB_CHECK(
          check_up_quotas(session, store, limits, lab.name, static_cast<int>(nodes.size()), running,
                          config.defaults,
                          fmt::format("cannot start lab {}", lab_shown(session.caller, lab.name))));
    }
  }
  LTB_TRY(claims, store.reservation_claims(now));
  if (claims.empty()) {
    return {};
  }
  LTB_TRY(capacity, host_capacity(session.context, store));
  const auto &defaults = capacity.config.defaults;
  const auto demand = schedule::recorded_lab_demand(store, lab, defaults, true);
  if (demand.fits_in(schedule::recorded_lab_demand(store, lab, defaults))) {
    return {}; // nothing of it is stopped: it takes nothing more
  }
  LTB_TRY(all_others, schedule::current_bookings(store, now, defaults, lab.name));
  const auto others = as_seen_by(session.caller, std::move(all_others));
  schedule::Booking candidate{0, lab.name, now, schedule::k_forever, demand};
  auto admission = schedule::check_unreserved_up(others, candidate, capacity.capacity);
  if (admission.admitted) {
    return {};
  }
  std::vector<std::string> ids;
  for (const auto &b : admission.conflicts) {
    ids.push_back(
        fmt::format("{} (lab {}, from {})", b.id, b.lab, schedule::format_local_short(b.start)));
  }
  std::string message =
      fmt::format("lab {} cannot start: its CPUs and memory would leave reservation{} {} short",
                  lab.name, ids.size() == 1 ? "" : "s", join(ids));
  for (const auto &line : schedule::describe_refusal(admission, candidate, capacity.capacity, 0)) {
    message += "\n  " + line;
  }
  return fail(message, "start fewer nodes (--node), or make room (`ltb reserve list`, `ltb "
                       "config list`)");
}

Result<LifecycleOutcome> change_lab(const Session &session, Connection &connection,
                                    LifecycleAction action, const LifecycleRequest &request) {
  auto &store = *connection.store;
  std::string lab = request.lab;
  if (lab.empty()) {
    LTB_TRY(chosen, choose_lab(store, session.caller, action));
    lab = chosen;
  } else {
    LTB_TRY(owned, resolve_lab(store, session.caller, lab));
    lab = owned.name;
  }
  LifecycleOutcome outcome;
  outcome.lab = lab_shown(session.caller, lab);
  LTB_TRY(lock,
          state::LabLock::acquire(session.context.state_path, lab, session.context.wait_seconds));
  LTB_TRY(record, store.lab(lab));
  if (!record) {
    return fail(unknown_lab(store, lab));
  }
  if (record->status == state::RecordStatus::removing ||
      record->status == state::RecordStatus::deploying) {
    return fail(fmt::format("lab {} is {}: an earlier `ltb {}` did not finish", lab,
                            state::to_string(record->status),
                            record->status == state::RecordStatus::removing ? "down" : "up"),
                record->status == state::RecordStatus::removing
                    ? "run `ltb down` again to finish removing it"
                    : "run `ltb up` again to finish deploying it");
  }
  // Node names are checked before anything happens (the planner's error, with the lab's nodes).
  LTB_TRY(recorded, apply::read_recorded(store, lab));
  LTB_CHECK(plan::plan_lifecycle(lab, recorded, {}, request.nodes, true).map([](auto &&) {}));
  if (action != LifecycleAction::stop) {
    LTB_CHECK(admit_start(session, store, *record, now_seconds()));
  }
  if (action != LifecycleAction::start) {
    LTB_CHECK(run_pass(session, connection, lab, request.nodes, true, action, request, outcome));
    if (!outcome.ok()) {
      return outcome;
    }
  }
  if (action != LifecycleAction::stop) {
    LTB_CHECK(run_pass(session, connection, lab, request.nodes, false, action, request, outcome));
  }
  return outcome;
}

} // namespace ltb::service
