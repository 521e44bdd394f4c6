// Tests of schedule/quota: parsing --quota, resolution user -> group -> default -> unlimited,
// usage at the busiest instant, and each check's refusal with its figures and proposal.
#include "schedule/quota.hpp"

#include <cstdlib>
#include <ctime>
#include <doctest/doctest.h>
#include <optional>
#include <string>

using namespace ltb;
using schedule::Quota;

namespace {

constexpr std::int64_t k_gib = 1LL << 30;

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// Local times are computed in UTC here, whatever the machine's zone.
struct Utc {
  std::optional<std::string> before;
  Utc() {
    if (const char *tz = std::getenv("TZ")) {
      before = tz;
    }
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ~Utc() {
    if (before) {
      setenv("TZ", before->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
};

} // namespace

TEST_CASE("quota: --quota parses each kind, clears with K= and K=unlimited") {
  auto changes = schedule::parse_quota_changes(
      "labs=2,nodes=10,vcpus=1.5,memory=4GiB,snapshot-disk=512MiB,hours-per-week=10,longest=2h,"
      "ahead=14d,disk=");
  REQUIRE(changes);
  schedule::QuotaSet set{{Quota::disk, 1}};
  schedule::apply_changes(set, *changes);
  CHECK(set.at(Quota::labs) == 2);
  CHECK(set.at(Quota::nodes) == 10);
  CHECK(set.at(Quota::vcpus) == 1.5);
  CHECK(set.at(Quota::memory) == 4.0 * k_gib);
  CHECK(set.at(Quota::snapshot_disk) == 512.0 * (1 << 20));
  CHECK(set.at(Quota::hours_per_week) == 36000); // a plain number is hours
  CHECK(set.at(Quota::longest) == 7200);
  CHECK(set.at(Quota::ahead) == 14 * 86400);
  CHECK_FALSE(set.count(Quota::disk));
  auto cleared = schedule::parse_quota_changes("labs=unlimited");
  REQUIRE(cleared);
  schedule::apply_changes(set, *cleared);
  CHECK_FALSE(set.count(Quota::labs));
  // Zero is a limit: nothing allowed.
  auto zero = schedule::parse_quota_changes("labs=0,longest=0");
  REQUIRE(zero);
  CHECK(zero->at(0).limit == 0.0);
  CHECK(zero->at(1).limit == 0.0);
}

TEST_CASE("quota: bad --quota text is a usage error that says what to write") {
  auto unknown = schedule::parse_quota_changes("lab=2");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "no quota named 'lab'");
  CHECK(unknown.error().help == "did you mean 'labs'?");
  CHECK(unknown.error().code == ExitCode::usage);
  auto fraction = schedule::parse_quota_changes("labs=1.5");
  REQUIRE_FALSE(fraction);
  CHECK(fraction.error().message ==
        "invalid value '1.5' for quota labs: expected a whole number, 0 or more");
  auto size = schedule::parse_quota_changes("memory=lots");
  REQUIRE_FALSE(size);
  CHECK(has(size.error().message, "expected a size"));
  auto negative = schedule::parse_quota_changes("vcpus=-1");
  REQUIRE_FALSE(negative);
  auto no_equals = schedule::parse_quota_changes("labs");
  REQUIRE_FALSE(no_equals);
  CHECK(has(no_equals.error().message, "expected NAME=VALUE"));
  CHECK_FALSE(schedule::parse_quota_changes(","));
}

TEST_CASE("quota: the state file's JSON round-trips, unknown names ignored") {
  schedule::QuotaSet set{{Quota::labs, 2}, {Quota::vcpus, 0.5}, {Quota::memory, 4.0 * k_gib}};
  const auto json = schedule::quotas_json(set);
  CHECK(json == R"({"labs":2,"memory":4294967296,"vcpus":0.5})");
  auto back = schedule::parse_quotas_json(R"({"labs":2,"memory":4294967296,"vcpus":0.5,"x":1})");
  REQUIRE(back);
  CHECK(*back == set);
  CHECK_FALSE(schedule::parse_quotas_json("[1]"));
}

TEST_CASE("quota: resolution per quota: user, then the first group that sets it, then default") {
  schedule::QuotaLayers layers;
  layers.user = {{Quota::labs, 5}};
  layers.groups = {{"students", {{Quota::labs, 2}, {Quota::memory, 4.0 * k_gib}}},
                   {"staff", {{Quota::memory, 8.0 * k_gib}, {Quota::nodes, 20}}}};
  layers.defaults = {{Quota::nodes, 10}, {Quota::vcpus, 4}, {Quota::longest, 3600}};
  auto limits = schedule::resolve_quotas(layers);
  CHECK(limits[Quota::labs].value == 5.0);
  CHECK(limits[Quota::labs].source == "user");
  CHECK(limits[Quota::memory].value == 4.0 * k_gib);
  CHECK(limits[Quota::memory].source == "group students");
  CHECK(limits[Quota::nodes].value == 20.0);
  CHECK(limits[Quota::nodes].source == "group staff");
  CHECK(limits[Quota::vcpus].value == 4.0);
  CHECK(limits[Quota::vcpus].source == "default");
  CHECK_FALSE(limits[Quota::disk].value);
  CHECK(limits[Quota::disk].source == "unlimited");
  CHECK_FALSE(schedule::unlimited(limits));

  // An admin has only what is set on their own row.
  layers.admin = true;
  auto admin = schedule::resolve_quotas(layers);
  CHECK(admin[Quota::labs].value == 5.0);
  CHECK_FALSE(admin[Quota::memory].value);
  CHECK(admin[Quota::memory].source == "admin");
  layers.user.clear();
  CHECK(schedule::unlimited(schedule::resolve_quotas(layers)));
}

TEST_CASE("quota: usage is taken at the busiest instant of the window") {
  std::vector<schedule::Holding> held{
      {"a", 0, schedule::k_forever, 1, 2, {1, k_gib, 0}},
      {"b", 100, 200, 1, 3, {2, 2 * k_gib, 0}},
      {"c", 300, 400, 1, 1, {0.5, k_gib, 0}},
  };
  auto whole = schedule::peak_usage(held, 0, 1000);
  CHECK(whole.labs == 2);
  CHECK(whole.nodes == 5);
  CHECK(whole.resources.cpus == 3);
  CHECK(whole.resources.memory_bytes == 3 * k_gib);
  CHECK(whole.lab_names == std::vector<std::string>{"a", "b"});
  auto late = schedule::peak_usage(held, 250, 1000);
  CHECK(late.labs == 2);
  CHECK(late.nodes == 3);
  CHECK(late.lab_names == std::vector<std::string>{"a", "c"});
  auto before = schedule::peak_usage(held, 0, 100);
  CHECK(before.labs == 1);
  CHECK(before.lab_names == std::vector<std::string>{"a"});
}

TEST_CASE("quota: a lab over a quota is refused with the usage, the limit and what fits") {
  schedule::QuotaLayers layers;
  layers.groups = {{"students", {{Quota::memory, 4.0 * k_gib}, {Quota::labs, 2}}}};
  const auto limits = schedule::resolve_quotas(layers);
  std::vector<schedule::Holding> others{{"a", 0, schedule::k_forever, 1, 1, {1, 3 * k_gib, 0}}};
  schedule::Holding big{"big", 0, schedule::k_forever, 1, 2, {1, 2 * k_gib, 0}};
  auto refused = schedule::check_lab_quotas(limits, others, big, "cannot deploy lab big");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "cannot deploy lab big: memory over the memory quota: it needs 2 GiB, your other labs "
        "hold 3 GiB (a), and the memory quota (from group students) is 4 GiB");
  CHECK(has(refused.error().help, "make it smaller: it may have at most 1 GiB memory"));
  CHECK(has(refused.error().help, "remove one of your labs: a"));
  CHECK(refused.error().code == ExitCode::failed);

  schedule::Holding small{"small", 0, schedule::k_forever, 1, 1, {1, k_gib, 0}};
  CHECK(schedule::check_lab_quotas(limits, others, small, "x"));
  others.push_back({"b", 0, schedule::k_forever, 1, 1, {0, 0, 0}});
  auto labs = schedule::check_lab_quotas(limits, others, {"c", 0, schedule::k_forever, 1, 0, {}},
                                         "cannot deploy lab c");
  REQUIRE_FALSE(labs);
  CHECK(has(labs.error().message, "labs over the labs quota: it needs 1, your other labs hold 2 "
                                  "(a, b), and the labs quota (from group students) is 2"));
  CHECK(has(labs.error().help, "remove one of your labs: a, b"));
}

TEST_CASE("quota: reservations: longest, ahead and hours-per-week, with what would fit") {
  Utc utc;
  const schedule::Instant monday = 1796601600; // 2026-12-07 00:00 UTC, a Monday
  REQUIRE(schedule::week_start(monday + 3 * 86400 + 5) == monday);
  const schedule::Instant now = monday + 9 * 3600; // Monday 09:00
  schedule::QuotaLayers layers;
  layers.defaults = {
      {Quota::longest, 2 * 3600}, {Quota::ahead, 7 * 86400}, {Quota::hours_per_week, 10 * 3600}};
  const auto limits = schedule::resolve_quotas(layers);

  auto longest =
      schedule::check_reservation_quotas(limits, {}, now, now + 3 * 3600, 1, now, "cannot reserve");
  REQUIRE_FALSE(longest);
  CHECK(longest.error().message == "cannot reserve: it is longer than the longest quota: it lasts "
                                   "3h, and the longest quota (from default) is 2h");
  CHECK(longest.error().help == "ask for a reservation of at most 2h (--for 2h)");

  const schedule::Instant far = now + 10 * 86400;
  auto ahead = schedule::check_reservation_quotas(limits, {}, far, far + 3600, 1, now, "x");
  REQUIRE_FALSE(ahead);
  CHECK(has(ahead.error().message, "it starts too far ahead: 10d from now"));
  CHECK(has(ahead.error().help, "book no later than 2026-12-14 09:00"));

  // 9h of other reservations this week: 2h more is over 10h, 1h fits; next week is free.
  std::vector<schedule::Window> others{{monday + 86400, monday + 86400 + 9 * 3600}};
  auto weekly = schedule::check_reservation_quotas(limits, others, now, now + 2 * 3600, 1, now,
                                                   "cannot reserve lab a");
  REQUIRE_FALSE(weekly);
  CHECK(weekly.error().message ==
        "cannot reserve lab a: over the hours-per-week quota in the week of 2026-12-07: it needs "
        "2h, your other reservations that week hold 9h, and the hours-per-week quota (from "
        "default) is 10h");
  CHECK(has(weekly.error().help, "a reservation of at most 1h in that week"));
  CHECK(schedule::check_reservation_quotas(limits, others, now, now + 3600, 1, now, "x"));
  const schedule::Instant next = monday + 7 * 86400 + 9 * 3600;
  CHECK(schedule::check_reservation_quotas(limits, others, next, next + 2 * 3600, 1, now, "x"));
  // --count 2 of 1h each needs 2h of the week.
  auto counted =
      schedule::check_reservation_quotas(limits, others, now, now + 3600, 2, now, "cannot");
  REQUIRE_FALSE(counted);
  CHECK(has(counted.error().message, "it needs 2h"));
  CHECK(has(counted.error().help, "a reservation of at most 30m in that week per lab"));
}

TEST_CASE("quota: snapshot-disk counts the user's snapshots and the new one's size") {
  schedule::QuotaLayers layers;
  layers.user = {{Quota::snapshot_disk, 1.0 * k_gib}};
  const auto limits = schedule::resolve_quotas(layers);
  CHECK(schedule::check_snapshot_quota(limits, 512LL << 20, 512LL << 20, "x"));
  auto refused =
      schedule::check_snapshot_quota(limits, 768LL << 20, 512LL << 20, "cannot snapshot lab 'a'");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "cannot snapshot lab 'a': over the snapshot-disk quota: it needs about 512 MiB, your "
        "snapshots hold 768 MiB, and the snapshot-disk quota (your own) is 1 GiB");
  CHECK(has(refused.error().help, "ltb snapshot rm"));
  CHECK(schedule::check_snapshot_quota(schedule::resolve_quotas({}), 1LL << 40, 1LL << 40, "x"));
}
