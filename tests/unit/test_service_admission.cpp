// Tests of lib/service/reservations: admission of unreserved labs under the host-wide lock, so
// that two `ltb up` of different labs at once never both take the last capacity.

#include "schedule/ledger.hpp"
#include "service/reservations.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <ctime>
#include <doctest/doctest.h>
#include <latch>
#include <thread>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

/// A state file whose capacity is 3 vCPU (1 per container node), with a pending 2 vCPU
/// reservation an hour from now: one 1-node lab fits beside it, two do not.
struct Fixture {
  TempDir tmp;
  std::string state = tmp.file("state.db");
  service::Context context{state, 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  Fixture() {
    auto store = open();
    for (const auto &[name, value] :
         std::vector<std::pair<std::string, std::string>>{{"cpus", "3"},
                                                          {"cpu-overcommit", "1"},
                                                          {"memory", "4294967296"},
                                                          {"disk", "10000000000"},
                                                          {"container-cpus", "1"}}) {
      REQUIRE(store->set_meta(ltb::schedule::setting_key(name), value));
    }
    ltb::state::ReservationRecord r;
    r.lab = "booked";
    r.owner = "bob";
    r.start_at = std::time(nullptr) + 3600;
    r.end_at = r.start_at + 3600;
    r.state = ltb::schedule::k_pending;
    r.demand_cpus = 2;
    r.demand_memory_bytes = 512LL << 20;
    REQUIRE(store->add_reservation(r));
  }

  std::unique_ptr<ltb::state::Store> open() const {
    auto store = ltb::state::Store::open(state);
    REQUIRE(store);
    return std::move(*store);
  }

  ltb::topology::Topology lab(const std::string &name) const {
    const std::string text =
        "name: " + name + "\ntopology:\n  nodes:\n    n1: {kind: linux, image: x}\n";
    auto loaded = ltb::topology::load_text(text, tmp.file(name + ".yaml"), tmp.path.string(), {});
    REQUIRE(loaded);
    return *loaded;
  }
};

/// What deploy_lab() does with an admission that has `claim`: the lab record, then the lock goes.
void record_claim(ltb::state::Store &store, const ltb::topology::Topology &lab,
                  service::UpAdmission &admission) {
  if (admission.claim) {
    ltb::state::LabRecord record;
    record.name = lab.name;
    record.topology_file = lab.file;
    record.topology_text = lab.text;
    record.status = ltb::state::RecordStatus::deploying;
    REQUIRE(store.put_lab(record));
  }
  admission.lock.reset();
}

} // namespace

TEST_CASE(
    "service admission: one lab fits beside the reservation, and holds the lock for its claim") {
  Fixture f;
  auto store = f.open();
  auto admitted = service::admit_up(f.session, *store, f.lab("a"), "", false);
  REQUIRE(admitted);
  CHECK(admitted->claim);
  CHECK(admitted->lock.has_value());
}

TEST_CASE("service admission: a lab admitted but not yet recorded makes the next one wait, then "
          "count it") {
  Fixture f;
  auto store = f.open();
  const auto a = f.lab("a");
  const auto b = f.lab("b");
  auto first = service::admit_up(f.session, *store, a, "", false);
  REQUIRE(first);
  REQUIRE(first->claim);
  // b asks while a holds the lock: it can only get its answer after a's claim is recorded.
  std::optional<ltb::Result<service::UpAdmission>> second;
  std::thread other([&] {
    auto own = f.open(); // another process has its own connection
    second = service::admit_up(f.session, *own, b, "", false);
  });
  record_claim(*store, a, *first);
  other.join();
  REQUIRE(second);
  REQUIRE_FALSE(*second);
  CHECK(second->error().message.find("lab b cannot start without a reservation") !=
        std::string::npos);
  CHECK(second->error().message.find("would leave reservation 1 (lab booked") != std::string::npos);
  CHECK(second->error().help.find("--until") != std::string::npos);
}

TEST_CASE(
    "service admission: without its claim recorded the second lab would pass (the claim matters)") {
  Fixture f;
  auto store = f.open();
  auto first = service::admit_up(f.session, *store, f.lab("a"), "", false);
  REQUIRE(first);
  first->lock.reset(); // released without recording a's lab
  auto second = service::admit_up(f.session, *store, f.lab("b"), "", false);
  CHECK(second);
}

TEST_CASE(
    "service admission: two labs admitted at the same instant, exactly one gets in (5 rounds)") {
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    Fixture f;
    const auto a = f.lab("a");
    const auto b = f.lab("b");
    std::latch start(2);
    std::atomic<int> admitted{0};
    std::atomic<int> refused{0};
    auto up = [&](const ltb::topology::Topology &lab) {
      auto store = f.open();
      start.arrive_and_wait();
      auto answer = service::admit_up(f.session, *store, lab, "", false);
      if (!answer) {
        if (answer.error().message.find("cannot start without a reservation") !=
            std::string::npos) {
          ++refused;
        }
        return;
      }
      ++admitted;
      record_claim(*store, lab, *answer);
    };
    std::thread one(up, std::cref(a));
    std::thread two(up, std::cref(b));
    one.join();
    two.join();
    CHECK(admitted == 1);
    CHECK(refused == 1);
  }
}

TEST_CASE("service admission: the lock held by another up is an error after --wait, a dry run "
          "needs none") {
  Fixture f;
  f.context.wait_seconds = 0;
  auto store = f.open();
  auto first = service::admit_up(f.session, *store, f.lab("a"), "", false);
  REQUIRE(first);
  auto blocked = service::admit_up(f.session, *store, f.lab("b"), "", false);
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().message.find("the admission of labs is locked by another ltb process") !=
        std::string::npos);
  auto dry = service::admit_up(f.session, *store, f.lab("b"), "", true);
  REQUIRE(dry);
  CHECK_FALSE(dry->claim);
  CHECK_FALSE(dry->lock.has_value());
}

TEST_CASE("service admission: a reserved lab and --until need no claim of their own") {
  Fixture f;
  auto store = f.open();
  auto until = service::admit_up(f.session, *store, f.lab("a"), "+30m", false);
  REQUIRE(until);
  CHECK_FALSE(until->claim); // its active reservation is the claim
  CHECK_FALSE(until->lock.has_value());
  auto claims = store->reservation_claims(std::time(nullptr));
  REQUIRE(claims);
  CHECK(claims->size() == 2);
}
