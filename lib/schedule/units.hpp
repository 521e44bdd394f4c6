#pragma once
// How a scheduler gets woken when no daemon runs: systemd units (a oneshot service running
// `ltb schedule run --once` and a timer with a periodic safety wake-up, plus a drop-in whose
// OnCalendar is the next event, rewritten by refresh_wakeup whenever reservations change), or a
// cron line (every minute). `ltb schedule install` records what it installed in the state file's
// meta table, so that every ltb that changes reservations knows which drop-in to keep in step.

#include "schedule/time.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>

namespace ltb::schedule {

inline constexpr const char *k_service_name = "ltb-schedule.service";
inline constexpr const char *k_timer_name = "ltb-schedule.timer";
inline constexpr const char *k_dropin_name = "50-next-event.conf";
inline constexpr const char *k_cron_name = "ltb-schedule";
/// The periodic safety wake-up of the timer (and the longest sleep of the daemon), in seconds.
inline constexpr std::int64_t k_safety_interval = 300;

/// "2024-05-14 07:00:00 UTC": an OnCalendar= value for one instant.
std::string calendar_spec(Instant t);

/// Quotes one ExecStart= word when needed (spaces, quotes, backslashes) and escapes '%'.
std::string unit_word(const std::string &word);

std::string service_text(const std::string &ltb_path, const std::string &state_path);
std::string timer_text(const std::string &state_path);
/// The drop-in: OnCalendar= the next event (none: no OnCalendar=; the safety wake-up stays).
std::string dropin_text(std::optional<Instant> next);
/// The /etc/cron.d file.
std::string cron_text(const std::string &ltb_path, const std::string &state_path);

/// What `ltb schedule install` installed for a state file (meta "schedule.install").
struct Installation {
  std::string kind;     // "systemd" or "cron"
  std::string root;     // --root ("/" normally)
  std::string unit_dir; // systemd: ROOT/etc/systemd/system; cron: ROOT/etc/cron.d
  std::string ltb_path; // the binary the units run
  bool enabled = false; // systemd ran daemon-reload and enabled the timer
};

Result<std::optional<Installation>> installation(state::Store &store);
Status record_installation(state::Store &store, const Installation &installation);

/// Whether systemd is the init system here (what sd_booted() checks: /run/systemd/system).
bool systemd_running();

/// The path of the drop-in of an installation.
std::string dropin_path(const Installation &installation);

struct Refresh {
  bool installed = false;      // a systemd timer is installed for this state file
  bool changed = false;        // the drop-in was rewritten
  bool reloaded = false;       // systemd was told
  std::optional<Instant> next; // the next event
};

/// Brings the timer's next wake-up in step with the reservations: when a systemd timer is
/// installed for this state file, rewrites its drop-in with the next event's OnCalendar (only
/// when it changed) and, where systemd runs and the units are the live ones, reloads it. Does
/// nothing (quickly) when nothing is installed. Call it after every change of reservations; an
/// error is worth a notice, not a failure of the change itself.
Result<Refresh> refresh_wakeup(state::Store &store, Instant now);

} // namespace ltb::schedule
