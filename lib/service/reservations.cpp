#include "service/reservations.hpp"

#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "schedule/units.hpp"
#include "service/deploy.hpp"
#include "service/kept_files.hpp"
#include "service/owners.hpp"
#include "service/users.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>

namespace ltb::service {

namespace {

using schedule::Booking;
using schedule::Instant;
using schedule::Resources;

// A start this far in the past still counts as "now" (the time it took to type the command).
constexpr Instant k_past_slack = 60;

Instant now_seconds() {
  return static_cast<Instant>(std::time(nullptr));
}

/// An existing reservation of `lab` whose window overlaps [start, end), other than `self`.
std::optional<state::ReservationRecord>
same_lab_overlap(const std::vector<state::ReservationRecord> &all, const std::string &lab,
                 Instant start, Instant end, Instant now, std::int64_t self) {
  for (const auto &r : all) {
    if (r.id != self && r.lab == lab && schedule::holds_capacity(r, now) && r.start_at < end &&
        r.end_at > start) {
      return r;
    }
  }
  return std::nullopt;
}

} // namespace

Result<HostCapacity> host_capacity(const Context &context, state::Store &store) {
  LTB_TRY(config, schedule::load_config(store));
  LTB_TRY(facts,
          schedule::measure_host(std::filesystem::path(context.state_path).parent_path().string()));
  return HostCapacity{config, schedule::capacity(facts, config)};
}

Result<state::ReservationRecord> find_reservation(state::Store &store, std::int64_t id) {
  LTB_TRY(record, store.reservation(id));
  if (!record) {
    return fail(fmt::format("no reservation {}", id),
                "see `ltb reserve list --all` for the reservations there are");
  }
  return *record;
}

Result<state::ReservationRecord> find_reservation(state::Store &store, const Caller &caller,
                                                  std::int64_t id) {
  LTB_TRY(record, store.reservation(id));
  if (!record || !may_act(caller, record->owner)) {
    return fail(fmt::format("no reservation {}", id),
                "see `ltb reserve list --all` for your reservations");
  }
  return *record;
}

std::vector<Booking> as_seen_by(const Caller &caller, std::vector<Booking> bookings) {
  for (auto &b : bookings) {
    const auto owner = lab_id_owner(b.lab);
    if (!caller.admin && owner != caller.name) {
      b.lab = "a lab of another user";
      b.id = 0;
    } else {
      b.lab = lab_shown(caller, b.lab);
    }
  }
  return bookings;
}

std::string span(Instant start, Instant end) {
  return fmt::format("{} to {} ({})", schedule::format_local_short(start),
                     schedule::format_local_short(end), schedule::format_duration(end - start));
}

namespace {
Error overlap_error(const state::ReservationRecord &other) {
  return Error{fmt::format("lab {} is already reserved {} (reservation {})", other.lab,
                           span(other.start_at, other.end_at), other.id),
               "choose a window that does not overlap it, or another name with --lab",
               ExitCode::failed};
}
} // namespace

Error refusal(const std::string &what, const schedule::Admission &admission,
              const Booking &candidate, const Resources &capacity) {
  std::string message = fmt::format("{}: the host's capacity would be exceeded", what);
  for (const auto &line : schedule::describe_refusal(admission, candidate, capacity)) {
    message += "\n  " + line;
  }
  std::string help;
  if (admission.proposed_start) {
    const Instant start = *admission.proposed_start;
    help = fmt::format("the earliest start at which the whole window fits is {}: pass --start {}",
                       schedule::format_local_short(start), schedule::format_local(start));
  } else if (admission.conflicts.empty()) {
    help = "make the lab smaller, or raise the capacity (`ltb config list`, `ltb config set "
           "cpu-overcommit N`)";
  } else {
    help = "no later start fits while a lab without an end runs; remove it, or raise the "
           "capacity (`ltb config list`)";
  }
  return Error{message, help, ExitCode::failed};
}

void refresh_timer(EventSink &events, state::Store &store) {
  if (auto refreshed = schedule::refresh_wakeup(store, now_seconds()); !refreshed) {
    events.notice(fmt::format("notice: the scheduler's timer was not updated: {}",
                              refreshed.error().message));
  }
}

Result<std::pair<Instant, Instant>> reservation_window(const std::string &start_text,
                                                       const std::string &end_text,
                                                       const std::string &duration_text,
                                                       Instant start, Instant end, Instant now) {
  if (!start_text.empty()) {
    LTB_TRY(parsed, schedule::parse_time(start_text, now));
    start = parsed;
  }
  if (!end_text.empty()) {
    LTB_TRY(parsed, schedule::parse_time(end_text, now));
    end = parsed;
  } else if (!duration_text.empty()) {
    LTB_TRY(length, schedule::parse_duration(duration_text));
    end = start + length;
  }
  if (end <= start) {
    return fail(fmt::format("the reservation would end ({}) before it starts ({})",
                            schedule::format_local(end), schedule::format_local(start)),
                "give an --end after the --start, or a --for duration", ExitCode::usage);
  }
  if (end <= now) {
    return fail(
        fmt::format("the reservation would end in the past ({})", schedule::format_local(end)),
        "give an --end in the future", ExitCode::usage);
  }
  return std::pair{start, end};
}

Result<CreatedReservations> create_reservations(const Session &session, state::Store &store,
                                                const CreateReservations &request) {
  const Instant now = now_seconds();
  std::vector<std::string> labs;
  for (const auto &lab : request.labs) {
    labs.push_back(lab_id(session.caller.name, lab));
  }
  const Instant start = request.start;
  const Instant end = request.end;
  LTB_TRY(capacity, host_capacity(session.context, store));
  CreatedReservations created;
  created.demand = schedule::lab_demand(*request.topology, capacity.config.defaults);
  const Resources demand = created.demand;
  std::optional<Error> refused;
  // Check and write in one IMMEDIATE transaction, under the admission lock that unreserved ups
  // hold until their lab is recorded: nobody else takes the last free capacity meanwhile.
  LTB_TRY(lock, state::LabLock::acquire_admission(session.context.state_path,
                                                  session.context.wait_seconds));
  LTB_TRY(limits, quotas_of(store, session.caller));
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(all, store.reservation_claims(now));
    for (const auto &lab : labs) {
      if (auto other = same_lab_overlap(all, lab, start, end, now, 0)) {
        auto seen = *other;
        seen.lab = lab_shown(session.caller, seen.lab);
        refused = overlap_error(seen);
        return {};
      }
    }
    LTB_CHECK(check_reservation_quotas(
        session, store, limits, labs, static_cast<int>(request.topology->nodes.size()), demand,
        start, end, 0, capacity.config.defaults,
        labs.size() == 1
            ? fmt::format("cannot reserve lab {} {}", request.labs.front(), span(start, end))
            : fmt::format("cannot reserve {} labs {}-1 ... {}-{} {}", labs.size(), request.group,
                          request.group, labs.size(), span(start, end))));
    LTB_TRY(all_bookings, schedule::current_bookings(store, now, capacity.config.defaults));
    const auto bookings = as_seen_by(session.caller, std::move(all_bookings));
    // The N instances are admitted together, as one booking of N times the demand.
    Booking group{0, labs.size() == 1 ? request.labs.front() : request.group + "-*", start, end,
                  demand * static_cast<std::int64_t>(labs.size())};
    auto admission = schedule::admit(bookings, group, capacity.capacity);
    if (!admission.admitted) {
      refused = refusal(
          labs.size() == 1
              ? fmt::format("cannot reserve lab {} {}", request.labs.front(), span(start, end))
              : fmt::format("cannot reserve {} labs {}-1 ... {}-{} {}", labs.size(), request.group,
                            request.group, labs.size(), span(start, end)),
          admission, group, capacity.capacity);
      return {};
    }
    std::string files_dir;
    if (!request.keep_files.empty()) {
      LTB_TRY(kept, keep_reservation_files(session.context, store, request.keep_files));
      files_dir = std::move(kept);
    }
    for (const auto &lab : labs) {
      state::ReservationRecord r;
      r.lab = lab;
      r.owner = session.caller.name;
      r.confined = !session.caller.admin;
      r.source = request.source;
      r.files_dir = files_dir;
      r.topology_text = request.text;
      r.start_at = start;
      r.end_at = end;
      r.state = schedule::k_pending;
      r.demand_cpus = demand.cpus;
      r.demand_memory_bytes = demand.memory_bytes;
      r.demand_disk_bytes = demand.disk_bytes;
      LTB_TRY(id, store.add_reservation(r));
      created.ids.push_back(id);
    }
    return {};
  }));
  if (refused) {
    return fail(*refused);
  }
  for (const auto &lab : labs) {
    auto recorded = store.lab(lab);
    created.deployed_now.push_back(recorded && *recorded);
  }
  return created;
}

Result<state::ReservationRecord> update_reservation(const Session &session, state::Store &store,
                                                    const UpdateReservation &request) {
  LTB_TRY(capacity, host_capacity(session.context, store));
  LTB_TRY(limits, quotas_of(store, session.caller));
  const Instant now = now_seconds();
  std::optional<Error> refused;
  state::ReservationRecord saved;
  LTB_TRY(lock, state::LabLock::acquire_admission(session.context.state_path,
                                                  session.context.wait_seconds));
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(r, find_reservation(store, session.caller, request.id));
    if (r.state == schedule::k_ended || r.state == schedule::k_cancelled) {
      return fail(
          fmt::format("reservation {} (lab {}) is {}: it cannot change", r.id, r.lab, r.state),
          "create a new one with `ltb reserve create`");
    }
    const bool active = r.state == schedule::k_active;
    if (active && !request.start.empty()) {
      LTB_TRY(start, schedule::parse_time(request.start, now));
      if (start != r.start_at) {
        return fail(fmt::format("reservation {} (lab {}) is active since {}: its start cannot "
                                "move",
                                r.id, r.lab, schedule::format_local_short(r.start_at)),
                    "change its end with --end or --for, or delete it", ExitCode::usage);
      }
    }
    LTB_TRY(times, reservation_window(request.start, request.end, request.duration, r.start_at,
                                      r.end_at, now));
    auto [start, end] = times;
    if (!active && start != r.start_at && start < now - k_past_slack) {
      return fail(fmt::format("reservation {} would start in the past ({})", r.id,
                              schedule::format_local(start)),
                  "give a --start in the future, or --start now", ExitCode::usage);
    }
    LTB_TRY(all, store.reservation_claims(now));
    if (auto other = same_lab_overlap(all, r.lab, start, end, now, r.id)) {
      auto seen = *other;
      seen.lab = lab_shown(session.caller, seen.lab);
      refused = overlap_error(seen);
      return {};
    }
    LTB_CHECK(
        check_reservation_quotas(session, store, limits, {r.lab}, nodes_in_text(r.topology_text),
                                 schedule::demand_of(r), start, end, r.id, capacity.config.defaults,
                                 fmt::format("cannot move reservation {} (lab {}) to {}", r.id,
                                             lab_shown(session.caller, r.lab), span(start, end))));
    LTB_TRY(all_bookings, schedule::current_bookings(store, now, capacity.config.defaults));
    const auto bookings = as_seen_by(session.caller, std::move(all_bookings));
    // What is past needs no capacity any more: an active one is checked from now on.
    Booking candidate{r.id, r.lab, std::max(start, std::min(now, end - 1)), end,
                      schedule::demand_of(r)};
    auto admission = schedule::admit(bookings, candidate, capacity.capacity);
    if (!admission.admitted) {
      refused = refusal(
          fmt::format("cannot move reservation {} (lab {}) to {}", r.id, r.lab, span(start, end)),
          admission, candidate, capacity.capacity);
      return {};
    }
    r.start_at = start;
    r.end_at = end;
    if (r.state == schedule::k_failed) {
      // A new window, a new chance: the scheduler tries again from the start.
      r.state = schedule::k_pending;
      r.reason.clear();
      r.attempts = 0;
      r.next_attempt_at = 0;
    }
    LTB_CHECK(store.put_reservation(r));
    saved = r;
    return {};
  }));
  if (refused) {
    return fail(*refused);
  }
  refresh_timer(session.events, store);
  return saved;
}

Result<DeleteReservation> prepare_delete(state::Store &store, const Caller &caller,
                                         std::int64_t id) {
  DeleteReservation prepared;
  LTB_TRY(r, find_reservation(store, caller, id));
  prepared.record = r;
  if (r.state == schedule::k_cancelled || r.state == schedule::k_ended) {
    prepared.finished = true;
    return prepared;
  }
  // Its lab is deployed when it is active, or when the scheduler holds the lab for it (a failed
  // deploy may have left part of it).
  schedule::StoreBook book(store);
  LTB_TRY(holds, book.holds());
  auto hold = holds.find(r.lab);
  prepared.held = hold != holds.end() && hold->second.reservation == r.id;
  prepared.deployed = r.state == schedule::k_active || prepared.held;
  return prepared;
}

Result<DeletedReservation> delete_reservation(const Session &session, state::Store &store,
                                              const DeleteReservation &prepared) {
  const auto &r = prepared.record;
  // Cancel first, so that no scheduler pass deploys it again while it is being removed.
  auto record = r;
  record.state = schedule::k_cancelled;
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(current, find_reservation(store, r.id));
    if (current.state != r.state) {
      return fail(
          fmt::format("reservation {} changed while deleting it (now {})", r.id, current.state),
          "run the command again");
    }
    return store.put_reservation(record);
  }));
  refresh_timer(session.events, store);
  DeletedReservation deleted;
  if (!prepared.deployed) {
    return deleted;
  }
  auto connection = connect(session.context);
  if (!connection) {
    return fail(fmt::format("reservation {} is cancelled, but its lab {} could not be removed: {}",
                            r.id, r.lab, connection.error().message),
                fmt::format("remove it with `ltb down --lab {}`", r.lab), ExitCode::failed);
  }
  auto removed = remove_lab(session, *connection, r.lab);
  if (!removed || !removed->ok()) {
    const std::string why =
        !removed ? removed.error().message : failure_summary(removed->errors, removed->interrupted);
    return fail(fmt::format("reservation {} is cancelled, but removing lab {} failed: {}", r.id,
                            r.lab, why),
                fmt::format("fix the cause and run `ltb down --lab {}`", r.lab), ExitCode::failed);
  }
  if (prepared.held) {
    // The lab is gone: the scheduler has nothing left to remove for it.
    schedule::StoreBook book(store);
    LTB_CHECK(book.put_hold(r.lab, std::nullopt));
  }
  deleted.removed = true;
  deleted.objects = removed->done;
  return deleted;
}

Status end_reservations_of(const Session &session, state::Store &store, const std::string &lab) {
  LTB_TRY(all, store.reservations());
  bool changed = false;
  for (auto r : all) {
    if (r.lab != lab || r.state != schedule::k_active) {
      continue;
    }
    r.state = schedule::k_ended;
    r.reason = "ended early: lab removed by ltb down";
    LTB_CHECK(store.put_reservation(r));
    session.events.notice(fmt::format("reservation {} of lab {} ended early", r.id, lab));
    changed = true;
  }
  if (changed) {
    schedule::StoreBook book(store);
    LTB_CHECK(book.put_hold(lab, std::nullopt));
    if (auto refreshed = schedule::refresh_wakeup(store, now_seconds()); !refreshed) {
      session.events.notice("notice: the scheduler's timer was not updated: " +
                            refreshed.error().message);
    }
  }
  return {};
}

Result<UpAdmission> admit_up(const Session &session, state::Store &store,
                             const topology::Topology &desired, const std::string &until_text,
                             bool dry_run) {
  const Instant now = now_seconds();
  std::optional<Instant> until;
  if (!until_text.empty()) {
    LTB_TRY(parsed, schedule::parse_time(until_text, now));
    if (parsed <= now) {
      return fail(fmt::format("--until {} is not in the future", until_text),
                  "give a later time, like --until +2h", ExitCode::usage);
    }
    until = parsed;
  }
  UpAdmission answer;
  if (!dry_run) {
    // Two ups of different labs check one after the other, each seeing the other's claim.
    LTB_TRY(lock, state::LabLock::acquire_admission(session.context.state_path,
                                                    session.context.wait_seconds));
    answer.lock = std::move(lock);
  }
  {
    LTB_TRY(claims, store.reservation_claims(now));
    // The caller's quotas, unless a reservation covers the lab now (it was checked when made).
    LTB_TRY(limits, quotas_of(store, session.caller));
    const bool covered = std::any_of(claims.begin(), claims.end(), [&](const auto &r) {
      return r.lab == desired.name && r.start_at <= now && now < r.end_at;
    });
    if (!covered && !schedule::unlimited(limits)) {
      LTB_TRY(config, schedule::load_config(store));
      const int nodes = static_cast<int>(desired.nodes.size());
      const Resources need = schedule::lab_demand(desired, config.defaults);
      if (until) {
        // Deployed until a time: a reservation from now, under the reservations' quotas too.
        LTB_CHECK(check_reservation_quotas(
            session, store, limits, {desired.name}, nodes, need, now, *until, 0, config.defaults,
            fmt::format("cannot deploy lab {} until {}", lab_shown(session.caller, desired.name),
                        schedule::format_local_short(*until))));
      } else {
        LTB_CHECK(check_up_quotas(
            session, store, limits, desired.name, nodes, need, config.defaults,
            fmt::format("cannot deploy lab {}", lab_shown(session.caller, desired.name))));
      }
    }
    // Without reservations there is nothing to protect: `ltb up` stays as fast as before. The
    // lab still claims its place before the lock is released, for a reservation made meanwhile.
    if (claims.empty() && !until) {
      answer.claim = !dry_run;
      return answer;
    }
  }
  LTB_TRY(capacity, host_capacity(session.context, store));
  const Resources demand = schedule::lab_demand(desired, capacity.config.defaults);
  std::optional<Error> refused;
  std::optional<std::string> done;
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(claims, store.reservation_claims(now));
    std::optional<std::int64_t> covering_id;
    for (const auto &r : claims) {
      if (r.lab == desired.name && r.start_at <= now && now < r.end_at) {
        covering_id = r.id;
      }
    }
    if (covering_id) {
      if (!until) {
        return {}; // a reserved lab: its reservation holds its capacity
      }
      LTB_TRY(covering, find_reservation(store, *covering_id));
      if (*until == covering.end_at) {
        return {};
      }
      // --until moves the reservation's end, admitted like `ltb reserve update --end`.
      LTB_TRY(all_others,
              schedule::current_bookings(store, now, capacity.config.defaults, desired.name));
      const auto others = as_seen_by(session.caller, std::move(all_others));
      Booking candidate{covering.id, lab_shown(session.caller, desired.name), now, *until, demand};
      auto admission = schedule::admit(others, candidate, capacity.capacity);
      if (!admission.admitted) {
        refused = refusal(fmt::format("cannot keep lab {} until {} (reservation {})",
                                      lab_shown(session.caller, desired.name),
                                      schedule::format_local_short(*until), covering.id),
                          admission, candidate, capacity.capacity);
        return {};
      }
      if (!dry_run) {
        covering.end_at = *until;
        LTB_CHECK(store.put_reservation(covering));
      }
      done = fmt::format("reservation {} of lab {} now ends {}", covering.id, desired.name,
                         schedule::format_local(*until));
      return {};
    }
    if (!until) {
      // A redeploy that needs no more than what runs already takes nothing from anyone.
      LTB_TRY(recorded, store.lab(desired.name));
      if (recorded) {
        const Resources before =
            schedule::recorded_lab_demand(store, *recorded, capacity.config.defaults);
        if (demand.fits_in(before)) {
          return {};
        }
      }
    }
    LTB_TRY(all_others,
            schedule::current_bookings(store, now, capacity.config.defaults, desired.name));
    const auto others = as_seen_by(session.caller, std::move(all_others));
    Booking candidate{0, lab_shown(session.caller, desired.name), now,
                      until.value_or(schedule::k_forever), demand};
    auto admission = schedule::check_unreserved_up(others, candidate, capacity.capacity);
    if (!admission.admitted) {
      std::string names;
      for (const auto &b : admission.conflicts) {
        names += fmt::format("{}{} (lab {}, from {})", names.empty() ? "" : ", ", b.id, b.lab,
                             schedule::format_local_short(b.start));
      }
      std::string message = fmt::format(
          "lab {} cannot start without a reservation: it would leave reservation{} {} short",
          lab_shown(session.caller, desired.name), admission.conflicts.size() == 1 ? "" : "s",
          names);
      for (const auto &line :
           schedule::describe_refusal(admission, candidate, capacity.capacity, 0)) {
        message += "\n  " + line;
      }
      // Propose the latest --until that fits: the start of the first reservation left short.
      Instant first_start = schedule::k_forever;
      for (const auto &b : admission.conflicts) {
        first_start = std::min(first_start, b.start);
      }
      std::string help = "reserve capacity for it with `ltb reserve create`, or make room (`ltb "
                         "reserve list`, `ltb config list`)";
      if (first_start != schedule::k_forever && first_start > now) {
        Booking shorter = candidate;
        shorter.end = first_start;
        if (schedule::check_unreserved_up(others, shorter, capacity.capacity).admitted) {
          help = fmt::format("deploy it until the reservation starts: --until {} (`ltb schedule` "
                             "removes it then); or reserve capacity with `ltb reserve create`",
                             schedule::format_local(first_start));
        }
      }
      refused = Error{message, help, ExitCode::failed};
      return {};
    }
    if (!until) {
      // Open-ended: its demand counts from its lab record on, which the caller writes before
      // the lock goes.
      answer.claim = !dry_run;
    } else if (!dry_run) {
      // From now on the lab is reserved: recorded as an active reservation that the scheduler
      // holds, so that it removes the lab at `until` like any reservation's.
      state::ReservationRecord r;
      r.lab = desired.name;
      r.owner = session.caller.name;
      r.confined = !session.caller.admin || desired.confined;
      r.source = desired.file;
      r.topology_text = desired.text;
      r.start_at = now;
      r.end_at = *until;
      r.state = schedule::k_active;
      r.demand_cpus = demand.cpus;
      r.demand_memory_bytes = demand.memory_bytes;
      r.demand_disk_bytes = demand.disk_bytes;
      LTB_TRY(id, store.add_reservation(r));
      schedule::StoreBook book(store);
      LTB_CHECK(book.put_hold(desired.name, schedule::Hold{id, 0, 0}));
      done = fmt::format("lab {} is reserved until {} (reservation {})", desired.name,
                         schedule::format_local(*until), id);
    }
    return {};
  }));
  if (refused) {
    return fail(*refused);
  }
  if (done) {
    refresh_timer(session.events, store);
    session.events.notice(*done);
  }
  if (!answer.claim) {
    answer.lock.reset();
  }
  return answer;
}

} // namespace ltb::service
