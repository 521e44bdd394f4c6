#pragma once
// Points in time and durations as users write them on the command line, and back. Pure functions:
// `now` is always a parameter (unix seconds, UTC), so tests and the scheduler's fake clock decide
// what "now" is. Local time follows the machine's TZ rules (TZ, else /etc/localtime) through
// localtime_r: GCC 12's <chrono> has no time zone database. This folder (schedule) holds
// reservations, capacity and timers; it may depend on util/, topology/ and state/.

#include "util/error.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace ltb::schedule {

/// An instant as unix seconds (UTC). Reservations are stored this way.
using Instant = std::int64_t;

/// The end of an open-ended window (a lab deployed without --until).
inline constexpr Instant k_forever = std::numeric_limits<Instant>::max();

/// Parses a point in time:
///   now                      `now`
///   +30m, +2h, +1d, +1h30m   now plus a duration (see parse_duration)
///   2024-05-14T09:00[:SS]    local time (a space instead of T works too)
///   2024-05-14T09:00Z        UTC
///   2024-05-14T09:00+02:00   explicit offset (+0200 and +02 work too)
///   2024-05-14               local midnight
/// A local time that does not exist (skipped by a DST change) or exists twice (repeated by one)
/// is an error whose help gives the offsets to choose from. Errors quote the text and exit 2.
Result<Instant> parse_time(std::string_view text, Instant now);

/// Parses a duration: one or more NUMBER UNIT groups, units d, h, m, s: `90m`, `2h`, `1h30m`,
/// `1d`, `45s`. Must be positive. Errors quote the text and exit 2.
Result<std::int64_t> parse_duration(std::string_view text);

/// "2024-05-14T09:00:00+02:00": local time with its offset (what `reserve show` prints).
std::string format_local(Instant t);

/// "2024-05-14 09:00": local time, to the minute, for tables.
std::string format_local_short(Instant t);

/// "2024-05-14T07:00:00Z" (JSON output).
std::string format_utc(Instant t);

/// A compact duration: "45s", "5m", "1h 20m", "3d 4h" (two largest units; seconds only under a
/// minute). Negative values are printed as 0s.
std::string format_duration(std::int64_t seconds);

/// Time until `end` as a status column: "1h 20m left", or "ended" once `now` >= `end`;
/// "-" for k_forever.
std::string format_time_left(Instant end, Instant now);

} // namespace ltb::schedule
