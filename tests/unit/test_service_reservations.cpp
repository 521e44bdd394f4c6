// Tests of lib/service/reservations on a temporary state file: create (admitted, refused with
// the earliest start that fits, overlapping names), update, delete of a pending reservation, and
// a lab's reservation ended early by `ltb down`.

#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "service/reservations.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <ctime>
#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

/// Capacity 3 vCPU, 1 per container node; reservations of 2-node labs (2 vCPU) an hour ahead.
struct Fixture {
  TempDir tmp;
  std::string state = tmp.file("state.db");
  service::Context context{state, 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  std::unique_ptr<ltb::state::Store> store;
  ltb::topology::Topology two;
  std::int64_t base = (std::time(nullptr) / 3600 + 24) * 3600;

  Fixture() {
    auto opened = ltb::state::Store::open(state);
    REQUIRE(opened);
    store = std::move(*opened);
    for (const auto &[name, value] :
         std::vector<std::pair<std::string, std::string>>{{"cpus", "3"},
                                                          {"cpu-overcommit", "1"},
                                                          {"memory", "4294967296"},
                                                          {"disk", "10000000000"},
                                                          {"container-cpus", "1"}}) {
      REQUIRE(store->set_meta(ltb::schedule::setting_key(name), value));
    }
    auto loaded =
        ltb::topology::load_text("name: two\ntopology:\n  nodes:\n    a: {kind: linux, image: x}\n"
                                 "    b: {kind: linux, image: x}\n",
                                 tmp.file("two.yaml"), tmp.path.string(), {});
    REQUIRE(loaded);
    two = *loaded;
  }

  ltb::Result<service::CreatedReservations> create(const std::string &lab, std::int64_t start,
                                                   std::int64_t end, int count = 1) {
    service::CreateReservations request;
    if (count == 1) {
      request.labs = {lab};
    } else {
      for (int i = 1; i <= count; ++i) {
        request.labs.push_back(lab + "-" + std::to_string(i));
      }
    }
    request.group = lab;
    request.topology = &two;
    request.source = tmp.file("two.yaml");
    request.text = two.text;
    request.start = start;
    request.end = end;
    return service::create_reservations(session, *store, request);
  }
};

} // namespace

TEST_CASE(
    "service reservations: created pending, owned by the caller, with the demand of one instance") {
  Fixture f;
  auto created = f.create("a", f.base, f.base + 3600);
  REQUIRE(created);
  REQUIRE(created->ids.size() == 1);
  CHECK(created->demand.cpus == 2);
  CHECK(created->deployed_now == std::vector<bool>{false});
  auto r = service::find_reservation(*f.store, created->ids.front());
  REQUIRE(r);
  CHECK(r->lab == "alice__a"); // the id of alice's lab a
  CHECK(r->owner == "alice");
  CHECK(r->state == ltb::schedule::k_pending);
  CHECK(r->topology_text == f.two.text);
}

TEST_CASE(
    "service reservations: a second one that does not fit is refused with the earliest start") {
  Fixture f;
  REQUIRE(f.create("a", f.base, f.base + 3600));
  auto refused = f.create("b", f.base + 1800, f.base + 5400);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("cannot reserve lab b ") == 0);
  CHECK(refused.error().message.find("peak demand 4 of 3 vCPU") != std::string::npos);
  CHECK(refused.error().help.find("the earliest start at which the whole window fits is") == 0);
  // Right after a, it fits (half-open windows).
  CHECK(f.create("b", f.base + 3600, f.base + 7200));
  // Several instances are admitted together: 2 x 2 vCPU never fit.
  auto group = f.create("c", f.base + 7200, f.base + 9000, 2);
  REQUIRE_FALSE(group);
  CHECK(group.error().message.find("cannot reserve 2 labs c-1 ... c-2") == 0);
}

TEST_CASE("service reservations: the same lab name twice at once is refused") {
  Fixture f;
  auto first = f.create("a", f.base, f.base + 3600);
  REQUIRE(first);
  auto again = f.create("a", f.base + 600, f.base + 1200);
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("lab a is already reserved") == 0);
}

TEST_CASE(
    "service reservations: update moves a window when it fits, and refuses when it does not") {
  Fixture f;
  auto a = f.create("a", f.base, f.base + 3600);
  auto b = f.create("b", f.base + 3600, f.base + 7200);
  REQUIRE(a);
  REQUIRE(b);
  // Extending a over b's window overflows.
  auto longer = service::update_reservation(f.session, *f.store, {a->ids.front(), "", "", "2h"});
  REQUIRE_FALSE(longer);
  CHECK(longer.error().message.find("cannot move reservation") == 0);
  // Shortening it is fine.
  auto shorter = service::update_reservation(f.session, *f.store, {a->ids.front(), "", "", "30m"});
  REQUIRE(shorter);
  CHECK(shorter->end_at == f.base + 1800);
  auto none = service::update_reservation(f.session, *f.store, {999, "", "", "1h"});
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "no reservation 999");
}

TEST_CASE("service reservations: deleting a pending one cancels it and removes nothing") {
  Fixture f;
  auto a = f.create("a", f.base, f.base + 3600);
  REQUIRE(a);
  auto prepared = service::prepare_delete(*f.store, f.caller, a->ids.front());
  REQUIRE(prepared);
  CHECK_FALSE(prepared->finished);
  CHECK_FALSE(prepared->deployed);
  auto deleted = service::delete_reservation(f.session, *f.store, *prepared);
  REQUIRE(deleted);
  CHECK_FALSE(deleted->removed);
  auto r = service::find_reservation(*f.store, a->ids.front());
  REQUIRE(r);
  CHECK(r->state == ltb::schedule::k_cancelled);
  auto again = service::prepare_delete(*f.store, f.caller, a->ids.front());
  REQUIRE(again);
  CHECK(again->finished);
  // A reservation deleted meanwhile is not cancelled twice from a stale answer.
  auto b = f.create("b", f.base, f.base + 3600);
  REQUIRE(b);
  auto stale = service::prepare_delete(*f.store, f.caller, b->ids.front());
  REQUIRE(stale);
  REQUIRE(service::delete_reservation(f.session, *f.store, *stale));
  auto twice = service::delete_reservation(f.session, *f.store, *stale);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message.find("changed while deleting it") != std::string::npos);
}

TEST_CASE(
    "service reservations: ltb down of a lab ends its active reservation, pending ones stay") {
  Fixture f;
  auto now = std::time(nullptr);
  ltb::state::ReservationRecord active;
  active.lab = "up";
  active.start_at = now - 60;
  active.end_at = now + 3600;
  active.state = ltb::schedule::k_active;
  auto active_id = f.store->add_reservation(active);
  REQUIRE(active_id);
  auto later = f.create("up", f.base, f.base + 600);
  REQUIRE(later);
  REQUIRE(service::end_reservations_of(f.session, *f.store, "up"));
  auto ended = service::find_reservation(*f.store, *active_id);
  REQUIRE(ended);
  CHECK(ended->state == ltb::schedule::k_ended);
  CHECK(ended->reason == "ended early: lab removed by ltb down");
  auto pending = service::find_reservation(*f.store, later->ids.front());
  REQUIRE(pending);
  CHECK(pending->state == ltb::schedule::k_pending);
}

TEST_CASE("service reservations: a reservation of a user who is not an admin deploys confined") {
  Fixture f;
  f.caller.admin = false;
  auto created = f.create("c", f.base, f.base + 3600);
  REQUIRE(created);
  REQUIRE(created->ids.size() == 1);
  auto user_made = f.store->reservation(created->ids.front());
  REQUIRE(user_made);
  REQUIRE(*user_made);
  CHECK((*user_made)->confined);
  f.caller.admin = true;
  created = f.create("d", f.base + 7200, f.base + 10800);
  REQUIRE(created);
  CHECK_FALSE((*f.store->reservation(created->ids.front()))->confined);
}
