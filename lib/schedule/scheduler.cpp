#include "schedule/scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::schedule {

namespace {

constexpr const char *k_holds_key = "schedule.holds";
// A pass repeats while its actions make more things due (a deploy that outlasts its window); a
// state change that someone else keeps undoing must not spin forever.
constexpr int k_max_rounds = 50;

bool window_open(const state::ReservationRecord &r, Instant now) {
  return now < r.end_at;
}

bool deploys_next(const state::ReservationRecord &r, Instant now) {
  return (r.state == "pending" || r.state == "failed") && window_open(r, now);
}

std::string seconds_text(std::int64_t ms) {
  if (ms < 0) {
    ms = 0;
  }
  if (ms < 10'000) {
    return fmt::format("{:.3f} s", static_cast<double>(ms) / 1000.0);
  }
  if (ms < 60'000) {
    return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
  }
  return format_duration(ms / 1000);
}

std::string who(const state::ReservationRecord &r) {
  return fmt::format("reservation {} (lab {})", r.id, r.lab);
}

} // namespace

std::int64_t SystemClock::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- the state file ------------------------------------------------------------------------------

Result<std::vector<state::ReservationRecord>> StoreBook::reservations() {
  return m_store.reservations();
}

Result<bool> StoreBook::update(const state::ReservationRecord &r, const std::string &expected) {
  bool written = false;
  LTB_CHECK(m_store.transaction([&]() -> Status {
    LTB_TRY(current, m_store.reservation(r.id));
    if (!current || current->state != expected) {
      return {};
    }
    auto record = *current;
    record.state = r.state;
    record.reason = r.reason;
    record.attempts = r.attempts;
    record.next_attempt_at = r.next_attempt_at;
    record.updated_at = SystemClock().now();
    LTB_CHECK(m_store.put_reservation(record));
    written = true;
    return {};
  }));
  return written;
}

Result<std::map<std::string, Hold>> StoreBook::holds() {
  LTB_TRY(text, m_store.meta(k_holds_key));
  std::map<std::string, Hold> holds;
  if (!text || text->empty()) {
    return holds;
  }
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object()) {
    return fail(
        fmt::format("the scheduler's record of deployed labs (meta {}) in {} is damaged",
                    k_holds_key, m_store.path()),
        "labs deployed by reservations may have to be removed by hand (ltb down --lab); "
        "then clear it with: sqlite3 STATE \"DELETE FROM meta WHERE key='schedule.holds'\"");
  }
  for (const auto &[lab, value] : json.items()) {
    Hold hold;
    hold.reservation = value.value("reservation", std::int64_t{0});
    hold.retry_at = value.value("retry_at", std::int64_t{0});
    hold.attempts = value.value("attempts", 0);
    holds[lab] = hold;
  }
  return holds;
}

Status StoreBook::put_hold(const std::string &lab, const std::optional<Hold> &hold) {
  // Read-modify-write in one transaction: `ltb reserve` never writes this key, but two passes of
  // the same scheduler must not lose each other's holds either.
  return m_store.transaction([&]() -> Status {
    LTB_TRY(holds, this->holds());
    if (hold) {
      holds[lab] = *hold;
    } else {
      holds.erase(lab);
    }
    nlohmann::json json = nlohmann::json::object();
    for (const auto &[name, h] : holds) {
      json[name] = {
          {"reservation", h.reservation}, {"retry_at", h.retry_at}, {"attempts", h.attempts}};
    }
    return m_store.set_meta(k_holds_key, json.dump());
  });
}

Result<bool> StoreBook::lab_recorded(const std::string &lab) {
  LTB_TRY(record, m_store.lab(lab));
  return record.has_value();
}

// --- pure rules ----------------------------------------------------------------------------------

std::int64_t backoff_seconds(int failures) {
  static constexpr std::int64_t k_steps[] = {10, 30, 60, 120, 300};
  constexpr int k_count = static_cast<int>(std::size(k_steps));
  if (failures < 1) {
    return k_steps[0];
  }
  return k_steps[std::min(failures, k_count) - 1];
}

std::optional<Instant> attention_at(const state::ReservationRecord &r, const Hold *hold,
                                    Instant now) {
  const bool holds_it = hold && hold->reservation == r.id;
  // Once the window is over, a lab it deployed goes at once (or at the next removal retry).
  auto removal = [&](Instant trigger) { return std::max(trigger, holds_it ? hold->retry_at : 0); };
  if (r.state == "pending") {
    return window_open(r, now) ? r.start_at : removal(r.end_at);
  }
  if (r.state == "active") {
    return window_open(r, now) ? r.end_at : removal(r.end_at);
  }
  if (r.state == "failed") {
    if (window_open(r, now)) {
      Instant retry = std::max(r.next_attempt_at, r.start_at);
      if (retry < r.end_at) {
        return retry;
      }
      return holds_it ? std::optional<Instant>(r.end_at) : std::nullopt;
    }
    return holds_it ? std::optional<Instant>(removal(r.end_at)) : std::nullopt;
  }
  // cancelled, ended, or a state a newer ltb wrote: only a lab it still holds needs anything.
  return holds_it ? std::optional<Instant>(hold->retry_at) : std::nullopt;
}

namespace {

/// Holds whose reservation is gone (or names another lab): their labs are removed.
std::vector<std::pair<std::string, Hold>>
orphans(const std::vector<state::ReservationRecord> &reservations,
        const std::map<std::string, Hold> &holds) {
  std::map<std::int64_t, const state::ReservationRecord *> by_id;
  for (const auto &r : reservations) {
    by_id[r.id] = &r;
  }
  std::vector<std::pair<std::string, Hold>> out;
  for (const auto &[lab, hold] : holds) {
    auto it = by_id.find(hold.reservation);
    if (it == by_id.end() || it->second->lab != lab) {
      out.emplace_back(lab, hold);
    }
  }
  return out;
}

const Hold *hold_of(const std::map<std::string, Hold> &holds, const state::ReservationRecord &r) {
  auto it = holds.find(r.lab);
  return it != holds.end() && it->second.reservation == r.id ? &it->second : nullptr;
}

} // namespace

std::vector<Event> upcoming(const std::vector<state::ReservationRecord> &reservations,
                            const std::map<std::string, Hold> &holds, Instant now) {
  std::vector<Event> events;
  for (const auto &r : reservations) {
    const Hold *hold = hold_of(holds, r);
    auto at = attention_at(r, hold, now);
    if (!at) {
      continue;
    }
    std::string what;
    if (deploys_next(r, now) && *at < r.end_at) {
      what = r.state == "failed" ? "retry deploy" : "deploy";
    } else if (hold && hold->attempts > 0) {
      what = "retry removal";
    } else if (hold || r.state == "active") {
      what = "remove";
    } else {
      what = "close"; // the window passed without a deploy: only the state changes
    }
    events.push_back({*at, r.id, r.lab, what});
    // The end of a window that has a deploy (or a retry) coming is an event too.
    if ((r.state == "pending" || (r.state == "failed" && hold)) && window_open(r, now) &&
        *at < r.end_at) {
      events.push_back({r.end_at, r.id, r.lab, "remove"});
    }
  }
  for (const auto &[lab, hold] : orphans(reservations, holds)) {
    events.push_back(
        {hold.retry_at, hold.reservation, lab, hold.attempts > 0 ? "retry removal" : "remove"});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event &a, const Event &b) {
    return a.at != b.at ? a.at < b.at : a.reservation < b.reservation;
  });
  return events;
}

std::optional<Instant> next_wake(const std::vector<state::ReservationRecord> &reservations,
                                 const std::map<std::string, Hold> &holds, Instant now) {
  std::optional<Instant> wake;
  for (const auto &r : reservations) {
    if (auto at = attention_at(r, hold_of(holds, r), now)) {
      wake = wake ? std::min(*wake, *at) : *at;
    }
  }
  for (const auto &[lab, hold] : orphans(reservations, holds)) {
    wake = wake ? std::min(*wake, hold.retry_at) : hold.retry_at;
  }
  return wake;
}

std::map<std::string, state::ReservationRecord>
reserved_labs(const std::vector<state::ReservationRecord> &reservations, Instant now) {
  std::map<std::string, state::ReservationRecord> out;
  for (const auto &r : reservations) {
    const bool open = now >= r.start_at && now < r.end_at;
    if (r.state == "active" || ((r.state == "failed" || r.state == "pending") && open)) {
      // Active wins over a failed one of the same name; otherwise the later end.
      auto it = out.find(r.lab);
      if (it == out.end() || (r.state == "active" && it->second.state != "active") ||
          (r.state == it->second.state && r.end_at > it->second.end_at)) {
        out[r.lab] = r;
      }
    }
  }
  return out;
}

// --- the pass ------------------------------------------------------------------------------------

Result<PassReport> Scheduler::run_due() {
  PassReport report;
  for (int round = 0; round < k_max_rounds; ++round) {
    LTB_TRY(reservations, m_book.reservations());
    LTB_TRY(holds, m_book.holds());
    const Instant now = m_clock.now();
    std::vector<const state::ReservationRecord *> due;
    for (const auto &r : reservations) {
      auto at = attention_at(r, hold_of(holds, r), now);
      if (at && *at <= now) {
        due.push_back(&r);
      }
    }
    auto lost = orphans(reservations, holds);
    std::erase_if(lost, [&](const auto &item) { return item.second.retry_at > now; });
    if (due.empty() && lost.empty()) {
      report.next_wake = next_wake(reservations, holds, now);
      return report;
    }
    // Removals first: a lab whose window closed frees its name and capacity for one that opens
    // at the same instant (back-to-back bookings of one lab name).
    std::stable_sort(due.begin(), due.end(), [&](const auto *a, const auto *b) {
      bool da = deploys_next(*a, now);
      bool db = deploys_next(*b, now);
      if (da != db) {
        return !da;
      }
      return a->start_at != b->start_at ? a->start_at < b->start_at : a->id < b->id;
    });
    for (const auto &[lab, hold] : lost) {
      if (stopping()) {
        report.interrupted = true;
        return report;
      }
      LTB_CHECK(remove(lab, nullptr, holds, report));
      if (report.interrupted) {
        return report;
      }
    }
    for (const auto *r : due) {
      if (stopping()) {
        report.interrupted = true;
        return report;
      }
      LTB_CHECK(act(*r, holds, report));
      if (report.interrupted) {
        return report;
      }
    }
  }
  m_log(fmt::format("giving up on this pass after {} rounds: the reservations keep changing; "
                    "the next pass tries again",
                    k_max_rounds));
  LTB_TRY(reservations, m_book.reservations());
  LTB_TRY(holds, m_book.holds());
  report.next_wake = next_wake(reservations, holds, m_clock.now());
  return report;
}

Status Scheduler::act(const state::ReservationRecord &r, std::map<std::string, Hold> &holds,
                      PassReport &report) {
  const Instant now = m_clock.now();
  if (deploys_next(r, now)) {
    return deploy(r, holds, report);
  }
  if (r.state == "active" && window_open(r, now)) {
    return {}; // not due (the end moved while this pass ran)
  }
  // The window is over, or the reservation was cancelled or ended: its lab goes first.
  const bool held = hold_of(holds, r) != nullptr;
  if (held) {
    LTB_CHECK(remove(r.lab, &r, holds, report));
    if (report.interrupted || holds.count(r.lab)) {
      return {}; // removal failed (recorded on the hold) or was interrupted
    }
  }
  auto updated = r;
  if (r.state == "active" || (r.state == "pending" && held)) {
    updated.state = "ended";
    updated.reason.clear();
    if (!held) {
      m_log(fmt::format("{}: ended; its lab was no longer the one this reservation deployed, so "
                        "it was left alone",
                        who(r)));
    }
  } else if (r.state == "pending") {
    updated.state = "failed";
    updated.reason = fmt::format("missed: no scheduler ran between its start ({}) and its end ({})",
                                 format_local(r.start_at), format_local(r.end_at));
    m_log(fmt::format("{}: {}", who(r), updated.reason));
  } else if (r.state == "failed") {
    updated.next_attempt_at = 0;
  }
  if (updated.state != r.state || updated.reason != r.reason ||
      updated.next_attempt_at != r.next_attempt_at) {
    LTB_CHECK(write(updated, r, report));
  }
  return {};
}

Status Scheduler::deploy(const state::ReservationRecord &r, std::map<std::string, Hold> &holds,
                         PassReport &report) {
  const Instant now = m_clock.now();
  auto updated = r;
  auto held = holds.find(r.lab);
  LTB_TRY(recorded, m_book.lab_recorded(r.lab));
  std::string reason;
  if (recorded && held == holds.end()) {
    reason = fmt::format("a lab named {} exists already, deployed outside any reservation; it is "
                         "left alone: remove it (ltb down --lab {}) and the next retry deploys",
                         r.lab, r.lab);
  } else if (recorded && held->second.reservation != r.id) {
    reason = fmt::format("lab {} is still deployed for reservation {}, whose removal has not "
                         "finished",
                         r.lab, held->second.reservation);
  } else {
    Hold hold;
    hold.reservation = r.id;
    LTB_CHECK(m_book.put_hold(r.lab, hold));
    holds[r.lab] = hold;
    const std::int64_t started_ms = m_clock.now_ms();
    auto deployed = m_deployer.deploy(r);
    const std::int64_t took_ms = m_clock.now_ms() - started_ms;
    if (!deployed && deployed.error().code == ExitCode::interrupted) {
      m_log(fmt::format("{}: deploy interrupted; the next pass resumes it", who(r)));
      report.interrupted = true;
      return {};
    }
    if (deployed) {
      updated.state = "active";
      updated.reason.clear();
      updated.attempts = 0;
      updated.next_attempt_at = 0;
      const std::int64_t late_ms = started_ms - r.start_at * 1000;
      m_log(fmt::format("{}: deployed; started {} after its start time{} and took {}", who(r),
                        seconds_text(late_ms),
                        late_ms >= 60'000 ? " (a missed start, caught up)" : "",
                        seconds_text(took_ms)));
      ++report.deployed;
      return write(updated, r, report);
    }
    reason = deployed.error().message;
  }
  updated.state = "failed";
  updated.reason = reason;
  updated.attempts = r.attempts + 1;
  const Instant retry = now + backoff_seconds(updated.attempts);
  // A retry that would fall after the window is none: at the end only the cleanup is left.
  updated.next_attempt_at = std::min(retry, r.end_at);
  m_log(fmt::format("{}: deploy failed (attempt {}): {}; {}", who(r), updated.attempts, reason,
                    retry < r.end_at
                        ? "next try at " + format_local(retry)
                        : "no more tries: the window closes at " + format_local(r.end_at)));
  ++report.failed;
  return write(updated, r, report);
}

Status Scheduler::remove(const std::string &lab, const state::ReservationRecord *r,
                         std::map<std::string, Hold> &holds, PassReport &report) {
  Hold hold = holds.count(lab) ? holds[lab] : Hold{};
  const std::string subject =
      r ? who(*r) : fmt::format("lab {} (of reservation {}, which is gone)", lab, hold.reservation);
  const std::int64_t started_ms = m_clock.now_ms();
  auto removed = m_deployer.remove(lab);
  if (!removed && removed.error().code == ExitCode::interrupted) {
    m_log(fmt::format("{}: removal interrupted; the next pass finishes it", subject));
    report.interrupted = true;
    return {};
  }
  if (removed) {
    LTB_CHECK(m_book.put_hold(lab, std::nullopt));
    holds.erase(lab);
    std::string why = !r                        ? "its reservation is gone"
                      : r->state == "cancelled" ? "the reservation was cancelled"
                      : r->state == "failed"    ? "what a failed deploy left"
                                                : "its window ended";
    std::string when;
    if (r && r->state != "cancelled" && r->state != "ended") {
      when = fmt::format(", started {} after its end", seconds_text(started_ms - r->end_at * 1000));
    }
    m_log(fmt::format("{}: lab removed ({}){}; took {}", subject, why, when,
                      seconds_text(m_clock.now_ms() - started_ms)));
    ++report.removed;
    ++report.changed;
    return {};
  }
  const Instant now = m_clock.now();
  hold.attempts += 1;
  hold.retry_at = now + backoff_seconds(hold.attempts);
  LTB_CHECK(m_book.put_hold(lab, hold));
  holds[lab] = hold;
  m_log(fmt::format("{}: removing lab {} failed (attempt {}): {}; next try at {}", subject, lab,
                    hold.attempts, removed.error().message, format_local(hold.retry_at)));
  ++report.failed;
  if (r && r->state == "active") {
    // Stays active (the lab is still there), with the reason for `ltb reserve list`.
    auto updated = *r;
    updated.reason = "removal failed: " + removed.error().message;
    if (updated.reason != r->reason) {
      LTB_CHECK(write(updated, *r, report));
    }
  }
  return {};
}

Status Scheduler::write(state::ReservationRecord updated, const state::ReservationRecord &before,
                        PassReport &report) {
  LTB_TRY(written, m_book.update(updated, before.state));
  if (!written) {
    m_log(fmt::format("{}: changed by someone else meanwhile (now not {}); looking again",
                      who(before), before.state));
    return {};
  }
  ++report.changed;
  return {};
}

} // namespace ltb::schedule
