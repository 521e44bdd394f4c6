// The scheduler as a state machine: a fake clock, a fake deployer and an in-memory book.
#include "schedule/scheduler.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <functional>
#include <set>

namespace {

using ltb::ExitCode;
using ltb::Result;
using ltb::Status;
using ltb::schedule::Hold;
using ltb::schedule::Instant;
using ltb::state::ReservationRecord;

struct FakeClock : ltb::schedule::Clock {
  std::int64_t ms = 0;
  std::int64_t now_ms() override { return ms; }
  void set(Instant seconds) { ms = seconds * 1000; }
};

/// The state file in memory, with the same "expected state" rule as StoreBook.
struct FakeBook : ltb::schedule::Book {
  std::vector<ReservationRecord> rows;
  std::map<std::string, Hold> hold_map;
  std::set<std::string> labs; // labs the "state file" records
  int writes = 0;

  Result<std::vector<ReservationRecord>> reservations() override { return rows; }
  Result<bool> update(const ReservationRecord &r, const std::string &expected) override {
    for (auto &row : rows) {
      if (row.id == r.id) {
        if (row.state != expected) {
          return false;
        }
        row.state = r.state;
        row.reason = r.reason;
        row.attempts = r.attempts;
        row.next_attempt_at = r.next_attempt_at;
        ++writes;
        return true;
      }
    }
    return false;
  }
  Result<std::map<std::string, Hold>> holds() override { return hold_map; }
  Status put_hold(const std::string &lab, const std::optional<Hold> &hold) override {
    if (hold) {
      hold_map[lab] = *hold;
    } else {
      hold_map.erase(lab);
    }
    ++writes;
    return {};
  }
  Result<bool> lab_recorded(const std::string &lab) override { return labs.count(lab) > 0; }

  ReservationRecord &add(std::int64_t id, const std::string &lab, Instant start, Instant end) {
    ReservationRecord r;
    r.id = id;
    r.lab = lab;
    r.owner = "teacher";
    r.topology_text = "name: " + lab + "\n";
    r.start_at = start;
    r.end_at = end;
    r.state = "pending";
    rows.push_back(r);
    return rows.back();
  }
  ReservationRecord &get(std::int64_t id) {
    for (auto &row : rows) {
      if (row.id == id) {
        return row;
      }
    }
    FAIL("no reservation " << id);
    return rows.front();
  }
};

/// Deploys into the fake book's lab set. `fail_deploys` failures come first (a failed deploy
/// leaves a partial lab recorded, as `ltb up` does); `on_deploy` runs during a deploy.
struct FakeDeployer : ltb::schedule::Deployer {
  FakeBook &book;
  FakeClock &clock;
  int fail_deploys = 0;
  int fail_removes = 0;
  bool interrupt = false;
  std::int64_t deploy_ms = 0; // time a deploy takes on the fake clock
  std::function<void()> on_deploy;
  std::vector<std::string> calls; // "deploy LAB" / "remove LAB", in order
  std::vector<std::int64_t> deploy_started_ms;

  FakeDeployer(FakeBook &b, FakeClock &c) : book(b), clock(c) {}

  Status deploy(const ReservationRecord &r) override {
    calls.push_back("deploy " + r.lab);
    deploy_started_ms.push_back(clock.ms);
    if (interrupt) {
      return ltb::fail("interrupted", "", ExitCode::interrupted);
    }
    clock.ms += deploy_ms;
    book.labs.insert(r.lab);
    if (on_deploy) {
      on_deploy();
    }
    if (fail_deploys > 0) {
      --fail_deploys;
      return ltb::fail("docker: image ltb/missing not found");
    }
    return {};
  }
  Status remove(const std::string &lab) override {
    calls.push_back("remove " + lab);
    if (fail_removes > 0) {
      --fail_removes;
      return ltb::fail("docker does not answer");
    }
    book.labs.erase(lab);
    return {};
  }
};

struct Fixture {
  FakeClock clock;
  FakeBook book;
  FakeDeployer deployer{book, clock};
  std::vector<std::string> log;
  ltb::schedule::Scheduler scheduler{book, deployer, clock,
                                     [this](const std::string &line) { log.push_back(line); }};

  ltb::schedule::PassReport run_at(Instant t) {
    clock.set(t);
    auto report = scheduler.run_due();
    REQUIRE_MESSAGE(report.has_value(), (report ? "" : report.error().message));
    return *report;
  }
  bool logged(const std::string &part) const {
    return std::any_of(log.begin(), log.end(),
                       [&](const auto &line) { return line.find(part) != std::string::npos; });
  }
};

} // namespace

TEST_CASE("backoff grows from 10 s to a 5 min cap") {
  using ltb::schedule::backoff_seconds;
  CHECK(backoff_seconds(1) == 10);
  CHECK(backoff_seconds(2) == 30);
  CHECK(backoff_seconds(3) == 60);
  CHECK(backoff_seconds(4) == 120);
  CHECK(backoff_seconds(5) == 300);
  CHECK(backoff_seconds(50) == 300);
}

TEST_CASE("a due reservation deploys at its start and is removed at its end") {
  Fixture f;
  f.book.add(1, "class-1", 1000, 2000);

  auto early = f.run_at(999);
  CHECK(f.deployer.calls.empty());
  REQUIRE(early.next_wake);
  CHECK(*early.next_wake == 1000);
  CHECK(f.book.get(1).state == "pending");

  auto start = f.run_at(1000);
  CHECK(start.deployed == 1);
  CHECK(f.deployer.calls == std::vector<std::string>{"deploy class-1"});
  CHECK(f.book.get(1).state == "active");
  CHECK(f.book.hold_map.at("class-1").reservation == 1);
  REQUIRE(start.next_wake);
  CHECK(*start.next_wake == 2000);

  auto middle = f.run_at(1500);
  CHECK(middle.changed == 0);
  CHECK(f.deployer.calls.size() == 1);

  auto end = f.run_at(2000);
  CHECK(end.removed == 1);
  CHECK(f.deployer.calls.back() == "remove class-1");
  CHECK(f.book.get(1).state == "ended");
  CHECK(f.book.hold_map.empty());
  CHECK(f.book.labs.empty());
  CHECK_FALSE(end.next_wake);
  CHECK(f.logged("reservation 1 (lab class-1): deployed"));
  CHECK(f.logged("reservation 1 (lab class-1): lab removed (its window ended)"));
}

TEST_CASE("a pass is idempotent: running it twice changes nothing the second time") {
  Fixture f;
  f.book.add(1, "a", 100, 200);
  f.book.add(2, "b", 50, 150);  // missed start, window still open: deploys late
  f.book.add(3, "c", 10, 20);   // whole window missed: failed
  f.book.add(4, "d", 300, 400); // future
  f.deployer.fail_deploys = 0;
  auto first = f.run_at(120);
  CHECK(first.deployed == 2);
  CHECK(first.changed == 3);
  auto writes = f.book.writes;
  auto calls = f.deployer.calls;
  auto second = f.run_at(120);
  CHECK(second.changed == 0);
  CHECK(second.deployed == 0);
  CHECK(f.book.writes == writes);
  CHECK(f.deployer.calls == calls);
  REQUIRE(second.next_wake);
  CHECK(*second.next_wake == 150);
}

TEST_CASE("missed events are caught up: a late start deploys, a passed end removes at once") {
  Fixture f;
  f.book.add(1, "late", 1000, 2000);
  f.book.add(2, "gone", 1000, 1100);
  f.run_at(1500); // nothing ran between 1000 and 1500
  CHECK(f.book.get(1).state == "active");
  CHECK(f.deployer.deploy_started_ms.at(0) == 1'500'000);
  CHECK(f.logged("missed start, caught up"));
  CHECK(f.book.get(2).state == "failed");
  CHECK(f.book.get(2).reason.find("missed") == 0);
  CHECK(std::count(f.deployer.calls.begin(), f.deployer.calls.end(), "deploy gone") == 0);

  // The scheduler sleeps through the end of reservation 1: it is removed as soon as it runs.
  auto report = f.run_at(2600);
  CHECK(report.removed == 1);
  CHECK(f.book.get(1).state == "ended");
  CHECK(f.book.labs.empty());
}

TEST_CASE("a failed deploy is retried with backoff while the window is open") {
  Fixture f;
  f.book.add(1, "flaky", 1000, 2000);
  f.deployer.fail_deploys = 3;

  auto first = f.run_at(1000);
  CHECK(first.failed == 1);
  auto &r = f.book.get(1);
  CHECK(r.state == "failed");
  CHECK(r.attempts == 1);
  CHECK(r.next_attempt_at == 1010);
  CHECK(r.reason.find("image ltb/missing") != std::string::npos);
  REQUIRE(first.next_wake);
  CHECK(*first.next_wake == 1010);

  f.run_at(1009); // not yet
  CHECK(f.deployer.calls.size() == 1);

  f.run_at(1010);
  CHECK(f.book.get(1).attempts == 2);
  CHECK(f.book.get(1).next_attempt_at == 1040);
  f.run_at(1040);
  CHECK(f.book.get(1).attempts == 3);
  CHECK(f.book.get(1).next_attempt_at == 1100);

  auto ok = f.run_at(1100);
  CHECK(ok.deployed == 1);
  CHECK(f.book.get(1).state == "active");
  CHECK(f.book.get(1).reason.empty());
  CHECK(f.book.get(1).next_attempt_at == 0);
  CHECK(f.deployer.calls.size() == 4);
  CHECK(f.logged("deploy failed (attempt 3)"));
}

TEST_CASE("no retry past the end of the window; what a failed deploy left is removed at the end") {
  Fixture f;
  f.book.add(1, "short", 1000, 1015);
  f.deployer.fail_deploys = 10;
  f.run_at(1000);
  CHECK(f.book.get(1).next_attempt_at == 1010);
  auto second = f.run_at(1010); // backoff 30 s would pass the end (1015)
  CHECK(f.book.get(1).attempts == 2);
  CHECK(f.book.get(1).next_attempt_at == 1015);
  CHECK(f.logged("no more tries"));
  REQUIRE(second.next_wake);
  CHECK(*second.next_wake == 1015);
  CHECK(f.book.labs.count("short") == 1); // the partial lab a failed `ltb up` leaves

  auto end = f.run_at(1015);
  CHECK(end.removed == 1);
  CHECK(f.deployer.calls.back() == "remove short");
  CHECK(f.book.labs.empty());
  CHECK(f.book.get(1).state == "failed");
  CHECK(f.book.get(1).reason.find("image ltb/missing") != std::string::npos);
  CHECK_FALSE(end.next_wake);
  CHECK(f.run_at(5000).changed == 0);
}

TEST_CASE("an extended reservation stays up until its new end; a shortened one goes at once") {
  Fixture f;
  f.book.add(1, "long", 1000, 2000);
  f.book.add(2, "cut", 1000, 2000);
  f.run_at(1000);
  f.book.get(1).end_at = 3000; // `ltb reserve update 1 --end ...` while active
  f.book.get(2).end_at = 1400; // moved into the past while active
  auto at2000 = f.run_at(1500);
  CHECK(f.book.get(2).state == "ended");
  CHECK(f.book.labs.count("cut") == 0);
  REQUIRE(at2000.next_wake);
  CHECK(*at2000.next_wake == 3000);
  f.run_at(2000);
  CHECK(f.book.get(1).state == "active");
  CHECK(f.book.labs.count("long") == 1);
  f.run_at(3000);
  CHECK(f.book.get(1).state == "ended");
  CHECK(f.book.labs.empty());
}

TEST_CASE("a reservation deleted while active has its lab removed") {
  Fixture f;
  f.book.add(1, "cancel-me", 1000, 2000);
  f.book.add(2, "vanish", 1000, 2000);
  f.run_at(1000);
  REQUIRE(f.book.labs.size() == 2);
  f.book.get(1).state = "cancelled"; // `ltb reserve delete 1` that left the lab (or crashed)
  f.book.rows.erase(std::remove_if(f.book.rows.begin(), f.book.rows.end(),
                                   [](const auto &r) { return r.id == 2; }),
                    f.book.rows.end()); // the row itself gone
  auto report = f.run_at(1200);
  CHECK(report.removed == 2);
  CHECK(f.book.labs.empty());
  CHECK(f.book.hold_map.empty());
  CHECK(f.book.get(1).state == "cancelled");
  CHECK(f.logged("the reservation was cancelled"));
  CHECK(f.logged("lab vanish (of reservation 2, which is gone)"));
  CHECK_FALSE(report.next_wake);
  CHECK(f.run_at(1300).changed == 0);
}

TEST_CASE("a cancel during the deploy wins; the next round removes the lab") {
  Fixture f;
  f.book.add(1, "race", 1000, 2000);
  f.deployer.on_deploy = [&] { f.book.get(1).state = "cancelled"; };
  auto report = f.run_at(1000);
  CHECK(f.book.get(1).state == "cancelled");
  CHECK(f.logged("changed by someone else meanwhile"));
  CHECK(report.removed == 1);
  CHECK(f.book.labs.empty());
  CHECK(f.book.hold_map.empty());
}

TEST_CASE("a lab of that name deployed outside the scheduler is never taken over or removed") {
  Fixture f;
  f.book.labs.insert("mine");
  f.book.add(1, "mine", 1000, 2000);
  f.run_at(1000);
  CHECK(f.deployer.calls.empty());
  CHECK(f.book.get(1).state == "failed");
  CHECK(f.book.get(1).reason.find("outside any reservation") != std::string::npos);
  CHECK(f.book.get(1).next_attempt_at == 1010);
  f.run_at(2000);
  CHECK(f.deployer.calls.empty());
  CHECK(f.book.labs.count("mine") == 1);
  // Removed by its owner during the window: the next retry deploys.
  f.book.get(1).end_at = 3000;
  f.book.labs.clear();
  f.run_at(2001);
  CHECK(f.book.get(1).state == "active");
}

TEST_CASE("back-to-back reservations of one lab name: the old one goes before the new one comes") {
  Fixture f;
  f.book.add(2, "room", 2000, 3000);
  f.book.add(1, "room", 1000, 2000);
  f.run_at(1000);
  f.run_at(2000);
  CHECK(f.deployer.calls == std::vector<std::string>{"deploy room", "remove room", "deploy room"});
  CHECK(f.book.get(1).state == "ended");
  CHECK(f.book.get(2).state == "active");
  CHECK(f.book.hold_map.at("room").reservation == 2);
}

TEST_CASE("a failed removal keeps the reservation active, with the reason, and is retried") {
  Fixture f;
  f.book.add(1, "sticky", 1000, 2000);
  f.run_at(1000);
  f.deployer.fail_removes = 2;
  auto first = f.run_at(2000);
  CHECK(first.failed == 1);
  CHECK(f.book.get(1).state == "active");
  CHECK(f.book.get(1).reason.find("removal failed") == 0);
  CHECK(f.book.hold_map.at("sticky").retry_at == 2010);
  REQUIRE(first.next_wake);
  CHECK(*first.next_wake == 2010);
  f.run_at(2010);
  CHECK(f.book.hold_map.at("sticky").retry_at == 2040);
  f.run_at(2040);
  CHECK(f.book.get(1).state == "ended");
  CHECK(f.book.get(1).reason.empty());
  CHECK(f.book.labs.empty());
}

TEST_CASE("an interrupted deploy leaves the reservation pending, to be resumed") {
  Fixture f;
  f.book.add(1, "stopped", 1000, 2000);
  f.deployer.interrupt = true;
  auto report = f.run_at(1000);
  CHECK(report.interrupted);
  CHECK(f.book.get(1).state == "pending");
  CHECK(f.book.get(1).attempts == 0);
  f.deployer.interrupt = false;
  f.run_at(1001);
  CHECK(f.book.get(1).state == "active");
}

TEST_CASE("a deploy that outlasts its window is removed in the same pass") {
  Fixture f;
  f.book.add(1, "slow", 1000, 1010);
  f.deployer.deploy_ms = 15'000;
  auto report = f.run_at(1000);
  CHECK(report.deployed == 1);
  CHECK(report.removed == 1);
  CHECK(f.book.get(1).state == "ended");
}

TEST_CASE("attention times and upcoming events") {
  using ltb::schedule::attention_at;
  ReservationRecord r;
  r.id = 7;
  r.lab = "x";
  r.start_at = 100;
  r.end_at = 200;
  r.state = "pending";
  CHECK(attention_at(r, nullptr, 50) == Instant{100});
  CHECK(attention_at(r, nullptr, 250) == Instant{200}); // due: closes as missed
  r.state = "ended";
  CHECK_FALSE(attention_at(r, nullptr, 250));
  Hold hold{7, 260, 1};
  CHECK(attention_at(r, &hold, 250) == Instant{260});
  r.state = "cancelled";
  Hold other{8, 0, 0};
  CHECK_FALSE(attention_at(r, &other, 150));

  FakeBook book;
  book.add(1, "a", 100, 200);
  book.add(2, "b", 150, 300).state = "active";
  book.hold_map["b"] = Hold{2, 0, 0};
  auto events = ltb::schedule::upcoming(book.rows, book.hold_map, 120);
  REQUIRE(events.size() == 3);
  CHECK(events[0].at == 100);
  CHECK(events[0].what == "deploy");
  CHECK(events[1].at == 200);
  CHECK(events[1].lab == "a");
  CHECK(events[1].what == "remove");
  CHECK(events[2].at == 300);
  CHECK(events[2].what == "remove");
  CHECK(ltb::schedule::next_wake(book.rows, book.hold_map, 120) == Instant{100});
}

TEST_CASE("reserved_labs: the reservation each lab is under now, for ltb status") {
  FakeBook book;
  book.add(1, "a", 100, 200).state = "active";
  book.add(2, "b", 100, 200).state = "failed"; // retrying: its partial lab goes at 200
  book.add(3, "c", 100, 200);                  // pending, window open: deploying
  book.add(4, "d", 300, 400);                  // later
  book.add(5, "e", 100, 200).state = "cancelled";
  book.add(6, "a", 50, 100).state = "ended";
  auto labs = ltb::schedule::reserved_labs(book.rows, 150);
  CHECK(labs.size() == 3);
  CHECK(labs.at("a").id == 1);
  CHECK(labs.at("b").id == 2);
  CHECK(labs.at("c").id == 3);
  CHECK(ltb::schedule::reserved_labs(book.rows, 250).size() == 1); // active until removed
}
