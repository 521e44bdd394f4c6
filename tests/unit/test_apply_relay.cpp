// apply/ in relay mode on fakes: point-to-point links are host-joined (redirects), an impairment
// moves a link into the lab's relay and back, the relay is recorded, a dead relay is started
// again by the next `up`, and `down` leaves nothing.
#include "apply/drivers/driver.hpp"
#include "fakes/harness.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Topology relay_lab() {
  auto t = fakes::make_lab("rl");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::vm_node("v1")};
  t.links = {fakes::make_link("r1", "eth1", "r2", "eth1"),
             fakes::make_link("r1", "eth2", "v1", "eth1")};
  return t;
}

/// Sets one direction of a link as `ltb link set` does, through apply's one entry point.
Status set(Harness &h, const topology::Topology &t, const std::string &key, bool from_a,
           const net::Impairment &impairment) {
  LTB_TRY(plan, h.plan_up(t));
  auto b = h.backends();
  apply::ApplyOptions options;
  options.lab_dir = h.lab_dir(t.name);
  options.relay_mode = true;
  apply::Run run{plan, &t, b, h.progress, options, apply::Book({})};
  const auto &link = plan.links.at(key);
  return apply::set_relayed(run, link, from_a ? link.a : link.b, impairment);
}

std::optional<state::ObjectRecord> relay_record(Harness &h, const std::string &lab) {
  auto objects = h.store->objects(lab);
  REQUIRE(objects);
  for (const auto &object : *objects) {
    if (object.type == state::ObjectType::relay) {
      return object;
    }
  }
  return std::nullopt;
}

} // namespace

TEST_CASE("apply on fakes, relay mode: links are host-joined; impairments go through the relay") {
  Harness h;
  h.relay_mode = true;
  auto t = relay_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  REQUIRE(report->ok());
  auto key = topology::link_key(t.links[0]);
  auto host_a = plan::host_veth_name("rl", key, "r1");
  auto host_b = plan::host_veth_name("rl", key, "r2");
  auto dir = h.lab_dir("rl");
  auto &w = h.fakes.world;
  {
    std::lock_guard lock(w.mutex);
    // Each container end is a veth whose peer is on the host; the host ends are joined.
    CHECK(w.ifaces.count({"", host_a}) == 1);
    CHECK(w.ifaces.count({"", host_b}) == 1);
    CHECK(w.redirects.count({host_a, host_b}) == 1);
    CHECK(w.redirects.count({host_b, host_a}) == 1);
    CHECK(w.relays.empty()); // nothing impaired: no relay
  }
  CHECK(fakes::problems(h, "rl", {t}) == "");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  // An impairment of the frames r2 sends: the link leaves its redirects for the relay.
  REQUIRE(set(h, t, key, false, {.delay_us = 50'000}));
  {
    std::lock_guard lock(w.mutex);
    REQUIRE(w.relays.count(dir) == 1);
    const auto &relay = w.relays.at(dir);
    CHECK(relay.running);
    REQUIRE(relay.config.count(key) == 1);
    CHECK(relay.config.at(key).link.a == host_a);
    CHECK(relay.config.at(key).b_to_a.delay_us == 50'000);
    CHECK(relay.config.at(key).a_to_b.empty());
    CHECK(w.redirects.count({host_a, host_b}) == 0);
    CHECK(w.redirects.count({host_b, host_a}) == 0);
  }
  auto record = relay_record(h, "rl");
  REQUIRE(record);
  CHECK(record->status == state::RecordStatus::created);
  CHECK(record->runtime_id == std::to_string(h.fakes.relay.state(dir).pid));
  CHECK(fakes::problems(h, "rl", {t}) == "");

  // The relay dies: the next `up` notices and starts it on the links it served.
  {
    std::lock_guard lock(w.mutex);
    w.relays.at(dir).running = false;
  }
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  REQUIRE(plan->actions.size() == 1);
  CHECK(plan::describe(plan->actions[0], *plan) ==
        "start the lab's impairment relay again [relay exited]");
  report = h.up(t);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(h.fakes.relay.state(dir).running);
  CHECK(h.fakes.relay.state(dir).config.at(key).b_to_a.delay_us == 50'000);
  again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  // Back to nothing: the redirects join the link again, the relay stops and its record goes.
  REQUIRE(set(h, t, key, false, {}));
  {
    std::lock_guard lock(w.mutex);
    CHECK(w.relays.empty());
    CHECK(w.redirects.count({host_a, host_b}) == 1);
    CHECK(w.redirects.count({host_b, host_a}) == 1);
  }
  CHECK_FALSE(relay_record(h, "rl"));

  // The link with a VM end goes through the relay the same way; `down` stops the relay.
  auto vm_key = topology::link_key(t.links[1]);
  REQUIRE(set(h, t, vm_key, true, {.loss_pct = 20}));
  CHECK(h.fakes.relay.state(dir).config.count(vm_key) == 1);
  CHECK(fakes::problems(h, "rl", {t}) == "");
  auto down = h.down("rl");
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  CHECK_MESSAGE(w.empty(), w.describe());
  CHECK_FALSE(relay_record(h, "rl"));
}

TEST_CASE("apply on fakes, relay mode: a link removed from the file leaves the relay") {
  Harness h;
  h.relay_mode = true;
  auto t = relay_lab();
  REQUIRE(h.up(t));
  auto key = topology::link_key(t.links[0]);
  auto vm_key = topology::link_key(t.links[1]);
  REQUIRE(set(h, t, key, true, {.rate_bps = 10'000'000}));
  REQUIRE(set(h, t, vm_key, true, {.delay_us = 1000}));
  auto dir = h.lab_dir("rl");
  CHECK(h.fakes.relay.state(dir).config.size() == 2);
  t.links.erase(t.links.begin());
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto relay = h.fakes.relay.state(dir);
  CHECK(relay.running);
  CHECK(relay.config.count(key) == 0);
  CHECK(relay.config.count(vm_key) == 1);
  CHECK(fakes::problems(h, "rl", {t}) == "");
  // Without a relay mode (a plain veth) nothing of the relay is touched.
  Harness plain;
  auto p = relay_lab();
  p.nodes.pop_back();
  p.links.pop_back();
  REQUIRE(plain.up(p));
  {
    std::lock_guard lock(plain.fakes.world.mutex);
    CHECK(plain.fakes.world.redirects.empty());
    CHECK(plain.fakes.world.relays.empty());
  }
}
