// Tests of lib/schedule/ledger: which reservations and running labs claim capacity.

#include "schedule/ledger.hpp"
#include "testutil.hpp"

#include <algorithm>
#include <doctest/doctest.h>

using namespace ltb::schedule;
using ltb::test::TempDir;

namespace {

constexpr std::int64_t k_mib = 1LL << 20;

ltb::state::ReservationRecord reservation(const std::string &lab, Instant start, Instant end,
                                          const std::string &state, double cpus) {
  ltb::state::ReservationRecord r;
  r.lab = lab;
  r.start_at = start;
  r.end_at = end;
  r.state = state;
  r.demand_cpus = cpus;
  r.demand_memory_bytes = 100 * k_mib;
  return r;
}

const Booking *find(const std::vector<Booking> &list, const std::string &lab) {
  auto it = std::find_if(list.begin(), list.end(), [&](const Booking &b) { return b.lab == lab; });
  return it == list.end() ? nullptr : &*it;
}

} // namespace

TEST_CASE("ledger: states that hold capacity") {
  CHECK(holds_capacity(reservation("a", 0, 100, "pending", 1), 500));
  CHECK(holds_capacity(reservation("a", 0, 100, "active", 1), 500));
  CHECK(holds_capacity(reservation("a", 0, 100, "failed", 1), 50));
  CHECK(!holds_capacity(reservation("a", 0, 100, "failed", 1), 100));
  CHECK(!holds_capacity(reservation("a", 0, 100, "ended", 1), 50));
  CHECK(!holds_capacity(reservation("a", 0, 100, "cancelled", 1), 50));
}

TEST_CASE("ledger: reservations and unreserved running labs become bookings") {
  TempDir tmp;
  auto opened = ltb::state::Store::open(tmp.file("state.db"));
  REQUIRE(opened);
  auto &store = **opened;
  const Instant now = 1000;
  REQUIRE(store.add_reservation(reservation("future", 2000, 3000, "pending", 2)));
  REQUIRE(store.add_reservation(reservation("old", 0, 500, "ended", 9)));
  REQUIRE(store.add_reservation(reservation("gone", 1500, 2500, "cancelled", 9)));
  REQUIRE(store.add_reservation(reservation("covered", 500, 1500, "active", 1)));
  REQUIRE(store.add_reservation(reservation("later", 1800, 1900, "pending", 1)));
  // Running labs: one without a reservation, one its reservation covers now, one a reservation
  // takes over later, one whose text no longer loads.
  auto lab = [&](const std::string &name, const std::string &text) {
    ltb::state::LabRecord r;
    r.name = name;
    r.topology_file = tmp.file(name + ".yaml");
    r.topology_text = text;
    REQUIRE(store.put_lab(r));
  };
  lab("free", "name: free\ntopology:\n  nodes:\n    a: {kind: linux, image: x}\n"
              "    b: {kind: frr, cpus: 2}\n");
  lab("covered", "name: covered\ntopology:\n  nodes:\n    a: {kind: linux, image: x}\n");
  lab("later", "name: later\ntopology:\n  nodes:\n    a: {kind: linux, image: x}\n");
  lab("broken", "name: broken\ntopology: [this is not a topology\n");
  ltb::state::NodeRecord n;
  n.lab = "broken";
  n.name = "r1";
  n.kind = "frr";
  REQUIRE(store.put_node(n));
  n.name = "sw";
  n.kind = "ovs-bridge";
  REQUIRE(store.put_node(n));

  auto bookings = current_bookings(store, now, DemandDefaults{});
  REQUIRE(bookings);
  CHECK(find(*bookings, "old") == nullptr);
  CHECK(find(*bookings, "gone") == nullptr);
  const auto *future = find(*bookings, "future");
  REQUIRE(future);
  CHECK(future->id != 0);
  CHECK(future->start == 2000);
  CHECK(future->demand.cpus == 2);
  const auto *free = find(*bookings, "free");
  REQUIRE(free);
  CHECK(free->id == 0);
  CHECK(free->start == now);
  CHECK(free->end == k_forever);
  CHECK(free->demand == Resources{2.5, 512 * k_mib, 0});
  // The covered lab counts once, through its active reservation.
  CHECK(std::count_if(bookings->begin(), bookings->end(),
                      [](const Booking &b) { return b.lab == "covered"; }) == 1);
  CHECK(find(*bookings, "covered")->id != 0);
  // The lab a reservation takes over later counts on its own until then.
  auto later = std::count_if(bookings->begin(), bookings->end(),
                             [](const Booking &b) { return b.lab == "later"; });
  CHECK(later == 2);
  for (const auto &b : *bookings) {
    if (b.lab == "later" && b.id == 0) {
      CHECK(b.end == 1800);
    }
  }
  // The broken lab counts by its recorded kinds.
  const auto *broken = find(*bookings, "broken");
  REQUIRE(broken);
  CHECK(broken->demand == Resources{0.5, 256 * k_mib, 0});
  // skip_lab leaves one out.
  auto skipped = current_bookings(store, now, DemandDefaults{}, "free");
  REQUIRE(skipped);
  CHECK(find(*skipped, "free") == nullptr);
}

TEST_CASE("ledger: base directories of stored topologies") {
  ltb::state::ReservationRecord r;
  r.source = "/srv/labs/class.yaml";
  CHECK(reservation_base_dir(r, "/var/lib/ltb/state.db") == "/srv/labs");
  r.source = "template:ospf";
  CHECK(reservation_base_dir(r, "/var/lib/ltb/state.db") == "/var/lib/ltb/templates");
  CHECK(templates_dir("/tmp/x/state.db") == "/tmp/x/templates");
}
