// Tests of the reservations in lib/state: CRUD, order, the version counter, and the migration of
// a file written before reservations existed.

#include "state/store.hpp"
#include "testutil.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <algorithm>
#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace ltb::state;

namespace {

using ltb::test::TempDir;

std::unique_ptr<Store> open_ok(const std::string &path) {
  auto store = Store::open(path);
  if (!store) {
    FAIL("open failed: ", store.error().message);
  }
  return std::move(*store);
}

ReservationRecord make(const std::string &lab, std::int64_t start, std::int64_t end) {
  ReservationRecord r;
  r.lab = lab;
  r.owner = "alice";
  r.source = "/srv/" + lab + ".yaml";
  r.topology_text = "name: " + lab + "\ntopology:\n  nodes: {}\n";
  r.start_at = start;
  r.end_at = end;
  r.state = "pending";
  r.demand_cpus = 1.5;
  r.demand_memory_bytes = 768LL << 20;
  r.demand_disk_bytes = 3LL << 30;
  return r;
}

std::int64_t version(Store &store) {
  auto v = store.reservations_version();
  REQUIRE(v);
  return *v;
}

} // namespace

TEST_CASE("reservations: add, read back every field, list by start then id") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  auto empty = store->reservations();
  REQUIRE(empty);
  CHECK(empty->empty());

  auto late = store->add_reservation(make("late", 2000, 3000));
  auto early = store->add_reservation(make("early", 1000, 1500));
  auto tie = store->add_reservation(make("tie", 1000, 1200));
  REQUIRE(late);
  REQUIRE(early);
  REQUIRE(tie);
  CHECK(*late != *early);
  CHECK(*early < *tie);

  auto all = store->reservations();
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].lab == "early");
  CHECK((*all)[1].lab == "tie");
  CHECK((*all)[2].lab == "late");

  auto one = store->reservation(*early);
  REQUIRE(one);
  REQUIRE(one->has_value());
  const auto &r = **one;
  const auto want = make("early", 1000, 1500);
  CHECK(r.id == *early);
  CHECK(r.lab == want.lab);
  CHECK(r.owner == want.owner);
  CHECK(r.source == want.source);
  CHECK(r.topology_text == want.topology_text);
  CHECK(r.start_at == 1000);
  CHECK(r.end_at == 1500);
  CHECK(r.state == "pending");
  CHECK(r.reason.empty());
  CHECK(r.attempts == 0);
  CHECK(r.next_attempt_at == 0);
  CHECK(r.demand_cpus == doctest::Approx(1.5));
  CHECK(r.demand_memory_bytes == want.demand_memory_bytes);
  CHECK(r.demand_disk_bytes == want.demand_disk_bytes);
  CHECK(r.created_at > 0);
  CHECK(r.updated_at >= r.created_at);

  auto missing = store->reservation(*late + 100);
  REQUIRE(missing);
  CHECK(!missing->has_value());
}

TEST_CASE("reservations: put updates by id, keeps created_at, refuses an unknown id") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  auto base = make("lab", 100, 200);
  base.created_at = 42;
  auto id = store->add_reservation(base);
  REQUIRE(id);
  auto r = **store->reservation(*id);
  CHECK(r.created_at == 42);

  r.state = "failed";
  r.reason = "image ltb/frr:latest is missing";
  r.attempts = 3;
  r.next_attempt_at = 160;
  r.end_at = 400;
  r.created_at = 7; // not written: created_at stays
  REQUIRE(store->put_reservation(r));
  auto back = **store->reservation(*id);
  CHECK(back.state == "failed");
  CHECK(back.reason == r.reason);
  CHECK(back.attempts == 3);
  CHECK(back.next_attempt_at == 160);
  CHECK(back.end_at == 400);
  CHECK(back.created_at == 42);

  ReservationRecord ghost = r;
  ghost.id = *id + 1;
  auto refused = store->put_reservation(ghost);
  REQUIRE(!refused);
  CHECK(refused.error().message.find(std::to_string(ghost.id)) != std::string::npos);
}

TEST_CASE("reservations: the version counter moves on every write and only then") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  const auto v0 = version(*store);
  auto id = store->add_reservation(make("a", 1, 2));
  REQUIRE(id);
  const auto v1 = version(*store);
  CHECK(v1 > v0);
  // Reads and unrelated writes leave it alone.
  REQUIRE(store->reservations());
  REQUIRE(store->set_meta("other", "x"));
  LabRecord lab;
  lab.name = "a";
  REQUIRE(store->put_lab(lab));
  CHECK(version(*store) == v1);
  auto r = **store->reservation(*id);
  r.state = "cancelled";
  REQUIRE(store->put_reservation(r));
  const auto v2 = version(*store);
  CHECK(v2 > v1);
  // A write by another connection (another ltb process) is seen too.
  {
    SQLite::Database raw(tmp.file("state.db"), SQLite::OPEN_READWRITE);
    raw.exec("DELETE FROM reservations");
  }
  CHECK(version(*store) > v2);
  // A failed transaction leaves it where it was.
  const auto v3 = version(*store);
  auto rolled = store->transaction([&]() -> ltb::Status {
    REQUIRE(store->add_reservation(make("b", 1, 2)));
    return ltb::fail("changed my mind");
  });
  CHECK(!rolled);
  CHECK(version(*store) == v3);
  CHECK(store->reservations()->empty());
}

TEST_CASE("reservations: every column is NOT NULL with a default; start_at is indexed") {
  TempDir tmp;
  const auto path = tmp.file("state.db");
  { open_ok(path); }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  for (const auto &table_want :
       std::vector<std::pair<std::string, int>>{{"reservations", 17}, {"reservation_texts", 2}}) {
    const auto &[table, want] = table_want;
    SQLite::Statement q(db, "PRAGMA table_info(" + table + ")");
    int columns = 0;
    while (q.executeStep()) {
      ++columns;
      const std::string name = q.getColumn(1).getString();
      if (q.getColumn(5).getInt() != 0) {
        continue; // the primary key
      }
      CAPTURE(table_want.first); // doctest's macros cannot capture a structured binding
      CAPTURE(name);
      CHECK(q.getColumn(3).getInt() == 1); // notnull
      CHECK(!q.getColumn(4).isNull());     // dflt_value
    }
    CHECK(columns == want);
  }
  // A bare insert (an older or newer ltb writing fewer columns) gets the defaults.
  db.exec("INSERT INTO reservations (lab) VALUES ('bare')");
  auto store = open_ok(path);
  auto all = store->reservations();
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK((*all)[0].state == "pending");
  CHECK((*all)[0].created_at > 0);
  SQLite::Statement plan(db, "EXPLAIN QUERY PLAN SELECT id FROM reservations WHERE start_at > 5");
  std::string detail;
  while (plan.executeStep()) {
    detail += plan.getColumn(3).getString();
  }
  CHECK(detail.find("reservations_start") != std::string::npos);
}

TEST_CASE("reservations: a file of schema 1 with labs is migrated and keeps them") {
  TempDir tmp;
  const auto path = tmp.file("old.db");
  {
    // Schema 1 as released: build it by hand from the first migration's tables.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(
        "CREATE TABLE labs (name TEXT NOT NULL PRIMARY KEY, topology_file TEXT NOT NULL "
        "DEFAULT '', topology_text TEXT NOT NULL DEFAULT '', topology_hash TEXT NOT NULL "
        "DEFAULT '', mgmt_network TEXT NOT NULL DEFAULT '', mgmt_subnet TEXT NOT NULL DEFAULT "
        "'', owner TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', created_at "
        "INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE nodes (lab TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL "
        "DEFAULT '', image TEXT NOT NULL DEFAULT '', config_hash TEXT NOT NULL DEFAULT '', "
        "mgmt_ipv4 TEXT NOT NULL DEFAULT '', runtime_id TEXT NOT NULL DEFAULT '', status TEXT "
        "NOT NULL DEFAULT '', PRIMARY KEY (lab, name));"
        "CREATE TABLE links (lab TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL DEFAULT "
        "'', a_node TEXT NOT NULL DEFAULT '', a_iface TEXT NOT NULL DEFAULT '', b_node TEXT NOT "
        "NULL DEFAULT '', b_iface TEXT NOT NULL DEFAULT '', a_runtime_id TEXT NOT NULL DEFAULT "
        "'', b_runtime_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', PRIMARY "
        "KEY (lab, key));"
        "CREATE TABLE objects (id INTEGER PRIMARY KEY AUTOINCREMENT, lab TEXT NOT NULL, type "
        "TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT "
        "'', runtime_id TEXT NOT NULL DEFAULT '', parent TEXT NOT NULL DEFAULT '', status TEXT "
        "NOT NULL DEFAULT '', created_at INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL DEFAULT '');"
        "INSERT INTO labs (name, owner) VALUES ('kept', 'bob');"
        "INSERT INTO meta (key, value) VALUES ('config.cpu-overcommit', '2');"
        "PRAGMA user_version = 1;");
  }
  auto store = open_ok(path);
  CHECK(store->schema_version() >= 2);
  auto kept = store->lab("kept");
  REQUIRE(kept);
  REQUIRE(kept->has_value());
  CHECK((*kept)->owner == "bob");
  CHECK(*store->meta("config.cpu-overcommit") == std::optional<std::string>("2"));
  CHECK(version(*store) == 0);
  REQUIRE(store->add_reservation(make("new", 10, 20)));
  CHECK(version(*store) == 1);
}

TEST_CASE("reservations: claims are the open ones that end later, without their text") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  auto add = [&](const std::string &lab, std::int64_t start, std::int64_t end,
                 const std::string &state) {
    auto r = make(lab, start, end);
    r.state = state;
    auto id = store->add_reservation(r);
    REQUIRE(id);
  };
  add("pending", 200, 300, "pending");
  add("active", 50, 150, "active");
  add("failed-open", 80, 120, "failed");
  add("failed-closed", 10, 90, "failed");
  add("ended", 10, 200, "ended");
  add("cancelled", 300, 400, "cancelled");
  add("touching", 20, 100, "pending"); // ends exactly at 100: claims nothing after it
  auto claims = store->reservation_claims(100);
  REQUIRE(claims);
  std::vector<std::string> labs;
  for (const auto &r : *claims) {
    labs.push_back(r.lab);
    CHECK(r.topology_text.empty());
    CHECK(r.owner.empty());
    CHECK(r.start_at > 0);
    CHECK(r.end_at > 100);
    CHECK(r.demand_memory_bytes == 768LL << 20);
    CHECK(r.id > 0);
  }
  std::sort(labs.begin(), labs.end());
  CHECK(labs == std::vector<std::string>{"active", "failed-open", "pending"});
}

TEST_CASE("meta: delete_meta removes a key; a missing key is fine") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  REQUIRE(store->set_meta("config.cpus", "4"));
  REQUIRE(store->delete_meta("config.cpus"));
  auto gone = store->meta("config.cpus");
  REQUIRE(gone);
  CHECK(!gone->has_value());
  CHECK(store->delete_meta("never-set"));
}

TEST_CASE("reservations: the text is kept apart, updated with its reservation, and cascades") {
  TempDir tmp;
  const auto path = tmp.file("state.db");
  auto store = open_ok(path);
  auto id = store->add_reservation(make("lab", 1, 2));
  REQUIRE(id);
  auto r = **store->reservation(*id);
  r.topology_text = "name: changed\n";
  REQUIRE(store->put_reservation(r));
  CHECK((**store->reservation(*id)).topology_text == "name: changed\n");
  CHECK((*store->reservations())[0].topology_text == "name: changed\n");
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  raw.exec("PRAGMA foreign_keys = ON");
  CHECK(raw.execAndGet("SELECT count(*) FROM reservation_texts").getInt() == 1);
  raw.exec("DELETE FROM reservations");
  CHECK(raw.execAndGet("SELECT count(*) FROM reservation_texts").getInt() == 0);
}
