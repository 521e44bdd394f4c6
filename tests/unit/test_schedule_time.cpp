// Tests of lib/schedule/time: times and durations as written on the command line, in several
// time zones and across daylight saving time changes.

#include "schedule/time.hpp"

#include <cstdlib>
#include <ctime>
#include <doctest/doctest.h>
#include <optional>
#include <string>

using namespace ltb::schedule;

namespace {

/// Sets TZ for the test's lifetime and restores the previous value.
class ZoneGuard {
public:
  explicit ZoneGuard(const char *zone) {
    if (const char *old = std::getenv("TZ")) {
      m_old = old;
    }
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ZoneGuard() {
    if (m_old) {
      ::setenv("TZ", m_old->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ZoneGuard(const ZoneGuard &) = delete;
  ZoneGuard &operator=(const ZoneGuard &) = delete;

private:
  std::optional<std::string> m_old;
};

constexpr Instant k_now = 1715670000; // 2024-05-14T07:00:00Z

Instant ok(const std::string &text, Instant now = k_now) {
  auto t = parse_time(text, now);
  if (!t) {
    FAIL("parse_time('", text, "') failed: ", t.error().message);
  }
  return *t;
}

ltb::Error bad(const std::string &text) {
  auto t = parse_time(text, k_now);
  REQUIRE_MESSAGE(!t, "'", text, "' parsed as ", (t ? *t : 0));
  CHECK(t.error().code == ltb::ExitCode::usage);
  // Every error quotes what was written, so the user sees which argument is wrong.
  CHECK_MESSAGE(t.error().message.find("'" + text + "'") != std::string::npos, t.error().message);
  CHECK(!t.error().help.empty());
  return t.error();
}

std::int64_t dur(const std::string &text) {
  auto d = parse_duration(text);
  if (!d) {
    FAIL("parse_duration('", text, "') failed: ", d.error().message);
  }
  return *d;
}

} // namespace

TEST_CASE("time: now and relative times") {
  ZoneGuard zone("Europe/Zurich");
  CHECK(ok("now") == k_now);
  CHECK(ok(" NOW ") == k_now);
  CHECK(ok("+30m") == k_now + 1800);
  CHECK(ok("+2h") == k_now + 7200);
  CHECK(ok("+1d") == k_now + 86400);
  CHECK(ok("+1h30m") == k_now + 5400);
  CHECK(ok("+45s") == k_now + 45);
  CHECK(ok("+30m", 1000) == 2800); // relative to the now given, not the clock
}

TEST_CASE("time: ISO 8601 with Z or an offset ignores the local zone") {
  for (const char *tz : {"UTC", "Europe/Zurich", "America/New_York", "Australia/Lord_Howe"}) {
    ZoneGuard zone(tz);
    CAPTURE(tz);
    CHECK(ok("2024-05-14T07:00Z") == 1715670000);
    CHECK(ok("2024-05-14T07:00:00Z") == 1715670000);
    CHECK(ok("2024-05-14t07:00z") == 1715670000);
    CHECK(ok("2024-05-14T09:00+02:00") == 1715670000);
    CHECK(ok("2024-05-14T09:00+0200") == 1715670000);
    CHECK(ok("2024-05-14T09:00+02") == 1715670000);
    CHECK(ok("2024-05-14 09:00:00+02:00") == 1715670000);
    CHECK(ok("2024-05-14T01:30-05:30") == 1715670000);
    CHECK(ok("2024-05-14T07:00+00:00") == 1715670000);
  }
}

TEST_CASE("time: without an offset a time is local, by the TZ rules") {
  {
    ZoneGuard zone("Europe/Zurich");
    CHECK(ok("2024-05-14T09:00") == 1715670000); // CEST, +02:00
    CHECK(ok("2024-05-14 09:00") == 1715670000);
    CHECK(ok("2024-05-14T09:00:00") == 1715670000);
    CHECK(ok("2024-01-10T09:00") == 1704873600); // CET, +01:00
    CHECK(ok("2024-05-14") == 1715637600);       // local midnight
  }
  {
    ZoneGuard zone("UTC");
    CHECK(ok("2024-05-14T07:00") == 1715670000);
  }
  {
    ZoneGuard zone("America/New_York");
    CHECK(ok("2024-05-14T09:00") == 1715691600); // EDT, -04:00
  }
}

TEST_CASE("time: DST starts in Europe/Zurich: 02:00-03:00 local does not exist") {
  ZoneGuard zone("Europe/Zurich");
  CHECK(ok("2024-03-31T01:59:59") == 1711846799);
  CHECK(ok("2024-03-31T03:00:00") == 1711846800); // one second after 01:59:59
  for (const char *gap : {"2024-03-31T02:00", "2024-03-31T02:30", "2024-03-31T02:59:59"}) {
    CAPTURE(gap);
    auto e = bad(gap);
    CHECK(e.message.find("does not exist") != std::string::npos);
    CHECK(e.message.find("Europe/Zurich") != std::string::npos);
    CHECK(e.help.find("+01:00") != std::string::npos);
  }
  // With an offset the same wall time is an instant like any other.
  CHECK(ok("2024-03-31T02:30+01:00") == 1711846800 + 1800);
}

TEST_CASE("time: DST ends in Europe/Zurich: 02:00-03:00 local happens twice") {
  ZoneGuard zone("Europe/Zurich");
  auto e = bad("2024-10-27T02:30");
  CHECK(e.message.find("happens twice") != std::string::npos);
  CHECK(e.help.find("2024-10-27T02:30+02:00 (the first)") != std::string::npos);
  CHECK(e.help.find("2024-10-27T02:30+01:00 (the second)") != std::string::npos);
  const Instant first = ok("2024-10-27T02:30+02:00");
  const Instant second = ok("2024-10-27T02:30+01:00");
  CHECK(first == 1729989000);
  CHECK(second - first == 3600);
  CHECK(ok("2024-10-27T01:59:59") == 1729987199);
  CHECK(ok("2024-10-27T03:00") == 1729994400);
  // Formatting tells the two apart by their offsets.
  CHECK(format_local(first) == "2024-10-27T02:30:00+02:00");
  CHECK(format_local(second) == "2024-10-27T02:30:00+01:00");
  // A relative time across the change counts real seconds, not wall-clock hours.
  CHECK(ok("+2h", ok("2024-10-27T01:30")) - ok("2024-10-27T01:30") == 7200);
  CHECK(format_local(ok("+2h", ok("2024-10-27T01:30"))) == "2024-10-27T02:30:00+01:00");
}

TEST_CASE("time: Lord Howe's half-hour DST change is found too") {
  ZoneGuard zone("Australia/Lord_Howe");
  // Clocks go from 02:00 to 02:30 on 2024-10-06.
  auto e = bad("2024-10-06T02:15");
  CHECK(e.message.find("does not exist") != std::string::npos);
  CHECK(ok("2024-10-06T02:30") - ok("2024-10-06T01:59") == 60);
}

TEST_CASE("time: bad times are refused with the text and the accepted forms") {
  ZoneGuard zone("Europe/Zurich");
  auto e = bad("tomorrow");
  CHECK(e.help.find("+30m") != std::string::npos);
  bad("");
  bad("+");
  bad("+5x");
  bad("+0m");
  bad("-5m");
  bad("09:00");
  bad("2024-13-01");
  bad("2024-00-10");
  bad("2024-02-30");
  bad("2023-02-29");
  bad("2024-05-14T9:00");
  bad("2024-05-14T24:00");
  bad("2024-05-14T09:60");
  bad("2024-05-14T09:00:61");
  bad("2024-05-14T09:00 extra");
  bad("2024-05-14T09:00+2");
  bad("2024-05-14T09:00+25:00");
  bad("2024-05-14Z");
  bad("24-05-14");
  CHECK(bad("2024-02-30").message.find("no day 30") != std::string::npos);
  CHECK(ok("2024-02-29T12:00Z") == ok("2024-03-01T12:00Z") - 86400); // a leap year
}

TEST_CASE("time: durations") {
  CHECK(dur("90m") == 5400);
  CHECK(dur("2h") == 7200);
  CHECK(dur("1h30m") == 5400);
  CHECK(dur("1d") == 86400);
  CHECK(dur("45s") == 45);
  CHECK(dur("1d2h3m4s") == 86400 + 7200 + 180 + 4);
  CHECK(dur("2H") == 7200);
  CHECK(dur(" 10m ") == 600);
  for (const char *text : {"", "m", "30", "0m", "0h0m", "1m1h", "1h1h", "1x", "1.5h", "-1h",
                           "1h 30m", "99999999999999999999d"}) {
    CAPTURE(text);
    auto d = parse_duration(text);
    REQUIRE(!d);
    CHECK(d.error().code == ltb::ExitCode::usage);
    CHECK(d.error().message.find(std::string("'") + text + "'") != std::string::npos);
  }
  CHECK(parse_duration("1m1h").error().message.find("out of order") != std::string::npos);
  CHECK(parse_duration("1x").error().message.find("unknown unit 'x'") != std::string::npos);
}

TEST_CASE("time: formatting") {
  {
    ZoneGuard zone("Europe/Zurich");
    CHECK(format_local(1715670000) == "2024-05-14T09:00:00+02:00");
    CHECK(format_local(1704873600) == "2024-01-10T09:00:00+01:00");
    CHECK(format_local_short(1715670000) == "2024-05-14 09:00");
    CHECK(format_utc(1715670000) == "2024-05-14T07:00:00Z");
    // Round trip through the text a user would copy from `reserve show`.
    CHECK(ok(format_local(1729992600)) == 1729992600);
  }
  {
    ZoneGuard zone("America/New_York");
    CHECK(format_local(1715670000) == "2024-05-14T03:00:00-04:00");
    CHECK(format_utc(1715670000) == "2024-05-14T07:00:00Z");
  }
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(-5) == "0s");
  CHECK(format_duration(45) == "45s");
  CHECK(format_duration(330) == "5m");
  CHECK(format_duration(3600) == "1h");
  CHECK(format_duration(4800) == "1h 20m");
  CHECK(format_duration(2 * 86400) == "2d");
  CHECK(format_duration(3 * 86400 + 4 * 3600 + 59) == "3d 4h");
  CHECK(format_time_left(k_now + 4800, k_now) == "1h 20m left");
  CHECK(format_time_left(k_now, k_now) == "ended");
  CHECK(format_time_left(k_now - 1, k_now) == "ended");
  CHECK(format_time_left(k_forever, k_now) == "-");
}
