#include "schedule/time.hpp"

#include <array>
#include <cctype>
#include <ctime>
#include <fmt/format.h>
#include <optional>
#include <set>
#include <vector>

namespace ltb::schedule {

namespace {

constexpr std::int64_t k_minute = 60;
constexpr std::int64_t k_hour = 60 * k_minute;
constexpr std::int64_t k_day = 24 * k_hour;
// Far enough for any booking, small enough that seconds never overflow: year 9999.
constexpr std::int64_t k_max_seconds = 253402300799;

constexpr const char *k_time_forms =
    "write an ISO 8601 time (2024-05-14T09:00, 2024-05-14 09:00, 2024-05-14T09:00+02:00, "
    "2024-05-14T07:00Z, 2024-05-14), `now`, or now plus a duration (+30m, +2h, +1d, +1h30m)";

constexpr const char *k_duration_forms =
    "write NUMBER followed by d, h, m or s, largest unit first: 90m, 2h, 1h30m, 1d, 45s";

tl::unexpected<Error> bad_time(std::string_view text, const std::string &why) {
  return fail(fmt::format("invalid time '{}': {}", text, why), k_time_forms, ExitCode::usage);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> k_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : k_days[static_cast<std::size_t>(m - 1)];
}

/// A tiny cursor over the text being parsed.
struct Cursor {
  std::string_view text;
  std::size_t pos = 0;

  bool done() const { return pos >= text.size(); }
  char peek() const { return done() ? '\0' : text[pos]; }
  bool eat(char c) {
    if (peek() == c) {
      ++pos;
      return true;
    }
    return false;
  }
  /// Exactly `count` digits.
  std::optional<int> digits(int count) {
    int value = 0;
    for (int i = 0; i < count; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(peek()))) {
        return std::nullopt;
      }
      value = value * 10 + (text[pos] - '0');
      ++pos;
    }
    return value;
  }
};

std::string offset_text(long offset) {
  const char sign = offset < 0 ? '-' : '+';
  const long a = offset < 0 ? -offset : offset;
  return fmt::format("{}{:02}:{:02}", sign, a / 3600, (a % 3600) / 60);
}

long local_offset(Instant t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm.tm_gmtoff;
}

std::string zone_name() {
  tzset();
  if (const char *tz = std::getenv("TZ"); tz != nullptr && *tz != '\0') {
    return *tz == ':' ? std::string(tz + 1) : std::string(tz);
  }
  return tzname[1] != nullptr && std::string(tzname[0]) != tzname[1]
             ? fmt::format("{}/{}", tzname[0], tzname[1])
             : std::string(tzname[0]);
}

/// The instants whose local wall clock reads `wall` (seconds since the epoch as if it were UTC):
/// none in a gap skipped by a DST change, two in an hour repeated by one, else one.
std::vector<Instant> local_candidates(std::int64_t wall) {
  tzset();
  // Any offset in force near the wall time is one of those in force two days either side or at
  // it; no zone changes its offset twice within two days.
  std::set<long> offsets{local_offset(wall - 2 * k_day), local_offset(wall),
                         local_offset(wall + 2 * k_day)};
  std::set<Instant> found;
  for (long offset : offsets) {
    const Instant t = wall - offset;
    if (local_offset(t) == offset) {
      found.insert(t);
    }
  }
  return {found.begin(), found.end()};
}

Result<Instant> parse_iso(std::string_view text) {
  Cursor c{text};
  const auto year = c.digits(4);
  if (!year || !c.eat('-')) {
    return bad_time(text, "expected a date as YYYY-MM-DD");
  }
  const auto month = c.digits(2);
  if (!month || !c.eat('-')) {
    return bad_time(text, "expected a date as YYYY-MM-DD");
  }
  const auto day = c.digits(2);
  if (!day) {
    return bad_time(text, "expected a date as YYYY-MM-DD");
  }
  if (*month < 1 || *month > 12) {
    return bad_time(text, fmt::format("there is no month {}", *month));
  }
  if (*day < 1 || *day > days_in_month(*year, *month)) {
    return bad_time(text, fmt::format("{:04}-{:02} has no day {}", *year, *month, *day));
  }
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool has_clock = false;
  if (c.eat('T') || c.eat('t') || c.eat(' ')) {
    has_clock = true;
    const auto h = c.digits(2);
    if (!h || !c.eat(':')) {
      return bad_time(text, "expected a time of day as HH:MM or HH:MM:SS after the date");
    }
    const auto m = c.digits(2);
    if (!m) {
      return bad_time(text, "expected a time of day as HH:MM or HH:MM:SS after the date");
    }
    if (c.eat(':')) {
      const auto s = c.digits(2);
      if (!s) {
        return bad_time(text, "expected two digits of seconds after HH:MM:");
      }
      second = *s;
    }
    hour = *h;
    minute = *m;
    if (hour > 23 || minute > 59 || second > 59) {
      return bad_time(text,
                      fmt::format("{:02}:{:02}:{:02} is not a time of day", hour, minute, second));
    }
  }
  const std::int64_t wall =
      days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) * k_day +
      hour * k_hour + minute * k_minute + second;
  std::optional<long> offset;
  if (c.eat('Z') || c.eat('z')) {
    offset = 0;
  } else if (c.peek() == '+' || c.peek() == '-') {
    const int sign = c.peek() == '-' ? -1 : 1;
    ++c.pos;
    const auto oh = c.digits(2);
    std::optional<int> om = 0;
    if (oh && !c.done()) {
      const bool colon = c.eat(':');
      om = c.digits(2);
      if (!om && !colon) {
        om = std::nullopt;
      }
    }
    if (!oh || !om || *oh > 23 || *om > 59) {
      return bad_time(text, "expected an offset as Z, +HH:MM, +HHMM or +HH");
    }
    offset = sign * (*oh * 3600L + *om * 60L);
  }
  if (!c.done()) {
    return bad_time(text,
                    fmt::format("unexpected '{}' at position {}", text.substr(c.pos), c.pos + 1));
  }
  if (offset && !has_clock) {
    return bad_time(text, "an offset needs a time of day, like 2024-05-14T00:00Z");
  }
  if (offset) {
    return wall - *offset;
  }
  const auto candidates = local_candidates(wall);
  const std::string written(text);
  if (candidates.empty()) {
    return fail(fmt::format("invalid time '{}': it does not exist in the local time zone ({}): the "
                            "clocks skip it when daylight saving time starts",
                            written, zone_name()),
                fmt::format("give a time outside the skipped hour, or an explicit offset such as "
                            "{}{}",
                            written, offset_text(local_offset(wall - 2 * k_day))),
                ExitCode::usage);
  }
  if (candidates.size() > 1) {
    return fail(fmt::format("invalid time '{}': it happens twice in the local time zone ({}): the "
                            "clocks go back when daylight saving time ends",
                            written, zone_name()),
                fmt::format("say which with an offset: {}{} (the first) or {}{} (the second)",
                            written, offset_text(local_offset(candidates.front())), written,
                            offset_text(local_offset(candidates.back()))),
                ExitCode::usage);
  }
  return candidates.front();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::tm local_tm(Instant t) {
  tzset();
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm;
}

} // namespace

Result<std::int64_t> parse_duration(std::string_view text) {
  const std::string_view given = text;
  text = trim(text);
  if (text.empty()) {
    return fail("invalid duration '': it is empty", k_duration_forms, ExitCode::usage);
  }
  static constexpr std::array<std::pair<char, std::int64_t>, 4> k_units{
      {{'d', k_day}, {'h', k_hour}, {'m', k_minute}, {'s', 1}}};
  std::int64_t total = 0;
  std::size_t next_unit = 0; // units must come largest first, each once
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    const std::size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (number > k_max_seconds) {
        return fail(fmt::format("invalid duration '{}': it is too long", given), k_duration_forms,
                    ExitCode::usage);
      }
      number = number * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) {
      return fail(
          fmt::format("invalid duration '{}': expected a number at '{}'", given, text.substr(pos)),
          k_duration_forms, ExitCode::usage);
    }
    if (pos == text.size()) {
      return fail(fmt::format("invalid duration '{}': '{}' has no unit", given, text.substr(start)),
                  k_duration_forms, ExitCode::usage);
    }
    const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(text[pos])));
    std::size_t index = next_unit;
    while (index < k_units.size() && k_units[index].first != unit) {
      ++index;
    }
    if (index == k_units.size()) {
      const bool known = unit == 'd' || unit == 'h' || unit == 'm' || unit == 's';
      return fail(fmt::format("invalid duration '{}': {}", given,
                              known ? fmt::format("unit '{}' is out of order or repeated", unit)
                                    : fmt::format("unknown unit '{}'", text[pos])),
                  k_duration_forms, ExitCode::usage);
    }
    ++pos;
    next_unit = index + 1;
    total += number * k_units[index].second;
    if (total > k_max_seconds) {
      return fail(fmt::format("invalid duration '{}': it is too long", given), k_duration_forms,
                  ExitCode::usage);
    }
  }
  if (total <= 0) {
    return fail(fmt::format("invalid duration '{}': it must be longer than zero", given),
                k_duration_forms, ExitCode::usage);
  }
  return total;
}

Result<Instant> parse_time(std::string_view text, Instant now) {
  const std::string_view given = text;
  text = trim(text);
  if (text.empty()) {
    return bad_time(given, "it is empty");
  }
  if (iequals(text, "now")) {
    return now;
  }
  if (text.front() == '+') {
    auto duration = parse_duration(text.substr(1));
    if (!duration) {
      return bad_time(given, "after '+' comes a duration: NUMBER followed by d, h, m or s, "
                             "largest unit first (+30m, +2h, +1d, +1h30m)");
    }
    return now + *duration;
  }
  if (text.front() == '-' || std::isalpha(static_cast<unsigned char>(text.front()))) {
    return bad_time(given, "neither `now`, a relative time nor an ISO 8601 date");
  }
  if (text.size() <= 5 && text.find(':') != std::string_view::npos) {
    return bad_time(given, "a time of day needs its date, like 2024-05-14T09:00");
  }
  return parse_iso(text);
}

std::string format_local(Instant t) {
  const std::tm tm = local_tm(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, offset_text(tm.tm_gmtoff));
}

std::string format_local_short(Instant t) {
  const std::tm tm = local_tm(t);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
}

std::string format_utc(Instant t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_duration(std::int64_t seconds) {
  if (seconds < k_minute) {
    return fmt::format("{}s", seconds < 0 ? 0 : seconds);
  }
  const std::int64_t days = seconds / k_day;
  const std::int64_t hours = seconds % k_day / k_hour;
  const std::int64_t minutes = seconds % k_hour / k_minute;
  auto pair = [](std::int64_t big, char big_unit, std::int64_t small, char small_unit) {
    return small == 0 ? fmt::format("{}{}", big, big_unit)
                      : fmt::format("{}{} {}{}", big, big_unit, small, small_unit);
  };
  if (days > 0) {
    return pair(days, 'd', hours, 'h');
  }
  if (hours > 0) {
    return pair(hours, 'h', minutes, 'm');
  }
  return fmt::format("{}m", minutes);
}

std::string format_time_left(Instant end, Instant now) {
  if (end == k_forever) {
    return "-";
  }
  if (now >= end) {
    return "ended";
  }
  return format_duration(end - now) + " left";
}

} // namespace ltb::schedule
