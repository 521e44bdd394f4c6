#include "service/reservations.hpp"

#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "schedule/units.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>

namespace ltb::service {

namespace {

using schedule::Booking;
using schedule::Instant;
using schedule::Resources;

Instant now_seconds() {
  return static_cast<Instant>(std::time(nullptr));
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

std::string span(Instant start, Instant end) {
  return fmt::format("{} to {} ({})", schedule::format_local_short(start),
                     schedule::format_local_short(end), schedule::format_duration(end - start));
}

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
    // Without reservations there is nothing to protect: `ltb up` stays as fast as before. The
    // lab still claims its place before the lock is released, for a reservation made meanwhile.
    LTB_TRY(claims, store.reservation_claims(now));
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
      LTB_TRY(others,
              schedule::current_bookings(store, now, capacity.config.defaults, desired.name));
      Booking candidate{covering.id, desired.name, now, *until, demand};
      auto admission = schedule::admit(others, candidate, capacity.capacity);
      if (!admission.admitted) {
        refused = refusal(fmt::format("cannot keep lab {} until {} (reservation {})", desired.name,
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
    LTB_TRY(others, schedule::current_bookings(store, now, capacity.config.defaults, desired.name));
    Booking candidate{0, desired.name, now, until.value_or(schedule::k_forever), demand};
    auto admission = schedule::check_unreserved_up(others, candidate, capacity.capacity);
    if (!admission.admitted) {
      std::string names;
      for (const auto &b : admission.conflicts) {
        names += fmt::format("{}{} (lab {}, from {})", names.empty() ? "" : ", ", b.id, b.lab,
                             schedule::format_local_short(b.start));
      }
      std::string message = fmt::format(
          "lab {} cannot start without a reservation: it would leave reservation{} {} short",
          desired.name, admission.conflicts.size() == 1 ? "" : "s", names);
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
