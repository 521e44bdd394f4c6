// A VM's link to an OVS segment on the fakes: the VM's NIC is a tap of ltb's joined to the peer of
// the bridge port (tc redirects, or the relay), so that both directions shape on host
// interfaces on the kernel path and through the relay; `ltb link down|up`, a switch between the
// two paths, `ltb stop|start` of the VM, and a lab wired by an older ltb (the NIC was the port).
#include "fakes/harness.hpp"
#include "service/links.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Impairments delay(std::uint64_t ms) {
  topology::Impairments i;
  i.delay_us = ms * 1000;
  return i;
}

/// v1 and c1 on one segment; v1's link is delayed 7 ms towards the bridge, 3 ms towards v1.
topology::Topology vm_segment_lab() {
  auto t = fakes::make_lab("vs");
  t.nodes = {fakes::bridge_node("sw"), fakes::vm_node("v1"), fakes::container_node("c1")};
  t.links = {fakes::make_link("v1", "eth1", "sw", "p1"),
             fakes::make_link("c1", "eth1", "sw", "p2")};
  t.links[0].name = "v1-sw";
  t.links[0].name_given = true;
  t.links[0].impair_a = delay(7); // leaving v1
  t.links[0].impair_b = delay(3); // leaving the bridge towards v1
  t.links[0].impair_a_set = t.links[0].impair_b_set = true;
  return t;
}

struct Names {
  std::string key = topology::link_key(vm_segment_lab().links[0]);
  std::string tap = plan::segment_node_veth_name("vs", key, "v1"); // the VM's NIC
  std::string port = plan::host_veth_name("vs", key, "v1");        // the bridge's port
  std::string bridge_side = plan::host_veth_name("vs", key, "sw"); // the port's peer
  std::string bridge = plan::bridge_name("vs", "sw");
  std::string domain = plan::container_name("vs", "v1");
};

struct Service {
  service::Context context;
  service::Caller caller{0, "tester", true, {}};
  service::CancelToken cancel;
  service::NullSink sink;
  service::Session session{context, caller, cancel, sink};
  explicit Service(Harness &h) { context.state_path = h.dir.file("state.db"); }
};

void up_ok(Harness &h, const topology::Topology &t) {
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK(fakes::problems(h, t.name, {t}) == "");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
}

void down_clean(Harness &h, const std::string &lab) {
  auto down = h.down(lab);
  REQUIRE(down);
  CHECK_MESSAGE(down->ok(), fakes::errors_of(*down));
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
}

std::optional<net::Impairment> qdisc(Harness &h, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.qdiscs.find({"", name});
  return it == h.fakes.world.qdiscs.end() ? std::nullopt : std::optional(it->second);
}

std::optional<fakes::Iface> iface(Harness &h, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.ifaces.find({"", name});
  return it == h.fakes.world.ifaces.end() ? std::nullopt : std::optional(it->second);
}

bool joined(Harness &h, const std::string &x, const std::string &y) {
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &r = h.fakes.world.redirects;
  return r.count({x, y}) == 1 && r.count({y, x}) == 1;
}

std::string uuid_of(Harness &h) {
  std::lock_guard lock(h.fakes.world.mutex);
  return h.fakes.world.domains.at(Names{}.domain).uuid;
}

/// The wiring every test expects: v1's NIC is its own tap, the port a veth whose peer is
/// joined to that tap, by redirects unless the relay carries the link.
void check_wired(Harness &h, bool relayed) {
  const Names n;
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &w = h.fakes.world;
  const auto &nics = w.domains.at(n.domain).spec.nics;
  REQUIRE(nics.size() == 2); // management, then the segment
  CHECK(nics[1].kind == "ethernet");
  CHECK(nics[1].source == n.tap);
  CHECK(w.ifaces.at({"", n.tap}).kind == "tap");
  CHECK(w.ifaces.at({"", n.port}).peer == n.bridge_side);
  const auto &ports = w.bridges.at(n.bridge).ports;
  REQUIRE(ports.count(n.port) == 1);
  CHECK(ports.at(n.port).at(plan::k_ovs_owner) == n.key);
  CHECK(ports.count(n.tap) == 0);
  CHECK((w.redirects.count({n.tap, n.bridge_side}) == 1) == !relayed);
  CHECK((w.redirects.count({n.bridge_side, n.tap}) == 1) == !relayed);
}

} // namespace

TEST_CASE("VM on a segment, kernel path: both directions shape on host interfaces") {
  Harness h;
  const Names n;
  auto t = vm_segment_lab();
  up_ok(h, t);
  check_wired(h, false);
  // What v1 sends arrives on its tap and leaves by the port's peer: shaped there; what the
  // bridge sends to v1 leaves by v1's tap.
  REQUIRE(qdisc(h, n.bridge_side));
  CHECK(qdisc(h, n.bridge_side)->delay_us == 7'000);
  REQUIRE(qdisc(h, n.tap));
  CHECK(qdisc(h, n.tap)->delay_us == 3'000);
  CHECK_FALSE(qdisc(h, n.port));
  auto links = h.store->links("vs");
  REQUIRE(links);
  for (const auto &link : *links) {
    CHECK(link.impair_via == "kernel");
  }

  // At run time: one direction, then the cable pulled and plugged back; the VM stays.
  const auto uuid = uuid_of(h);
  Service s(h);
  auto b = h.backends();
  REQUIRE(service::set_link(s.session, b, {"vs", "v1:eth1", {{"delay", "11ms"}}, false}));
  CHECK(qdisc(h, n.bridge_side)->delay_us == 11'000);
  CHECK(qdisc(h, n.tap)->delay_us == 3'000);
  REQUIRE(service::set_link_state(s.session, b, {"vs", "v1-sw", false}));
  CHECK_FALSE(iface(h, n.tap)->up);
  CHECK_FALSE(iface(h, n.bridge_side)->up);
  // `ltb up` would give the file's 7 ms back (the file wins), and only that: nothing is rewired.
  auto pulled = h.plan_up(t);
  REQUIRE(pulled);
  REQUIRE_MESSAGE(pulled->actions.size() == 1, fakes::describe_plan(*pulled));
  CHECK(pulled->actions[0].kind == plan::ActionKind::set_impairment);
  REQUIRE(service::set_link_state(s.session, b, {"vs", "v1-sw", true}));
  CHECK(iface(h, n.tap)->up);
  CHECK(iface(h, n.bridge_side)->up);
  CHECK(uuid_of(h) == uuid);
  CHECK(fakes::problems(h, "vs", {t}) == "");
  down_clean(h, "vs");
}

TEST_CASE("VM on a segment, relay mode: both directions go through the relay") {
  Harness h;
  h.fakes.world.netem = false;
  h.relay_mode = true;
  const Names n;
  auto t = vm_segment_lab();
  up_ok(h, t);
  check_wired(h, true);
  const auto dir = h.lab_dir("vs");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    const auto &w = h.fakes.world;
    REQUIRE(w.relays.count(dir) == 1);
    const auto &entry = w.relays.at(dir).config.at(n.key);
    CHECK(entry.link.a == n.tap); // a is v1 (as the file names it)
    CHECK(entry.link.b == n.bridge_side);
    CHECK(entry.a_to_b.delay_us == 7'000);
    CHECK(entry.b_to_a.delay_us == 3'000);
    CHECK(w.qdiscs.empty()); // nothing on the kernel path
  }

  // Back to nothing in one direction, then both: the link leaves the relay for redirects.
  Service s(h);
  auto b = h.backends();
  REQUIRE(service::set_link(s.session, b, {"vs", "sw:p1", {{"delay", "0ms"}}, false}));
  CHECK(h.fakes.relay.state(dir).config.at(n.key).b_to_a.empty());
  REQUIRE(service::set_link(s.session, b, {"vs", "v1:eth1", {{"delay", "0ms"}}, false}));
  CHECK(h.fakes.relay.state(dir).config.count(n.key) == 0);
  CHECK(joined(h, n.tap, n.bridge_side));
  REQUIRE(service::set_link_state(s.session, b, {"vs", "v1-sw", false}));
  CHECK_FALSE(iface(h, n.tap)->up);
  CHECK_FALSE(iface(h, n.bridge_side)->up);
  REQUIRE(service::set_link_state(s.session, b, {"vs", "v1-sw", true}));
  CHECK(iface(h, n.tap)->up);
  CHECK(fakes::problems(h, "vs", {t}) == "");
  down_clean(h, "vs");
}

TEST_CASE("VM on a segment: a switch between the kernel and the relay rewires it in place") {
  Harness h;
  const Names n;
  auto t = vm_segment_lab();
  up_ok(h, t);
  const auto uuid = uuid_of(h);

  h.relay_mode = true;
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  // The segment's wirings: one per node on it (the VM's port and c1's).
  REQUIRE_MESSAGE(plan->actions.size() == 2, fakes::describe_plan(*plan));
  CHECK(plan->actions[0].kind == plan::ActionKind::wire_links);
  CHECK(plan->actions[1].kind == plan::ActionKind::wire_links);
  up_ok(h, t);
  CHECK(uuid_of(h) == uuid); // the VM is not made again, its tap stays
  check_wired(h, true);
  CHECK_FALSE(qdisc(h, n.tap)); // the kernel's shaping went with the switch
  CHECK_FALSE(qdisc(h, n.bridge_side));
  const auto dir = h.lab_dir("vs");
  CHECK(h.fakes.relay.state(dir).config.at(n.key).a_to_b.delay_us == 7'000);

  h.relay_mode = false;
  up_ok(h, t);
  CHECK(uuid_of(h) == uuid);
  check_wired(h, false);
  CHECK(h.fakes.relay.state(dir).config.empty());
  CHECK(qdisc(h, n.bridge_side)->delay_us == 7'000);
  CHECK(qdisc(h, n.tap)->delay_us == 3'000);
  down_clean(h, "vs");
}

TEST_CASE("VM on a segment: stop and start keep its link as it was") {
  for (bool relay : {false, true}) {
    CAPTURE(relay);
    Harness h;
    h.fakes.world.netem = !relay;
    h.relay_mode = relay;
    const Names n;
    auto t = vm_segment_lab();
    up_ok(h, t);
    auto report = h.lifecycle("vs", {"v1"}, true);
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
    check_wired(h, relay); // the tap is ltb's: it stays while the guest is down
    CHECK(h.plan_up(t)->empty());
    report = h.lifecycle("vs", {"v1"}, false);
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
    check_wired(h, relay);
    if (relay) {
      CHECK(h.fakes.relay.state(h.lab_dir("vs")).config.at(n.key).b_to_a.delay_us == 3'000);
    } else {
      CHECK(qdisc(h, n.tap)->delay_us == 3'000);
      CHECK(qdisc(h, n.bridge_side)->delay_us == 7'000);
    }
    CHECK(fakes::problems(h, "vs", {t}) == "");
    CHECK(h.plan_up(t)->empty());
    down_clean(h, "vs");
  }
}

namespace {

/// Turns the lab into what an older ltb made: v1's NIC the bridge port itself (libvirt's tap),
/// no tap of ltb's, no joined veth, the older hash on the VM and its record, and the bridge's
/// shaping towards v1 on the port.
void make_legacy(Harness &h, const topology::Topology &t) {
  const Names n;
  const auto legacy_hash = plan::vm_config_hash(t, t.nodes[1], true);
  {
    std::lock_guard lock(h.fakes.world.mutex);
    auto &w = h.fakes.world;
    auto &domain = w.domains.at(n.domain);
    domain.spec.nics[1] = {"ovs", n.bridge, domain.spec.nics[1].mac, n.port, ""};
    domain.spec.metadata[plan::k_label_hash] = legacy_hash;
    w.drop_iface("", n.tap);
    w.drop_iface("", n.port); // and its peer
    w.ifaces[{"", n.port}] = {"tap", "", ""};
    w.qdiscs[{"", n.port}] = net::Impairment{.delay_us = 3'000};
  }
  auto nodes = h.store->nodes("vs");
  REQUIRE(nodes);
  for (auto node : *nodes) {
    if (node.name == "v1") {
      node.config_hash = legacy_hash;
      REQUIRE(h.store->put_node(node));
    }
  }
  auto objects = h.store->objects("vs");
  REQUIRE(objects);
  for (const auto &object : *objects) {
    if (object.name == n.tap || object.name == n.bridge_side) {
      REQUIRE(h.store->delete_object(object.id));
    }
  }
  // The older ltb could not apply what v1 sends: its record says nothing was.
  auto links = h.store->links("vs");
  REQUIRE(links);
  for (auto link : *links) {
    if (link.key == n.key) {
      link.impair_a.clear();
      REQUIRE(h.store->put_link_state(link));
    }
  }
}

} // namespace

TEST_CASE("VM on a segment wired by an older ltb: kept by stop and start, made again by up, and "
          "down leaves nothing") {
  const Names n;
  auto t = vm_segment_lab();
  t.links[0].impair_a = {}; // an older ltb refused it
  t.links[0].impair_a_set = false;
  {
    Harness h;
    up_ok(h, t);
    make_legacy(h, t);
    // `ltb link set` says what to do instead of failing on a missing interface.
    Service s(h);
    auto b = h.backends();
    auto set = service::set_link(s.session, b, {"vs", "v1:eth1", {{"delay", "5ms"}}, false});
    REQUIRE_FALSE(set);
    CHECK(set.error().message.find("wired by an older ltb") != std::string::npos);
    CHECK(set.error().help.find("ltb up") != std::string::npos);

    // Stop, then start: libvirt makes the port again, bare; ltb's ids and shaping come back.
    REQUIRE(h.lifecycle("vs", {"v1"}, true)->ok());
    {
      std::lock_guard lock(h.fakes.world.mutex);
      CHECK(h.fakes.world.bridges.at(n.bridge).ports.count(n.port) == 0);
    }
    auto started = h.lifecycle("vs", {"v1"}, false);
    REQUIRE(started);
    REQUIRE_MESSAGE(started->ok(), fakes::errors_of(*started));
    {
      std::lock_guard lock(h.fakes.world.mutex);
      const auto &ports = h.fakes.world.bridges.at(n.bridge).ports;
      REQUIRE(ports.count(n.port) == 1);
      CHECK(ports.at(n.port).at(plan::k_ovs_owner) == n.key);
    }
    REQUIRE(qdisc(h, n.port));
    CHECK(qdisc(h, n.port)->delay_us == 3'000);

    // `ltb up` makes v1 again, saying why, and wires its segment NIC the new way.
    auto plan = h.plan_up(t);
    REQUIRE(plan);
    const auto described = fakes::describe_plan(*plan);
    CHECK_MESSAGE(described.find("segment NICs wired through ltb's taps now") != std::string::npos,
                  described);
    up_ok(h, t);
    check_wired(h, false);
    CHECK(qdisc(h, n.tap)->delay_us == 3'000);
    down_clean(h, "vs");
  }
  {
    // Straight down from the older wiring.
    Harness h;
    up_ok(h, t);
    make_legacy(h, t);
    down_clean(h, "vs");
  }
}
